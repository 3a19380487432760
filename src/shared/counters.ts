/*
 * Per-CPU counters in shared memory: one Float64Array block per CPU (exact
 * integers up to 2^53). Only the CPU that owns a block writes it, with plain
 * stores; anyone reads. Totals read while traffic flows are a snapshot; after
 * a drain they are exact (the hand-offs and the workers' exit order them).
 *
 * A block holds the CPU's own counters (CPU_*), then one row per ifindex
 * (DEV_* and a column per drop reason). Block `ncpus` (one past the last
 * CPU) belongs to the control plane: the main thread's traffic source and
 * the final purge of rings at stop() count there.
 */

/* CPU-wide counters */
export const CPU_POLLS = 0;         /* NAPI polls that found work */
export const CPU_FLUSHES = 1;       /* xdp_do_flush() calls */
export const CPU_QS = 2;            /* quiescent states reported */
export const CPU_SLEEPS = 3;        /* times the CPU went to sleep on its doorbell */
export const CPU_WAKEUPS = 4;       /* doorbells that woke it */
export const CPU_BAD_FREES = 5;     /* frames freed twice or with a bad descriptor (a bug) */
export const CPU_TRACE_LOST = 6;    /* trace records lost to a full ring */
export const CPU_TAP_LOST = 7;      /* XDP_PASS copies lost to a full tap ring */
export const CPU_GP_VIOLATIONS = 8; /* a devmap entry changed hands between lookup and use: a grace-period bug */
export const CPU_RCU_CHECKED = 9;   /* records validated by the read-side check (when it is on) */
export const CPU_PIPE = 10;         /* 10..13: the read-side check's pipeline histogram (ages 0, 1, 2, 3+) */
export const CPU_QS_PENDING = 14;   /* quiescent states reported with a bulk queue still pending (read-side check) */
export const CPU_PROG_UAF = 15;     /* a program run after it was freed (a grace-period bug) */
export const CPU_CAP_LOST = 16;     /* packet capture copies lost to a full capture ring */
/* cpumap (the xdp_cpumap_enqueue / xdp_cpumap_kthread tracepoints' numbers, summed) */
export const CPU_CPUMAP_ENQ = 17;          /* frames this CPU flushed towards cpumap queues (processed) */
export const CPU_CPUMAP_ENQ_DROPS = 18;    /* of those, dropped: the target's queue was full */
export const CPU_CPUMAP_KT_PROCESSED = 19; /* frames this CPU's cpumap kthreads took from their queues */
export const CPU_CPUMAP_KT_PASS = 20;      /* ... that their program passed (frames of an entry without a program go to the stack uncounted here, as in the kernel's stats) */
export const CPU_CPUMAP_KT_DROP = 21;      /* ... that their program dropped (or aborted, or failed to redirect) */
export const CPU_CPUMAP_KT_REDIRECT = 22;  /* ... that their program redirected */
export const CPU_CPUMAP_KT_SCHED = 23;     /* kthread batches that followed a sleep or a reschedule */
export const CPU_ROUNDS = 24;             /* rounds of the CPU's loop (each polls every queue once): the heartbeat the soft-lockup watchdog watches */
export const CPU_POLL_DEV = 25;           /* the ifindex of the device whose queue the CPU polled last: a dead CPU's frames in hand count there */
export const CPU_WORDS = 32;

/* per device, per CPU */
export const DEV_RX_PACKETS = 0;    /* frames polled from the device's RX queues */
export const DEV_RX_BYTES = 1;
export const DEV_XDP_ABORTED = 2;   /* verdict counters: what the program returned */
export const DEV_XDP_DROP = 3;
export const DEV_XDP_PASS = 4;
export const DEV_XDP_TX = 5;
export const DEV_XDP_REDIRECT = 6;
export const DEV_XDP_INVALID = 7;   /* action value outside 0..4 */
export const DEV_XDP_EXCEPTION = 8; /* the program threw */
export const DEV_STACK = 9;         /* frames handed to the stack: XDP_PASS, or no program */
export const DEV_TX_PACKETS = 10;   /* frames the device transmitted (xdp_xmit, XDP_TX) */
export const DEV_TX_BYTES = 11;
export const DEV_XDP_TX_SENT = 12;  /* XDP_TX bulk: sent / err (veth's xdp_tx, xdp_tx_err) */
export const DEV_XDP_TX_ERR = 13;
export const DEV_XMIT_CONSUMED = 14; /* frames that left the model on transmit (a sink) */
export const DEV_DROPS = 15;        /* all drops: the sum of the reason columns, computed when read (not counted per frame) */
export const DEV_INJECTED = 16;     /* frames a traffic source put into the device's RX rings */
export const DEV_CLONES = 17;       /* frames created by broadcast redirects received here (xdpf_clone) */
export const DEV_XSK_RX = 18;       /* frames received here that an AF_XDP socket took (copied into its UMEM: they leave the model) */
export const DEV_XSK_TX = 19;       /* frames AF_XDP sockets bound here transmitted (made from TX descriptors: they enter the model) */
export const DEV_FIXED = 20;

/*
 * Drop reasons. Where the kernel has an skb drop reason
 * (include/net/dropreason-core.h) the name is the same without the
 * SKB_DROP_REASON_ prefix; the XDP_* ones are what the kernel leaves
 * untraced (a driver just recycles the page).
 */
export const DROP_REASONS = [
  'XDP_DROP',           /* the program returned XDP_DROP */
  'XDP_ABORTED',        /* the program returned XDP_ABORTED */
  'XDP_INVALID_ACTION', /* the program returned a value outside 0..4 */
  'XDP_EXCEPTION',      /* the program threw */
  'XDP_TX_ERR',         /* XDP_TX: the device's xmit did not take the frame */
  'REDIRECT_ERR',       /* XDP_REDIRECT: xdp_do_redirect() failed (see xdp_redirect_err for the err) */
  'DEV_READY',          /* received on a device that is down */
  'FULL_RING',          /* an RX ring was full on delivery */
  'SHUTDOWN',           /* still queued when the runtime stopped (a closing device frees its ring) */
  'DEVMAP_PROG_DROP',   /* a devmap entry's program returned XDP_DROP (counted on the egress device) */
  'DEVMAP_PROG_ABORTED', /* a devmap program aborted, threw, or returned TX/REDIRECT/a bad value (egress) */
  'DEVMAP_XMIT_ERR',    /* the egress device's ndo_xdp_xmit did not take a redirected frame (egress) */
  'BROADCAST_EMPTY',    /* a broadcast found no valid target: the frame is freed, the redirect succeeds */
  'UNREGISTERED',       /* still in a device's RX ring when the device was unregistered */
  'CPUMAP_FULL',        /* a cpumap entry's queue (qsize) was full at the flush (counted on the receiving device) */
  'CPUMAP_PROG_DROP',   /* a cpumap entry's program returned XDP_DROP, or its redirect failed (receiving device) */
  'CPUMAP_PROG_ABORTED', /* a cpumap program aborted, threw, or returned XDP_TX or a bad value (receiving device) */
  'XSK_TX_ERR',         /* an AF_XDP socket's TX descriptor the bound device refused (down, MTU, peer ring full): its address still completes */
  'CPU_DEAD',           /* held by, or queued to, a CPU whose worker died (out of memory, stuck): freed by the control plane */
] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export const DR_XDP_DROP = 0;
export const DR_XDP_ABORTED = 1;
export const DR_XDP_INVALID_ACTION = 2;
export const DR_XDP_EXCEPTION = 3;
export const DR_XDP_TX_ERR = 4;
export const DR_REDIRECT_ERR = 5;
export const DR_DEV_READY = 6;
export const DR_FULL_RING = 7;
export const DR_SHUTDOWN = 8;
export const DR_DEVMAP_PROG_DROP = 9;
export const DR_DEVMAP_PROG_ABORTED = 10;
export const DR_DEVMAP_XMIT_ERR = 11;
export const DR_BROADCAST_EMPTY = 12;
export const DR_UNREGISTERED = 13;
export const DR_CPUMAP_FULL = 14;
export const DR_CPUMAP_PROG_DROP = 15;
export const DR_CPUMAP_PROG_ABORTED = 16;
export const DR_XSK_TX_ERR = 17;
export const DR_CPU_DEAD = 18;

export const DEV_WORDS = DEV_FIXED + DROP_REASONS.length;

export const DEV_COUNTER_NAMES = [
  'rx_packets', 'rx_bytes', 'xdp_aborted', 'xdp_drop', 'xdp_pass', 'xdp_tx', 'xdp_redirect',
  'xdp_invalid', 'xdp_exception', 'stack', 'tx_packets', 'tx_bytes', 'xdp_tx_sent',
  'xdp_tx_err', 'xmit_consumed', 'drops', 'injected', 'clones', 'xsk_rx', 'xsk_tx',
] as const;
export type DevCounterName = (typeof DEV_COUNTER_NAMES)[number];

export function counterBlockWords(maxDevices: number): number {
  return CPU_WORDS + maxDevices * DEV_WORDS;
}

export function createCounters(ncpus: number, maxDevices: number): SharedArrayBuffer {
  return new SharedArrayBuffer(8 * (ncpus + 1) * counterBlockWords(maxDevices));
}

/** The counter block of one CPU. */
export function cpuCounters(sab: SharedArrayBuffer, cpu: number, maxDevices: number): Float64Array {
  const w = counterBlockWords(maxDevices);
  return new Float64Array(sab, 8 * cpu * w, w);
}

/** Count n drops of `reason` in a device row (`row` = devRow(ifindex)) of a counter block. */
export function countDrops(ctr: Float64Array, row: number, reason: number, n: number): void {
  ctr[row + DEV_FIXED + reason] += n;
}

/** Offset of device `ifindex`'s row inside a CPU block. */
export function devRow(ifindex: number): number {
  return CPU_WORDS + ifindex * DEV_WORDS;
}
