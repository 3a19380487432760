/*
 * uapi constants, with the kernel's names and values: include/uapi/linux/bpf.h,
 * include/uapi/linux/if_link.h, include/uapi/linux/netdev.h, include/net/xdp.h.
 * Pure constants: safe on every thread.
 */

/* enum xdp_action */
export const XDP_ABORTED = 0;
export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_TX = 3;
export const XDP_REDIRECT = 4;
export const XDP_ACTION_NAMES = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'] as const;
export function xdpActionName(act: number): string {
  return XDP_ACTION_NAMES[act] ?? `XDP_UNKNOWN(${act})`;
}

/* enum bpf_map_type */
export const BPF_MAP_TYPE_UNSPEC = 0;
export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_ARRAY = 2;
export const BPF_MAP_TYPE_PROG_ARRAY = 3;
export const BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4;
export const BPF_MAP_TYPE_PERCPU_HASH = 5;
export const BPF_MAP_TYPE_PERCPU_ARRAY = 6;
export const BPF_MAP_TYPE_STACK_TRACE = 7;
export const BPF_MAP_TYPE_CGROUP_ARRAY = 8;
export const BPF_MAP_TYPE_LRU_HASH = 9;
export const BPF_MAP_TYPE_LRU_PERCPU_HASH = 10;
export const BPF_MAP_TYPE_LPM_TRIE = 11;
export const BPF_MAP_TYPE_ARRAY_OF_MAPS = 12;
export const BPF_MAP_TYPE_HASH_OF_MAPS = 13;
export const BPF_MAP_TYPE_DEVMAP = 14;
export const BPF_MAP_TYPE_SOCKMAP = 15;
export const BPF_MAP_TYPE_CPUMAP = 16;
export const BPF_MAP_TYPE_XSKMAP = 17;
export const BPF_MAP_TYPE_SOCKHASH = 18;
export const BPF_MAP_TYPE_CGROUP_STORAGE = 19;
export const BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20;
export const BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE = 21;
export const BPF_MAP_TYPE_QUEUE = 22;
export const BPF_MAP_TYPE_STACK = 23;
export const BPF_MAP_TYPE_SK_STORAGE = 24;
export const BPF_MAP_TYPE_DEVMAP_HASH = 25;
export const BPF_MAP_TYPE_STRUCT_OPS = 26;
export const BPF_MAP_TYPE_RINGBUF = 27;
export const BPF_MAP_TYPE_INODE_STORAGE = 28;
export const BPF_MAP_TYPE_TASK_STORAGE = 29;
export const BPF_MAP_TYPE_BLOOM_FILTER = 30;
export const BPF_MAP_TYPE_USER_RINGBUF = 31;
export const BPF_MAP_TYPE_CGRP_STORAGE = 32;
export const BPF_MAP_TYPE_ARENA = 33;

/* map update flags */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;

/* map_flags at creation */
export const BPF_F_NO_PREALLOC = 1 << 0;
export const BPF_F_NO_COMMON_LRU = 1 << 1;
export const BPF_F_NUMA_NODE = 1 << 2;
export const BPF_F_RDONLY = 1 << 3;
export const BPF_F_WRONLY = 1 << 4;
export const BPF_F_ZERO_SEED = 1 << 6;
export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_F_WRONLY_PROG = 1 << 8;
export const BPF_F_MMAPABLE = 1 << 10;

/* bpf_redirect_map() flags */
export const BPF_F_INGRESS = 1 << 0;
export const BPF_F_BROADCAST = 1 << 3;
export const BPF_F_EXCLUDE_INGRESS = 1 << 4;

/* XDP attach flags (if_link.h) */
export const XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0;
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;
export const XDP_FLAGS_HW_MODE = 1 << 3;
export const XDP_FLAGS_REPLACE = 1 << 4;

/* enum netdev_xdp_act (netdev.h): a device's xdp_features */
export const NETDEV_XDP_ACT_BASIC = 1 << 0;
export const NETDEV_XDP_ACT_REDIRECT = 1 << 1;
export const NETDEV_XDP_ACT_NDO_XMIT = 1 << 2;
export const NETDEV_XDP_ACT_XSK_ZEROCOPY = 1 << 3;
export const NETDEV_XDP_ACT_HW_OFFLOAD = 1 << 4;
export const NETDEV_XDP_ACT_RX_SG = 1 << 5;
export const NETDEV_XDP_ACT_NDO_XMIT_SG = 1 << 6;

/* ndo_xdp_xmit flags */
export const XDP_XMIT_FLUSH = 1 << 0;

/* sizes of the data path (include/net/xdp.h, kernel/bpf/devmap.c, cpumap.c) */
export const XDP_PACKET_HEADROOM = 256;
export const DEV_MAP_BULK_SIZE = 16;
export const CPU_MAP_BULK_SIZE = 8;
export const ETH_HLEN = 14;
export const VLAN_HLEN = 4;
export const ETH_FRAME_LEN = 1514;

/* more map_flags at creation (include/uapi/linux/bpf.h), and the masks the
 * map types build from them (include/linux/bpf.h, kernel/bpf/arraymap.c,
 * kernel/bpf/hashtab.c) */
export const BPF_F_STACK_BUILD_ID = 1 << 5;
export const BPF_F_PRESERVE_ELEMS = 1 << 11;
export const BPF_F_INNER_MAP = 1 << 12;
export const BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG;
/* sizeof(bpf_attr.map_name): names are at most 15 chars of [A-Za-z0-9_.] */
export const BPF_OBJ_NAME_LEN = 16;
