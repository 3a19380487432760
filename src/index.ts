/*
 * xdpsim's public API: the runtime (control plane), the program-object
 * vocabulary (defineMap, xdp, helpers), uapi constants and errno values.
 */
export { Runtime, Device, type Scenario, type ScenarioContext, type TraceFilter, type RuntimeOptions, type BpfObject, type ProgHandle, type AttachOptions, type Stats, type DeviceStats, type CpuStats } from './runtime.ts';
export { defineMap, xdp, XdpMd, type MapDef, type ProgDef, type XdpSection } from './cpu/program.ts';
export {
  bpfXdpAdjustHead, bpfXdpAdjustTail, bpfXdpAdjustMeta, bpfKtimeGetNs, bpfGetSmpProcessorId,
  bpfMapLookupElem, bpfMapUpdateElem, bpfMapDeleteElem, bpfRedirect, bpfRedirectMap, bpfTracePrintk, XDP_META_MAX,
} from './cpu/helpers.ts';
export { MapHandle } from './maps/handle.ts';
export { MapValue } from './maps/value.ts';
export { devmapVal } from './maps/devmap.ts';
export * from './shared/uapi.ts';
export * from './shared/errno.ts';
export { DROP_REASONS, type DropReason } from './shared/counters.ts';
export { TP_NAMES, type TraceEvent, type TracepointName } from './shared/trace.ts';
export { XDP_FRAME_SIZE, SKB_SHARED_INFO_SIZE } from './shared/frame-pool.ts';
export { buildUdp4, checkUdp4, flowHash, type Udp4Spec } from './driver/packet.ts';
export { VETH_RING_SIZE } from './driver/registry.ts';
export type { InjectOptions, InjectResult } from './driver/source.ts';
export type { TapPacket } from './shared/tap.ts';
export { BpfTestRun, type TestRunOptions, type TestRunResult } from './bpf/load.ts';
