/*
 * Documentation/bpf/map_devmap.rst, "User space": the two update_devmap()
 * functions, for tx_port (a DEVMAP of ifindexes) and forward_map (a
 * DEVMAP_HASH of struct bpf_devmap_val). Like bpf_map_update_elem(), they
 * return 0, or a negative errno after printing why.
 */
import { devmapVal, type MapHandle, type XdpsimError } from 'xdpsim';

function update(map: MapHandle, ifindex: number, value: number | Uint8Array): number {
  try {
    map.update(ifindex, value, 0);
    return 0;
  } catch (e) {
    const err = e as XdpsimError;
    if (typeof err.errno !== 'number') throw e;
    console.error(`Failed to update devmap_ value: ${err.message}`);
    return -err.errno;
  }
}

/* bpf_map_update_elem(bpf_map__fd(tx_port), &ifindex, &redirect_ifindex, 0) */
export function updateTxPort(txPort: MapHandle, ifindex: number, redirectIfindex: number): number {
  return update(txPort, ifindex, redirectIfindex);
}

/* struct bpf_devmap_val devmap_val = { .ifindex = redirect_ifindex }; bpf_map_update_elem(..., &devmap_val, 0) */
export function updateForwardMap(forwardMap: MapHandle, ifindex: number, redirectIfindex: number, prog: { id: number } | null = null): number {
  return update(forwardMap, ifindex, devmapVal(redirectIfindex, prog));
}
