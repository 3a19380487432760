/*
 * The programs of `xdpsim bench`, after xdp-tools' xdp-bench
 * (xdp_basic.bpf.c, xdp_redirect_basic.bpf.c, xdp_redirect_devmap.bpf.c,
 * xdp_redirect_devmap_multi.bpf.c): one program per action and packet
 * operation, so each stays small and monomorphic.
 *
 * Packet operations (xdp-bench --packet-operation):
 *   no-touch    return the verdict without reading the packet
 *   read-data   read the Ethernet protocol field
 *   parse-ip    parse Ethernet and the IPv4/IPv6 header (source address)
 *   swap-macs   swap the Ethernet source and destination addresses
 *
 * cfg[0] is the egress ifindex of `redirect` (xdp-bench keeps it in
 * .rodata: a constant per load; here one array lookup per frame).
 */
import {
  BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_XSKMAP,
  XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, bpfMapLookupElem, bpfRedirect, bpfRedirectMap, defineMap, xdp,
  type XdpMd,
} from 'xdpsim';

export const cfg = defineMap({ type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
export const tx_port = defineMap({ type: BPF_MAP_TYPE_DEVMAP, keySize: 4, valueSize: 4, maxEntries: 1 });
export const forward_map = defineMap({ type: BPF_MAP_TYPE_DEVMAP_HASH, keySize: 4, valueSize: 4, maxEntries: 8 });
export const cpu_map = defineMap({ type: BPF_MAP_TYPE_CPUMAP, keySize: 4, valueSize: 8, maxEntries: 64 });
export const cpus_count = defineMap({ type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
export const xsks_map = defineMap({ type: BPF_MAP_TYPE_XSKMAP, keySize: 4, valueSize: 4, maxEntries: 64 });

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;

/* read-data: the EtherType; the verdict only if the frame has an Ethernet header */
function readData(ctx: XdpMd): boolean {
  if (ctx.data + 14 > ctx.data_end) return false;
  return ctx.dv.getUint16(ctx.data + 12, false) !== 0;
}

/* parse-ip: Ethernet, then IPv4 or IPv6; touches the source address */
function parseIp(ctx: XdpMd): boolean {
  const d = ctx.data;
  if (d + 14 > ctx.data_end) return false;
  const proto = ctx.dv.getUint16(d + 12, false);
  if (proto === ETH_P_IP) {
    if (d + 34 > ctx.data_end) return false;
    return ctx.dv.getUint32(d + 26, false) !== 0xffffffff;
  }
  if (proto === ETH_P_IPV6) {
    if (d + 54 > ctx.data_end) return false;
    return ctx.dv.getUint32(d + 22, false) !== 0xffffffff;
  }
  return true;
}

/* swap-macs: 6 bytes each way, as the kernel's swap_src_dst_mac() */
function swapMacs(ctx: XdpMd): boolean {
  const d = ctx.data;
  if (d + 14 > ctx.data_end) return false;
  const dv = ctx.dv;
  const a0 = dv.getUint32(d, false);
  const a1 = dv.getUint16(d + 4, false);
  dv.setUint32(d, dv.getUint32(d + 6, false), false);
  dv.setUint16(d + 4, dv.getUint16(d + 10, false), false);
  dv.setUint32(d + 6, a0, false);
  dv.setUint16(d + 10, a1, false);
  return true;
}

export const bench_drop = xdp(() => XDP_DROP);
export const bench_drop_read = xdp((ctx) => (readData(ctx) ? XDP_DROP : XDP_ABORTED));
export const bench_drop_parse = xdp((ctx) => (parseIp(ctx) ? XDP_DROP : XDP_ABORTED));
export const bench_drop_swap = xdp((ctx) => (swapMacs(ctx) ? XDP_DROP : XDP_ABORTED));

export const bench_pass = xdp(() => XDP_PASS);
export const bench_pass_read = xdp((ctx) => (readData(ctx) ? XDP_PASS : XDP_ABORTED));
export const bench_pass_parse = xdp((ctx) => (parseIp(ctx) ? XDP_PASS : XDP_ABORTED));
export const bench_pass_swap = xdp((ctx) => (swapMacs(ctx) ? XDP_PASS : XDP_ABORTED));

export const bench_tx = xdp(() => XDP_TX);
export const bench_tx_read = xdp((ctx) => (readData(ctx) ? XDP_TX : XDP_ABORTED));
export const bench_tx_parse = xdp((ctx) => (parseIp(ctx) ? XDP_TX : XDP_ABORTED));
export const bench_tx_swap = xdp((ctx) => (swapMacs(ctx) ? XDP_TX : XDP_ABORTED));

/* redirect: bpf_redirect() to cfg[0] */
export const bench_redirect = xdp(() => bpfRedirect(bpfMapLookupElem(cfg, 0)!.getU32(0), 0));
export const bench_redirect_swap = xdp((ctx) => (swapMacs(ctx) ? bpfRedirect(bpfMapLookupElem(cfg, 0)!.getU32(0), 0) : XDP_ABORTED));

/* redirect-map: the one entry of a DEVMAP */
export const bench_redirect_map = xdp(() => bpfRedirectMap(tx_port, 0, 0));
export const bench_redirect_map_swap = xdp((ctx) => (swapMacs(ctx) ? bpfRedirectMap(tx_port, 0, 0) : XDP_ABORTED));

/* redirect-multi: broadcast to every device of a DEVMAP_HASH but the ingress one */
export const bench_redirect_multi = xdp(() => bpfRedirectMap(forward_map, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS));

/*
 * redirect-cpu: round robin over the CPUs (xdp-bench's cpumap program with
 * its per-CPU iterator: each CPU's module instance has its own)
 */
let cpuIterator = 0;
export const bench_redirect_cpu = xdp(() => {
  const n = bpfMapLookupElem(cpus_count, 0)!.getU32(0);
  const cpu = cpuIterator++ % n;
  return bpfRedirectMap(cpu_map, cpu, 0);
});
/* --remote-action: the cpumap program on the remote CPU */
export const bench_cpumap_drop = xdp.cpumap(() => XDP_DROP);
export const bench_cpumap_pass = xdp.cpumap(() => XDP_PASS);

/* redirect-xsk: to the AF_XDP socket of the frame's queue (xdpsock's program) */
export const bench_redirect_xsk = xdp((ctx) => bpfRedirectMap(xsks_map, ctx.rx_queue_index, XDP_PASS));

/* the egress side: the target's peer drops what it receives */
export const bench_sink_drop = xdp(() => XDP_DROP);
