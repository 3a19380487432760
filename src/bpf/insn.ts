/*
 * eBPF instructions: the opcode fields (include/uapi/linux/bpf.h,
 * bpf_common.h, Documentation/bpf/standardization/instruction-set.rst),
 * decoding of the 8-byte instruction slots, a disassembler-style name for
 * messages, and the helper function ids with their uapi names
 * (___BPF_FUNC_MAPPER order: bpf_map_lookup_elem is 1).
 *
 * Concurrency: constants and pure functions; safe on any thread.
 */

/* classes */
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_JMP32 = 0x06;
export const BPF_ALU64 = 0x07;
/* sizes */
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_DW = 0x18;
/* modes */
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_MEMSX = 0x80;
export const BPF_ATOMIC = 0xc0;
/* source */
export const BPF_K = 0x00;
export const BPF_X = 0x08;
/* ALU ops */
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_MOV = 0xb0;
export const BPF_ARSH = 0xc0;
export const BPF_END = 0xd0;
export const BPF_TO_LE = 0x00;
export const BPF_TO_BE = 0x08;
/* JMP ops */
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_JNE = 0x50;
export const BPF_JSGT = 0x60;
export const BPF_JSGE = 0x70;
export const BPF_CALL = 0x80;
export const BPF_EXIT = 0x90;
export const BPF_JLT = 0xa0;
export const BPF_JLE = 0xb0;
export const BPF_JSLT = 0xc0;
export const BPF_JSLE = 0xd0;
/* atomic ops (imm of BPF_STX | BPF_ATOMIC) */
export const BPF_FETCH = 0x01;
export const BPF_XCHG = 0xe0 | BPF_FETCH;
export const BPF_CMPXCHG = 0xf0 | BPF_FETCH;
/* src_reg of BPF_LD | BPF_IMM | BPF_DW */
export const BPF_PSEUDO_MAP_FD = 1;
export const BPF_PSEUDO_MAP_VALUE = 2;
export const BPF_PSEUDO_BTF_ID = 3;
export const BPF_PSEUDO_FUNC = 4;
export const BPF_PSEUDO_MAP_IDX = 5;
export const BPF_PSEUDO_MAP_IDX_VALUE = 6;
/* src_reg of BPF_CALL */
export const BPF_PSEUDO_CALL = 1;
export const BPF_PSEUDO_KFUNC_CALL = 2;

export const MAX_BPF_STACK = 512;
export const MAX_CALL_FRAMES = 8;
export const BPF_REG_FP = 10;

export const cls = (code: number): number => code & 0x07;
export const size = (code: number): number => code & 0x18;
export const mode = (code: number): number => code & 0xe0;
export const op = (code: number): number => code & 0xf0;
export const srcBit = (code: number): number => code & 0x08;
export const sizeBytes = (code: number): number => [4, 2, 1, 8][(code & 0x18) >> 3]!;

/** Decoded instructions: parallel arrays, one entry per 8-byte slot (an ld_imm64 takes two). */
export interface Insns {
  code: Uint8Array;
  dst: Uint8Array;
  src: Uint8Array;
  off: Int16Array;
  imm: Int32Array;
}

export function decodeInsns(bytes: Uint8Array): Insns {
  const n = bytes.length >> 3;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r: Insns = { code: new Uint8Array(n), dst: new Uint8Array(n), src: new Uint8Array(n), off: new Int16Array(n), imm: new Int32Array(n) };
  for (let i = 0; i < n; i++) {
    const o = i * 8;
    r.code[i] = bytes[o]!;
    r.dst[i] = bytes[o + 1]! & 0xf;
    r.src[i] = bytes[o + 1]! >> 4;
    r.off[i] = dv.getInt16(o + 2, true);
    r.imm[i] = dv.getInt32(o + 4, true);
  }
  return r;
}

/** Encode one instruction slot (tests and tools). */
export function encodeInsn(code: number, dst: number, src: number, off: number, imm: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  b[0] = code;
  b[1] = (dst & 0xf) | ((src & 0xf) << 4);
  dv.setInt16(2, off, true);
  dv.setInt32(4, imm | 0, true);
  return b;
}

/*
 * Helper ids, after ___BPF_FUNC_MAPPER in include/uapi/linux/bpf.h:
 * HELPER_NAMES[id - 1] is the helper's name without its bpf_ prefix.
 */
const HELPER_NAMES = (
  'map_lookup_elem map_update_elem map_delete_elem probe_read ktime_get_ns trace_printk get_prandom_u32 ' +
  'get_smp_processor_id skb_store_bytes l3_csum_replace l4_csum_replace tail_call clone_redirect ' +
  'get_current_pid_tgid get_current_uid_gid get_current_comm get_cgroup_classid skb_vlan_push skb_vlan_pop ' +
  'skb_get_tunnel_key skb_set_tunnel_key perf_event_read redirect get_route_realm perf_event_output ' +
  'skb_load_bytes get_stackid csum_diff skb_get_tunnel_opt skb_set_tunnel_opt skb_change_proto ' +
  'skb_change_type skb_under_cgroup get_hash_recalc get_current_task probe_write_user ' +
  'current_task_under_cgroup skb_change_tail skb_pull_data csum_update set_hash_invalid get_numa_node_id ' +
  'skb_change_head xdp_adjust_head probe_read_str get_socket_cookie get_socket_uid set_hash setsockopt ' +
  'skb_adjust_room redirect_map sk_redirect_map sock_map_update xdp_adjust_meta perf_event_read_value ' +
  'perf_prog_read_value getsockopt override_return sock_ops_cb_flags_set msg_redirect_map msg_apply_bytes ' +
  'msg_cork_bytes msg_pull_data bind xdp_adjust_tail skb_get_xfrm_state get_stack skb_load_bytes_relative ' +
  'fib_lookup sock_hash_update msg_redirect_hash sk_redirect_hash lwt_push_encap lwt_seg6_store_bytes ' +
  'lwt_seg6_adjust_srh lwt_seg6_action rc_repeat rc_keydown skb_cgroup_id get_current_cgroup_id ' +
  'get_local_storage sk_select_reuseport skb_ancestor_cgroup_id sk_lookup_tcp sk_lookup_udp sk_release ' +
  'map_push_elem map_pop_elem map_peek_elem msg_push_data msg_pop_data rc_pointer_rel spin_lock ' +
  'spin_unlock sk_fullsock tcp_sock skb_ecn_set_ce get_listener_sock skc_lookup_tcp tcp_check_syncookie ' +
  'sysctl_get_name sysctl_get_current_value sysctl_get_new_value sysctl_set_new_value strtol strtoul ' +
  'sk_storage_get sk_storage_delete send_signal tcp_gen_syncookie skb_output probe_read_user ' +
  'probe_read_kernel probe_read_user_str probe_read_kernel_str tcp_send_ack send_signal_thread jiffies64 ' +
  'read_branch_records get_ns_current_pid_tgid xdp_output get_netns_cookie get_current_ancestor_cgroup_id ' +
  'sk_assign ktime_get_boot_ns seq_printf seq_write sk_cgroup_id sk_ancestor_cgroup_id ringbuf_output ' +
  'ringbuf_reserve ringbuf_submit ringbuf_discard ringbuf_query csum_level skc_to_tcp6_sock ' +
  'skc_to_tcp_sock skc_to_tcp_timewait_sock skc_to_tcp_request_sock skc_to_udp6_sock get_task_stack ' +
  'load_hdr_opt store_hdr_opt reserve_hdr_opt inode_storage_get inode_storage_delete d_path copy_from_user ' +
  'snprintf_btf seq_printf_btf skb_cgroup_classid redirect_neigh per_cpu_ptr this_cpu_ptr redirect_peer ' +
  'task_storage_get task_storage_delete get_current_task_btf bprm_opts_set ktime_get_coarse_ns ' +
  'ima_inode_hash sock_from_file check_mtu for_each_map_elem snprintf sys_bpf btf_find_by_name_kind ' +
  'sys_close timer_init timer_set_callback timer_start timer_cancel get_func_ip get_attach_cookie ' +
  'task_pt_regs get_branch_snapshot trace_vprintk skc_to_unix_sock kallsyms_lookup_name find_vma loop ' +
  'strncmp get_func_arg get_func_ret get_func_arg_cnt get_retval set_retval xdp_get_buff_len ' +
  'xdp_load_bytes xdp_store_bytes copy_from_user_task skb_set_tstamp ima_file_hash kptr_xchg ' +
  'map_lookup_percpu_elem skc_to_mptcp_sock dynptr_from_mem ringbuf_reserve_dynptr ringbuf_submit_dynptr ' +
  'ringbuf_discard_dynptr dynptr_read dynptr_write dynptr_data tcp_raw_gen_syncookie_ipv4 ' +
  'tcp_raw_gen_syncookie_ipv6 tcp_raw_check_syncookie_ipv4 tcp_raw_check_syncookie_ipv6 ktime_get_tai_ns ' +
  'user_ringbuf_drain cgrp_storage_get cgrp_storage_delete '
).trim().split(' ');

/** 'bpf_map_lookup_elem' for 1; 'helper 999' for an id the uapi list does not have. */
export function helperName(id: number): string {
  const n = id >= 1 ? HELPER_NAMES[id - 1] : undefined;
  return n === undefined ? `helper ${id}` : `bpf_${n}`;
}

export const BPF_FUNC_map_lookup_elem = 1;
export const BPF_FUNC_map_update_elem = 2;
export const BPF_FUNC_map_delete_elem = 3;
export const BPF_FUNC_ktime_get_ns = 5;
export const BPF_FUNC_trace_printk = 6;
export const BPF_FUNC_get_prandom_u32 = 7;
export const BPF_FUNC_get_smp_processor_id = 8;
export const BPF_FUNC_redirect = 23;
export const BPF_FUNC_csum_diff = 28;
export const BPF_FUNC_xdp_adjust_head = 44;
export const BPF_FUNC_redirect_map = 51;
export const BPF_FUNC_xdp_adjust_meta = 54;
export const BPF_FUNC_xdp_adjust_tail = 65;
export const BPF_FUNC_xdp_get_buff_len = 188;
export const BPF_FUNC_xdp_load_bytes = 189;
export const BPF_FUNC_xdp_store_bytes = 190;

/** The helpers xdpsim implements for XDP programs. */
export const SUPPORTED_HELPERS: ReadonlySet<number> = new Set([
  BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem, BPF_FUNC_map_delete_elem, BPF_FUNC_ktime_get_ns,
  BPF_FUNC_trace_printk, BPF_FUNC_get_prandom_u32, BPF_FUNC_get_smp_processor_id, BPF_FUNC_redirect,
  BPF_FUNC_csum_diff, BPF_FUNC_xdp_adjust_head, BPF_FUNC_redirect_map, BPF_FUNC_xdp_adjust_meta,
  BPF_FUNC_xdp_adjust_tail, BPF_FUNC_xdp_get_buff_len, BPF_FUNC_xdp_load_bytes, BPF_FUNC_xdp_store_bytes,
]);
