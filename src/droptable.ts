/*
 * "Why were frames dropped": every drop reason that counted, where (which
 * devices), what it means, and the last frame it dropped (device, CPU,
 * flow). Printed by the CLI at the end of a run; built from stats() and
 * Runtime.lastDrops().
 */
import type { DropReason } from './shared/counters.ts';
import { flowString, type DropNote } from './shared/dropnote.ts';
import type { Stats } from './runtime.ts';
import { fmt } from './fmt.ts';

export const DROP_MEANING: Record<DropReason, string> = {
  XDP_DROP: 'the program returned XDP_DROP',
  XDP_ABORTED: 'the program returned XDP_ABORTED (an xdp_exception record)',
  XDP_INVALID_ACTION: 'the program returned a value that is not an XDP action (xdp_exception)',
  XDP_EXCEPTION: 'the program threw (xdp_exception; stats().cpus[].last_exception has the message)',
  XDP_TX_ERR: 'XDP_TX: the device did not take the frame (its peer has no XDP program, or its ring was full)',
  REDIRECT_ERR: 'XDP_REDIRECT failed in xdp_do_redirect(): see xdp_redirect_err for the err (lookup miss, device down, no ndo_xdp_xmit, MTU, frags)',
  DEV_READY: 'received on a device that is down',
  FULL_RING: 'an RX ring was full (inject dropWhenFull, or frames a generator could not deliver in time)',
  SHUTDOWN: 'still queued when the runtime stopped',
  DEVMAP_PROG_DROP: 'the devmap entry\'s program returned XDP_DROP (egress device)',
  DEVMAP_PROG_ABORTED: 'the devmap entry\'s program aborted, threw, or returned XDP_TX/XDP_REDIRECT (egress device)',
  DEVMAP_XMIT_ERR: 'the target\'s ndo_xdp_xmit refused the bulk (peer without XDP program, peer ring full, over MTU): see xdp_devmap_xmit',
  BROADCAST_EMPTY: 'a broadcast redirect found no valid target',
  UNREGISTERED: 'still in an RX ring when its device was deleted',
  CPUMAP_FULL: 'a cpumap entry\'s queue (qsize) was full when the bulk was flushed to it: see xdp_cpumap_enqueue drops',
  CPUMAP_PROG_DROP: 'the cpumap entry\'s program returned XDP_DROP or failed to redirect (see xdp_cpumap_kthread xdp_drop)',
  CPUMAP_PROG_ABORTED: 'the cpumap entry\'s program aborted, threw, or returned XDP_TX or a bad value (xdp_exception)',
  XSK_TX_ERR: 'an AF_XDP socket\'s TX descriptor was refused by the bound device (down, over MTU, peer ring full); its address completes anyway',
  CPU_DEAD: 'the CPU that held or was to poll the frame died (its worker ran out of memory, or was stuck in a program and terminated); the control plane freed the frame',
};


export interface DropRow {
  reason: string;
  count: number;
  devices: Array<{ device: string; count: number }>;
  meaning: string;
  last: (DropNote & { device: string }) | null;
}

/** The rows: reasons that counted, most frequent first. */
export function dropRows(s: Stats, last: Array<DropNote & { device: string }>): DropRow[] {
  const rows: DropRow[] = [];
  for (const [reason, count] of Object.entries(s.totals.dropReasons) as Array<[DropReason, number]>) {
    if (count === 0) continue;
    rows.push({
      reason, count,
      devices: s.devices.filter((d) => d.dropReasons[reason] > 0).map((d) => ({ device: d.name, count: d.dropReasons[reason] })),
      meaning: DROP_MEANING[reason],
      last: last.find((n) => n.reason === reason) ?? null,
    });
  }
  return rows.sort((a, b) => b.count - a.count);
}

/** The table as text lines. */
export function dropTable(rows: DropRow[]): string[] {
  if (rows.length === 0) return ['why were frames dropped: no frame was dropped'];
  const lines = ['why were frames dropped:'];
  for (const r of rows) {
    lines.push(`  ${r.reason.padEnd(20)}${fmt(r.count).padStart(14)}  on ${r.devices.map((d) => `${d.device} ${fmt(d.count)}`).join(', ')}`);
    lines.push(`  ${''.padEnd(20)}${''.padStart(14)}  ${r.meaning}`);
    if (r.last) lines.push(`  ${''.padEnd(20)}${''.padStart(14)}  last: ${r.last.len} bytes on ${r.last.device}, cpu ${r.last.cpu}: ${flowString(r.last.flow)}`);
  }
  return lines;
}
