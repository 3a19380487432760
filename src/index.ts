/*
 * xdpsim's public API: the runtime (control plane), the program-object
 * vocabulary (defineMap, xdp, helpers), uapi constants and errno values.
 */
export { Runtime, Device, XdpSocket, type XskSocketOptions, type Scenario, type ScenarioContext, type TraceFilter, type RuntimeOptions, type BpfObject, type ProgHandle, type AttachOptions, type Stats, type DeviceStats, type CpuStats } from './runtime.ts';
export { defineMap, xdp, XdpMd, type MapDef, type ProgDef, type XdpSection } from './cpu/program.ts';
export {
  bpfXdpAdjustHead, bpfXdpAdjustTail, bpfXdpAdjustMeta, bpfKtimeGetNs, bpfGetSmpProcessorId,
  bpfMapLookupElem, bpfMapUpdateElem, bpfMapDeleteElem, bpfRedirect, bpfRedirectMap, bpfTracePrintk, XDP_META_MAX,
} from './cpu/helpers.ts';
export { MapHandle } from './maps/handle.ts';
export { MapValue } from './maps/value.ts';
export { devmapVal } from './maps/devmap.ts';
export { cpumapVal, CPU_MAP_BULK_SIZE, CPUMAP_BATCH, CPUMAP_QSIZE_MAX } from './maps/cpumap.ts';
export * from './shared/uapi.ts';
export * from './shared/errno.ts';
export { DROP_REASONS, type DropReason } from './shared/counters.ts';
export { TP_NAMES, type TraceEvent, type TracepointName } from './shared/trace.ts';
export { XDP_FRAME_SIZE, SKB_SHARED_INFO_SIZE } from './shared/frame-pool.ts';
export { buildUdp4, checkUdp4, flowHash, type Udp4Spec } from './driver/packet.ts';
export { VETH_RING_SIZE } from './driver/registry.ts';
export type { InjectOptions, InjectResult } from './driver/source.ts';
export type { TapPacket } from './shared/tap.ts';
export { Umem, type UmemOptions, type UmemShared, XDP_UMEM_MIN_CHUNK_SIZE, XSK_UMEM__DEFAULT_FRAME_SIZE } from './xsk/umem.ts';
export { XskUserRing } from './xsk/ring.ts';
export {
  XdpSocketView, XDP_COPY, XDP_ZEROCOPY, XDP_SHARED_UMEM, XDP_USE_NEED_WAKEUP, XDP_USE_SG, XSK_RING_DEFAULT, XSK_TX_BATCH_SIZE,
  type XskShared, type XdpStatistics,
} from './xsk/socket.ts';
export { BpfTestRun, type TestRunOptions, type TestRunResult } from './bpf/load.ts';
