/*
 * Counts packets and bytes per CPU (a PERCPU_ARRAY, as xdp-tools'
 * xdp_stats does) and returns the verdict stored in `config[0]`
 * (XDP_PASS unless user space sets another).
 */
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, XDP_PASS, bpfMapLookupElem, defineMap, xdp } from 'xdpsim';

export const stats = defineMap({ type: BPF_MAP_TYPE_PERCPU_ARRAY, keySize: 4, valueSize: 16, maxEntries: 1 });
export const config = defineMap({ type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });

export const xdp_count = xdp((ctx) => {
  const s = bpfMapLookupElem(stats, 0);
  if (s === null) return XDP_PASS;
  s.addU64(0, 1);
  s.addU64(8, ctx.data_end - ctx.data);
  const c = bpfMapLookupElem(config, 0);
  return c === null ? XDP_PASS : c.getU32(0) || XDP_PASS;
});
