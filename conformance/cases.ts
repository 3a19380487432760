/*
 * The conformance corpus: each case names a program object of
 * conformance/corpus/ (compiled from its C file), a topology of veth pairs,
 * which program each device runs, the map entries user space writes, and the
 * frames that arrive on the ingress device. conformance/kernel.ts runs a case
 * on the real kernel (veth pairs in a network namespace, frames sent on the
 * ingress device's peer), conformance/sim.ts in xdpsim (frames injected into
 * the ingress device's RX queue); both produce the same normalised result
 * (conformance/result.ts), which is compared with the other half's and with
 * the kernel's recorded one (conformance/expected/NAME.json).
 *
 * Devices are named, never numbered: ifindexes differ between the kernel and
 * xdpsim, so `{ dev: 'out0' }` in a map key or value is translated to the
 * device's ifindex on each side, and ifindexes in the results are translated
 * back to names. Programs in devmap values are named the same way.
 *
 * Frames go one at a time, each in its own NAPI poll on both sides (the
 * kernel half waits until the ingress program has counted the frame), so
 * the number of xdp_devmap_xmit and xdp_bulk_tx records is deterministic.
 */
import {
  BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, XDP_DROP, XDP_PASS,
} from '../src/index.ts';

/** A u32: a number, or the ifindex of the named device. */
export type Scalar = number | { dev: string };

export interface VethSpec {
  name: string;
  peer: string;
  /** MTU of `name` (default 1500) */
  mtu?: number;
  /** MTU of `peer` (default 1500) */
  peerMtu?: number;
  /** leave `name` down (its peer then has no carrier in the kernel) */
  down?: boolean;
  /** leave `peer` down */
  peerDown?: boolean;
}

export interface MapUpdate {
  map: string;
  key: Scalar;
  /** devmaps: the device (and an xdp/devmap program by name); other maps: u32 words */
  value: { dev: string; prog?: string } | Scalar[];
}

export interface FrameSpec {
  /** frame length without FCS */
  size: number;
  /** UDP source port (default 9); several corpus programs choose what to do by it */
  srcPort?: number;
}

export interface CaseSpec {
  name: string;
  /** what the case checks, one line */
  title: string;
  /** corpus file without .c */
  source: string;
  veths: VethSpec[];
  /** device -> program name (native XDP) */
  attach: Record<string, string>;
  /** cfg[i] = value (the u32 ARRAY named cfg) */
  cfg?: Record<number, Scalar>;
  updates?: MapUpdate[];
  /** the device whose XDP program receives the frames */
  ingress: string;
  frames: FrameSpec[];
  /** maps whose contents are compared after the run */
  dump: string[];
  /** maps whose keys are ifindexes (shown as device names, also as map_index in the records) */
  ifindexKeys?: string[];
  /**
   * Set when xdpsim is known to differ from the kernel here: the reason.
   * The suite then reports the case as a known difference (with its diff)
   * instead of failing; it fails if the difference has gone.
   */
  knownDifference?: string;
}

const IN = { name: 'in0', peer: 'in0p' };
const OUT0 = { name: 'out0', peer: 'out0p' };
const OUT1 = { name: 'out1', peer: 'out1p' };
const OUT2 = { name: 'out2', peer: 'out2p' };
const THREE = [{ size: 60 }, { size: 200 }, { size: 1514 }];
const ports = (size: number, ...p: number[]): FrameSpec[] => p.map((srcPort) => ({ size, srcPort }));
const dev = (d: string): { dev: string } => ({ dev: d });
const REDIRECT_MAPS = ['verdicts', 'peer_verdicts', 'dm_verdicts', 'tx', 'txh'];

/* redirect.c's cfg words */
const MODE_TX = 0, MODE_TXH = 1, MODE_IFINDEX = 2;
const cfg = (mode: number, key: number, flags = 0, extra: Record<number, Scalar> = {}): Record<number, Scalar> => ({
  0: mode, 1: key, 2: flags % 2 ** 32, 3: Math.floor(flags / 2 ** 32), ...extra,
});

export const CASES: CaseSpec[] = [
  {
    name: 'doc-forward-map',
    title: 'map_devmap.rst: DEVMAP_HASH forward_map keyed by the ingress ifindex, bpf_redirect_map(..., 0)',
    source: 'doc_forward_map',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redirect_map_func', out0p: 'xdp_peer' },
    updates: [{ map: 'forward_map', key: dev('in0'), value: dev('out0') }],
    ingress: 'in0', frames: THREE,
    dump: ['verdicts', 'peer_verdicts', 'forward_map'], ifindexKeys: ['forward_map'],
  },
  {
    name: 'doc-forward-map-miss',
    title: 'map_devmap.rst forward_map with no entry for the ingress: flags 0, so XDP_ABORTED',
    source: 'doc_forward_map',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redirect_map_func', out0p: 'xdp_peer' },
    updates: [{ map: 'forward_map', key: dev('out0'), value: dev('in0') }],
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }],
    dump: ['verdicts', 'peer_verdicts', 'forward_map'], ifindexKeys: ['forward_map'],
  },
  {
    name: 'doc-broadcast',
    title: 'map_devmap.rst: broadcast through DEVMAP tx_port (value an ifindex) with BPF_F_EXCLUDE_INGRESS',
    source: 'doc_broadcast',
    veths: [IN, OUT0, OUT1],
    attach: { in0: 'xdp_redirect_map_func', in0p: 'xdp_peer', out0p: 'xdp_peer', out1p: 'xdp_peer' },
    updates: [
      { map: 'tx_port', key: 0, value: dev('out0') },
      { map: 'tx_port', key: 1, value: dev('out1') },
      { map: 'tx_port', key: 2, value: dev('in0') },
    ],
    ingress: 'in0', frames: THREE,
    dump: ['verdicts', 'peer_verdicts', 'tx_port'],
  },
  {
    name: 'broadcast',
    title: 'BPF_F_BROADCAST through a DEVMAP that holds the ingress device too: every entry gets a copy',
    source: 'redirect',
    veths: [IN, OUT0, OUT1],
    attach: { in0: 'xdp_redir', in0p: 'xdp_peer', out0p: 'xdp_peer', out1p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 0, BPF_F_BROADCAST),
    updates: [
      { map: 'tx', key: 0, value: dev('out0') },
      { map: 'tx', key: 1, value: dev('out1') },
      { map: 'tx', key: 2, value: dev('in0') },
    ],
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'broadcast-exclude-ingress',
    title: 'BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS through a DEVMAP: the ingress entry is skipped',
    source: 'redirect',
    veths: [IN, OUT0, OUT1],
    attach: { in0: 'xdp_redir', in0p: 'xdp_peer', out0p: 'xdp_peer', out1p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS),
    updates: [
      { map: 'tx', key: 0, value: dev('out0') },
      { map: 'tx', key: 1, value: dev('out1') },
      { map: 'tx', key: 2, value: dev('in0') },
    ],
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'broadcast-hash-exclude-ingress',
    title: 'BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS through a DEVMAP_HASH, with a key that is not in it',
    source: 'redirect',
    veths: [IN, OUT0, OUT1],
    attach: { in0: 'xdp_redir', in0p: 'xdp_peer', out0p: 'xdp_peer', out1p: 'xdp_peer' },
    cfg: cfg(MODE_TXH, 99, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS),
    updates: [
      { map: 'txh', key: 10, value: dev('out0') },
      { map: 'txh', key: 20, value: dev('in0') },
      { map: 'txh', key: 30, value: dev('out1') },
    ],
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'broadcast-skips-unusable',
    title: 'a broadcast skips, silently, an entry that is down and one whose veth peer has no program',
    source: 'redirect',
    veths: [IN, OUT0, { ...OUT1, down: true }, OUT2],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer', out1p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 0, BPF_F_BROADCAST),
    updates: [
      { map: 'tx', key: 0, value: dev('out0') },
      { map: 'tx', key: 1, value: dev('out1') },
      { map: 'tx', key: 2, value: dev('out2') },
    ],
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'broadcast-mtu',
    title: 'a broadcast skips, silently, an entry whose MTU the frame exceeds',
    source: 'redirect',
    veths: [IN, OUT0, { ...OUT1, mtu: 500 }],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer', out1p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS),
    updates: [
      { map: 'tx', key: 0, value: dev('out0') },
      { map: 'tx', key: 1, value: dev('out1') },
    ],
    ingress: 'in0', frames: [{ size: 518 }, { size: 519 }, { size: 1000 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'broadcast-only-ingress',
    title: 'BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS when the ingress is the only entry: XDP_REDIRECT to nowhere',
    source: 'redirect',
    veths: [IN],
    attach: { in0: 'xdp_redir', in0p: 'xdp_peer' },
    cfg: cfg(MODE_TXH, 4, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS),
    updates: [{ map: 'txh', key: 4, value: dev('in0') }],
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'broadcast-devmap-prog-mark',
    title: 'a broadcast whose entries carry a devmap program that writes into the frame: each copy is its own',
    source: 'redirect',
    veths: [IN, OUT0, OUT1],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer', out1p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS, { 5: dev('out1'), 6: dev('in0') }),
    updates: [
      { map: 'tx', key: 0, value: { dev: 'out0', prog: 'dm_mark' } },
      { map: 'tx', key: 1, value: { dev: 'out1', prog: 'dm_mark' } },
    ],
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'broadcast-empty',
    title: 'BPF_F_BROADCAST on an empty DEVMAP: XDP_REDIRECT, and the frame goes nowhere',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1, BPF_F_BROADCAST),
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'devmap-redirect',
    title: 'bpf_redirect_map through a DEVMAP to a veth whose peer passes',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1),
    updates: [{ map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'devmap-redirect-to-ingress',
    title: 'bpf_redirect_map back out of the ingress device (to its peer, which passes)',
    source: 'redirect',
    veths: [IN],
    attach: { in0: 'xdp_redir', in0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 0),
    updates: [{ map: 'tx', key: 0, value: dev('in0') }],
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'exclude-ingress-unicast',
    title: 'BPF_F_EXCLUDE_INGRESS without BPF_F_BROADCAST: an ordinary redirect, here to the ingress device itself',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', in0p: 'xdp_peer', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 0, BPF_F_EXCLUDE_INGRESS),
    updates: [{ map: 'tx', key: 0, value: dev('in0') }, { map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'devmap-hash-redirect',
    title: 'bpf_redirect_map through a DEVMAP_HASH (keys are not indexes)',
    source: 'redirect',
    veths: [IN, OUT0, OUT1],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer', out1p: 'xdp_peer' },
    cfg: cfg(MODE_TXH, 1000),
    updates: [
      { map: 'txh', key: 1000, value: dev('out0') },
      { map: 'txh', key: 7, value: dev('out1') },
      { map: 'txh', key: 15, value: dev('out1') },
    ],
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'miss-fallback-devmap',
    title: 'DEVMAP lookup miss: the low two bits of flags are the verdict (ABORTED, DROP, PASS, TX)',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', in0p: 'xdp_peer', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 5, 0, { 7: 1 }),
    updates: [{ map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: ports(64, 1000, 1001, 1002, 1003), dump: REDIRECT_MAPS,
  },
  {
    name: 'miss-fallback-devmap-hash',
    title: 'DEVMAP_HASH lookup miss: the low two bits of flags are the verdict (ABORTED, DROP, PASS, TX)',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', in0p: 'xdp_peer', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TXH, 5, 0, { 7: 1 }),
    updates: [{ map: 'txh', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: ports(64, 1000, 1001, 1002, 1003), dump: REDIRECT_MAPS,
  },
  {
    name: 'miss-key-past-max',
    title: 'DEVMAP key past max_entries with fallback XDP_PASS',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 100, XDP_PASS),
    updates: [{ map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'unknown-flag-bit',
    title: 'an unknown flag bit (1 << 5) with a key that is present: XDP_ABORTED',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1, 1 << 5),
    updates: [{ map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'unknown-flag-high-bit',
    title: 'an unknown flag bit (1 << 32) wins over the fallback action of a miss (XDP_PASS): XDP_ABORTED',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TXH, 5, 2 ** 32 + XDP_PASS),
    ingress: 'in0', frames: [{ size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'mtu-target',
    title: 'frames longer than the target\'s MTU + 18: -EMSGSIZE at enqueue (target MTU 500: 518 goes, 519 does not)',
    source: 'redirect',
    veths: [IN, { ...OUT0, mtu: 500 }],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1),
    updates: [{ map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: [{ size: 518 }, { size: 519 }, { size: 1000 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'mtu-peer',
    title: 'frames longer than the veth peer\'s MTU + 18: taken at enqueue, not sent by veth\'s ndo_xdp_xmit',
    source: 'redirect',
    veths: [IN, { ...OUT0, peerMtu: 500 }],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1),
    updates: [{ map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: [{ size: 518 }, { size: 519 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'redirect-after-grow',
    title: 'bpf_xdp_adjust_tail(+16) before the redirect: the grown length is what the target\'s MTU check sees (1518 goes, 1519 does not)',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1, 0, { 7: 2 }),
    updates: [{ map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: [{ size: 1000 }, { size: 1502 }, { size: 1503 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'target-down',
    title: 'bpf_redirect_map to a device that is down: -ENETDOWN',
    source: 'redirect',
    veths: [IN, { ...OUT0, down: true }],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1),
    updates: [{ map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'peer-no-prog',
    title: 'bpf_redirect_map to a veth whose peer has no XDP program: -EOPNOTSUPP',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir' },
    cfg: cfg(MODE_TX, 1),
    updates: [{ map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'peer-down',
    title: 'bpf_redirect_map to a veth whose peer (with a program) is down: veth\'s ndo_xdp_xmit fails with -ENXIO',
    source: 'redirect',
    veths: [IN, { ...OUT0, peerDown: true }],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1),
    updates: [{ map: 'tx', key: 1, value: dev('out0') }],
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'bpf-redirect',
    title: 'bpf_redirect by ifindex (map id INT_MAX in the records; through the devmap bulk queue)',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_IFINDEX, 0, 0, { 4: dev('out0') }),
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'bpf-redirect-flags',
    title: 'bpf_redirect with a flag: XDP_ABORTED',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_IFINDEX, 0, 1, { 4: dev('out0') }),
    ingress: 'in0', frames: [{ size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'bpf-redirect-no-device',
    title: 'bpf_redirect to an ifindex with no device: -EINVAL, to_ifindex the index',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_IFINDEX, 0, 0, { 4: 9999 }),
    ingress: 'in0', frames: [{ size: 64 }, { size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'bpf-redirect-lo',
    title: 'bpf_redirect to lo (ifindex 1), which has no ndo_xdp_xmit: -EOPNOTSUPP',
    source: 'redirect',
    veths: [IN],
    attach: { in0: 'xdp_redir' },
    cfg: cfg(MODE_IFINDEX, 0, 0, { 4: 1 }),
    ingress: 'in0', frames: [{ size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'bpf-redirect-down',
    title: 'bpf_redirect to a device that is down: -ENETDOWN',
    source: 'redirect',
    veths: [IN, { ...OUT0, down: true }],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_IFINDEX, 0, 0, { 4: dev('out0') }),
    ingress: 'in0', frames: [{ size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'devmap-prog-drop-egress',
    title: 'a broadcast whose entries carry a devmap program that drops by egress_ifindex',
    source: 'redirect',
    veths: [IN, OUT0, OUT1],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer', out1p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS, { 5: dev('out1') }),
    updates: [
      { map: 'tx', key: 0, value: { dev: 'out0', prog: 'dm_drop_egress' } },
      { map: 'tx', key: 1, value: { dev: 'out1', prog: 'dm_drop_egress' } },
    ],
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'devmap-prog-mark',
    title: 'a devmap program that writes into the frame by egress_ifindex and ingress_ifindex',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TXH, 3, 0, { 5: dev('out0'), 6: dev('in0') }),
    updates: [{ map: 'txh', key: 3, value: { dev: 'out0', prog: 'dm_mark' } }],
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'devmap-prog-verdicts',
    title: 'every verdict of a devmap program: PASS sends, DROP drops, the rest are exceptions on the egress device',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1),
    updates: [{ map: 'tx', key: 1, value: { dev: 'out0', prog: 'dm_sport_verdict' } }],
    ingress: 'in0', frames: ports(64, 1000, 1001, 1002, 1003, 1004, 1007), dump: REDIRECT_MAPS,
  },
  {
    name: 'devmap-prog-trim',
    title: 'a devmap program that shrinks the frame (bpf_xdp_adjust_tail -4): the peer receives the shorter frame',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1),
    updates: [{ map: 'tx', key: 1, value: { dev: 'out0', prog: 'dm_trim' } }],
    ingress: 'in0', frames: THREE, dump: REDIRECT_MAPS,
  },
  {
    name: 'devmap-prog-push-peer-mtu',
    title: 'a devmap program that pushes 4 bytes: veth\'s ndo_xdp_xmit checks the new length against its peer\'s MTU (500)',
    source: 'redirect',
    veths: [IN, { ...OUT0, peerMtu: 500 }],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1),
    updates: [{ map: 'tx', key: 1, value: { dev: 'out0', prog: 'dm_push4' } }],
    ingress: 'in0', frames: [{ size: 514 }, { size: 515 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'devmap-update-plain-prog',
    title: 'a devmap entry with a program that is not SEC("xdp/devmap"): the update fails with EINVAL',
    source: 'redirect',
    veths: [IN, OUT0],
    attach: { in0: 'xdp_redir', out0p: 'xdp_peer' },
    cfg: cfg(MODE_TX, 1, XDP_DROP),
    updates: [{ map: 'tx', key: 1, value: { dev: 'out0', prog: 'xdp_peer' } }],
    ingress: 'in0', frames: [{ size: 64 }], dump: REDIRECT_MAPS,
  },
  {
    name: 'verdicts',
    title: 'every XDP return value: ABORTED, DROP, PASS, TX, REDIRECT with no target (-EBADRQC), invalid 7',
    source: 'verdicts',
    veths: [IN],
    attach: { in0: 'xdp_verdict', in0p: 'xdp_peer' },
    ingress: 'in0', frames: ports(64, 1000, 1001, 1002, 1003, 1004, 1007),
    dump: ['verdicts', 'peer_verdicts'],
  },
  {
    name: 'tx-peer-no-prog',
    title: 'XDP_TX on a veth whose peer has no program: veth\'s xmit fails with -ENXIO (xdp_bulk_tx)',
    source: 'verdicts',
    veths: [IN],
    attach: { in0: 'xdp_verdict' },
    ingress: 'in0', frames: ports(64, 1003, 1003),
    dump: ['verdicts', 'peer_verdicts'],
  },
  {
    name: 'adjust-head',
    title: 'bpf_xdp_adjust_head at its bounds: 216 bytes of headroom, 14 bytes must remain; push a header',
    source: 'adjust',
    veths: [IN],
    attach: { in0: 'xdp_adjust' },
    ingress: 'in0', frames: ports(64, 1000, 1001, 1002, 1003, 1004, 1005),
    dump: ['verdicts', 'results'],
  },
  {
    name: 'adjust-tail',
    title: 'bpf_xdp_adjust_tail: shrink to 14 bytes and no further; grow a 1514-byte frame to the end of its page',
    source: 'adjust',
    veths: [IN],
    attach: { in0: 'xdp_adjust' },
    ingress: 'in0', frames: [...ports(64, 1006, 1007, 1008), ...ports(1514, 1009, 1010, 1011)],
    dump: ['verdicts', 'results'],
  },
  {
    name: 'adjust-meta',
    title: 'bpf_xdp_adjust_meta: 4-byte multiples (-EACCES), not below the xdp_frame (-EINVAL), metadata takes headroom',
    source: 'adjust',
    veths: [IN],
    attach: { in0: 'xdp_adjust' },
    ingress: 'in0', frames: ports(64, 1012, 1013, 1014, 1015),
    dump: ['verdicts', 'results'],
  },
  {
    name: 'past-data-end',
    title: 'a program that reads past data_end does not load (the verifier refuses it)',
    source: 'past_data_end',
    veths: [IN],
    attach: { in0: 'xdp_past_end' },
    ingress: 'in0', frames: [{ size: 64 }],
    dump: ['verdicts'],
    knownDifference: 'xdpsim has no verifier: the kernel refuses to load a program whose packet access is not ' +
      'proven to lie before data_end (EACCES); xdpsim\'s translated program checks each access at run time ' +
      'against the frame\'s real end, so it loads and runs (this read is inside the 64-byte frame; one past ' +
      'the real end would be an exception, XDP_ABORTED)',
  },
];

/** Every device of a case, in order: each veth, then its peer. */
export function caseDevices(c: CaseSpec): string[] {
  return c.veths.flatMap((v) => [v.name, v.peer]);
}

/** The peer of the ingress device: where the kernel half sends the frames. */
export function ingressPeer(c: CaseSpec): string {
  const v = c.veths.find((x) => x.name === c.ingress || x.peer === c.ingress);
  if (!v) throw new Error(`case ${c.name}: ingress ${c.ingress} is not a veth of the case`);
  return v.name === c.ingress ? v.peer : v.name;
}

/** A key as the case names it: the number, or the device's name. */
export const keyLabel = (k: Scalar): string => (typeof k === 'number' ? `${k}` : k.dev);
