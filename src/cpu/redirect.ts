/*
 * The XDP_REDIRECT seam: xdp_do_redirect() and the per-CPU
 * bpf_redirect_info. Redirect targets (DEVMAP, DEVMAP_HASH, CPUMAP, XSKMAP,
 * bpf_redirect) are not modelled yet: until they are, xdpDoRedirect() fails
 * with -EOPNOTSUPP and the driver drops the frame with the XDP_REDIRECT
 * reason, the way a driver drops a frame whose redirect failed.
 *
 * Per-CPU state: one RedirectInfo per CPU worker, touched only by it.
 */
import { EOPNOTSUPP } from '../shared/errno.ts';

export class RedirectInfo {
  tgtIndex = 0;
  flags = 0;
  mapId = 0;
  mapType = 0;
  /** forget the target (xdp_do_redirect reads and clears it) */
  clear(): void {
    this.tgtIndex = 0;
    this.flags = 0;
    this.mapId = 0;
    this.mapType = 0;
  }
}

/** xdp_do_redirect(): 0 when the frame was queued, or a negative errno (the caller drops it). */
export function xdpDoRedirect(ri: RedirectInfo, _ingress: number, _fd: number, _progId: number): number {
  ri.clear();
  return -EOPNOTSUPP;
}

/** The redirect half of xdp_do_flush(): nothing is queued until redirect targets exist. */
export function redirectFlush(): void {}
