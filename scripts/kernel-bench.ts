/*
 * The kernel half of the side-by-side benchmark: the real kernel's XDP
 * path on this machine, timed by BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES (scripts/kernel-bench/README.md), one core,
 * 64-byte UDP/IPv4 frames, in the cases that match xdpsim's bench modes:
 * drop, tx (swap MACs, XDP_TX back out of in0 to in0p, which drops),
 * redirect (bpf_redirect to out0, whose peer outp0 drops) and redirect-map
 * (the same through a DEVMAP).
 *
 *   const why = kernelBenchUnavailable();      // null, or the reason in one line
 *   const kb = await openKernelBench();        // compile, netns, veths, load, attach
 *   try { const r = await kb.run('redirect-map', 2); console.log(r.mpps); }
 *   finally { await kb.close(); }
 *
 * By hand: node --import tsx scripts/kernel-bench.ts [--seconds 2] [--rounds 2] [--cpu N] [--modes drop,tx]
 *
 * openKernelBench compiles scripts/kernel-bench/live.bpf.c and live.c into
 * a temporary directory (removed once the runner has started), creates a
 * network namespace xdpsim-kb-<pid>-<n> with the veths in0 <-> in0p and
 * out0 <-> outp0, and starts the runner in it, which stays (idle, blocked on
 * its stdin) between runs. close() (idempotent) ends the runner and deletes
 * the namespace, and so do SIGINT, SIGTERM, SIGHUP and the process's exit
 * while a bench is open. Namespaces left by a process that was killed
 * outright (SIGKILL) are deleted by the next openKernelBench.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants as fsc, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus as osCpus, release, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const KERNEL_BENCH_MODES = ['drop', 'tx', 'redirect', 'redirect-map'] as const;
export type KernelBenchMode = (typeof KERNEL_BENCH_MODES)[number];
export type KernelMode = KernelBenchMode;

export interface KernelBenchResult {
  mode: KernelBenchMode;
  /** frames run (repeat x syscalls) */
  frames: number;
  /** wall-clock ns over the syscalls (includes any time the CPU spent elsewhere) */
  ns: number;
  /** frames / ns, in Mpps */
  mpps: number;
  /** the kernel's own timing (test_run's duration x frames: excludes time rescheduled away) */
  kernelNs: number;
  kernelMpps: number;
  /** frames the peer's sink program counted (tx: in0p, redirect*: outp0; drop: 0) */
  delivered: number;
  /** frames the sinks counted beyond those run (traffic of the stack itself; normally 0) */
  extra: number;
  syscalls: number;
  repeat: number;
  batch: number;
  /** the CPU the runner was on at the end */
  cpu: number;
  frameLen: number;
}

export interface KernelBenchOptions {
  /** the CPU the runner is pinned to (default: the last one) */
  cpu?: number;
  /** frames per xdp_test_run_batch, 1..256 (default 64, the kernel's NAPI_POLL_WEIGHT) */
  batch?: number;
  /** frames per BPF_PROG_TEST_RUN syscall (default 1 << 20) */
  repeat?: number;
}

export interface KernelBench {
  run(mode: KernelBenchMode, seconds: number): Promise<KernelBenchResult>;
  close(): Promise<void>;
  /** uname -r */
  readonly kernelRelease: string;
  /** the BPF compiler and the runner's C compiler, with versions */
  readonly compiler: string;
  readonly netns: string;
  readonly cpu: number;
  readonly batch: number;
  /** /proc/sys/net/core/bpf_jit_enable and /proc/sys/kernel/bpf_stats_enabled (-1: unreadable) */
  readonly bpfJitEnable: number;
  readonly bpfStatsEnabled: number;
}

const SRC_DIR = fileURLToPath(new URL('./kernel-bench/', import.meta.url));
const NETNS_PREFIX = 'xdpsim-kb-';
const SEARCH_PATH = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter(Boolean);

function findExe(names: readonly string[]): string | null {
  for (const n of names) {
    for (const d of SEARCH_PATH) {
      const p = join(d, n);
      try { accessSync(p, fsc.X_OK); return p; } catch { /* next */ }
    }
  }
  return null;
}
const CLANGS = ['clang-19', 'clang', 'clang-20', 'clang-18', 'clang-17', 'clang-16', 'clang-15', 'clang-14'];
const CCS = ['cc', 'gcc', 'clang'];

function capEff(): bigint | null {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt('0x' + m[1]) : null;
  } catch { return null; }
}

/** null if the kernel bench can run here; else why not, in one line */
export function kernelBenchUnavailable(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root (BPF_PROG_TEST_RUN, netns and XDP attach need root)';
  const caps = capEff();
  if (caps !== null) {
    for (const [bit, name] of [[21n, 'CAP_SYS_ADMIN'], [12n, 'CAP_NET_ADMIN']] as const) {
      if (!((caps >> bit) & 1n)) return `root without ${name} (a container?): BPF/netns not permitted`;
    }
  }
  if (!findExe(['ip'])) return 'no ip (iproute2)';
  if (!findExe(CLANGS)) return 'no clang (to compile the XDP programs)';
  if (!findExe(CCS)) return 'no cc (to compile the libbpf runner)';
  for (const h of ['/usr/include/bpf/bpf_helpers.h', '/usr/include/bpf/libbpf.h', '/usr/include/linux/bpf.h']) {
    if (!existsSync(h)) return `no ${h} (libbpf-dev, linux-libc-dev)`;
  }
  if (!existsSync('/proc/sys/kernel/unprivileged_bpf_disabled')) return 'kernel without the bpf() syscall (CONFIG_BPF_SYSCALL)';
  if (!existsSync('/proc/self/ns/net')) return 'kernel without network namespaces';
  return null;
}

function sh(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${what}: ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const msg = (r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' / ');
    throw new Error(`${what}: ${cmd} ${args.join(' ')}: ${msg || `exit ${r.status ?? r.signal}`}`);
  }
  return r.stdout;
}

function firstLine(cmd: string): string {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n')[0]?.trim() || cmd;
}

/* --- cleanup on signals and exit ---------------------------------------- */

const live = new Set<{ closeSync(why?: string): void }>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let hooked = false;
const onExit = (): void => { for (const b of [...live]) b.closeSync('the process exited'); };
/*
 * Ours runs first (prepended) and removes itself, so that the listeners
 * after it (the application's, tsx's) see the signal as if we had never
 * listened; if there are none, the signal is raised again and kills the
 * process as it would have without us.
 */
const onSignal = (sig: NodeJS.Signals): void => {
  for (const b of [...live]) b.closeSync(`interrupted by ${sig}`);
  unhook();
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
};
function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.prependListener(s, onSignal);
}
function unhook(): void {
  if (!hooked) return;
  hooked = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** delete the namespaces of earlier processes that died without closing (SIGKILL) */
function removeStaleNetns(ip: string): void {
  let names: string[];
  try { names = readdirSync('/run/netns'); } catch { return; }
  for (const n of names) {
    const m = /^xdpsim-kb-(\d+)-\d+$/.exec(n);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) spawnSync(ip, ['netns', 'del', n]);
  }
}

/* --- the bench ---------------------------------------------------------- */

let seq = 0;

interface Ready {
  ready: true; kernel: string; cpu: number; batch: number; repeat: number;
  bpf_jit_enable: number; bpf_stats_enabled: number;
}
interface RawResult {
  case?: string; error?: string; frames: number; ns: number; mpps: number; kernel_ns: number; kernel_mpps: number;
  delivered: number; extra: number; syscalls: number; repeat: number; batch: number; cpu: number; frame_len: number;
}

/** compile, create the netns and veths, start the runner (loads and attaches); see the file's comment */
export async function openKernelBench(o: KernelBenchOptions = {}): Promise<KernelBench> {
  const why = kernelBenchUnavailable();
  if (why) throw new Error(`kernel bench unavailable: ${why}`);
  const ip = findExe(['ip'])!;
  const clang = findExe(CLANGS)!;
  const cc = findExe(CCS)!;
  const cpu = o.cpu ?? osCpus().length - 1;
  const batch = o.batch ?? 64;
  const repeat = o.repeat ?? 1 << 20;
  if (!Number.isInteger(cpu) || cpu < 0) throw new Error(`kernel bench: bad cpu ${cpu}`);
  if (!Number.isInteger(batch) || batch < 1 || batch > 256) throw new Error(`kernel bench: batch ${batch} not in 1..256`);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0x7fffffff) throw new Error(`kernel bench: bad repeat ${repeat}`);

  removeStaleNetns(ip);
  const netns = `${NETNS_PREFIX}${process.pid}-${seq++}`;
  let tmp: string | null = null;
  let child: ChildProcessWithoutNullStreams | null = null;
  let netnsMade = false;
  let closed = false;
  let stderrTail = '';
  let closedWhy: string | null = null;

  const rmTmp = (): void => { if (tmp) { rmSync(tmp, { recursive: true, force: true }); tmp = null; } };
  const delNetns = (): void => {
    if (!netnsMade) return;
    netnsMade = false;
    spawnSync(ip, ['netns', 'del', netns]);
  };
  const handle = {
    closeSync(why?: string): void {
      if (why && !closed) closedWhy = why;
      closed = true;
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      delNetns();
      rmTmp();
      live.delete(handle);
      if (!live.size) unhook();
    },
  };
  live.add(handle);
  hook();

  try {
    tmp = mkdtempSync(join(tmpdir(), 'xdpsim-kb-'));
    const obj = join(tmp, 'live.bpf.o');
    const bin = join(tmp, 'live');
    const machine = spawnSync(cc, ['-dumpmachine'], { encoding: 'utf8' }).stdout?.trim() ?? '';
    const multiarch = machine && existsSync(`/usr/include/${machine}`) ? ['-idirafter', `/usr/include/${machine}`] : [];
    sh(clang, ['-O2', '-g', '-Wall', '-target', 'bpf', ...multiarch, '-c', join(SRC_DIR, 'live.bpf.c'), '-o', obj], 'compile live.bpf.c');
    sh(cc, ['-O2', '-Wall', '-o', bin, join(SRC_DIR, 'live.c'), '-lbpf'], 'compile live.c');
    const compiler = `${firstLine(clang)} (BPF); ${firstLine(cc)} (runner)`;

    sh(ip, ['netns', 'add', netns], 'create the netns');
    netnsMade = true;
    // No IPv6 in the netns: the stack's own packets (DAD, router solicitations) would reach the sinks.
    spawnSync(ip, ['netns', 'exec', netns, 'sh', '-c',
      'for f in all default; do echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6; done 2>/dev/null']);
    sh(ip, ['-n', netns, 'link', 'add', 'in0', 'type', 'veth', 'peer', 'name', 'in0p'], 'create veth in0');
    sh(ip, ['-n', netns, 'link', 'add', 'out0', 'type', 'veth', 'peer', 'name', 'outp0'], 'create veth out0');
    for (const d of ['in0', 'in0p', 'out0', 'outp0']) sh(ip, ['-n', netns, 'link', 'set', d, 'up'], `bring ${d} up`);

    if (closed) throw new Error('kernel bench: closed while opening');
    const c = spawn(bin, ['--obj', obj, '--netns', netns, '--cpu', String(cpu), '--batch', String(batch), '--repeat', String(repeat)],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    child = c;
    c.stderr.setEncoding('utf8');
    c.stderr.on('data', (s: string) => { stderrTail = (stderrTail + s).slice(-2000); });
    c.stdin.on('error', () => { /* EPIPE after the runner died: reported by the line reader */ });

    // Lines from the runner, handed to whoever waits, in order.
    const lines: string[] = [];
    let waiter: ((l: string | null) => void) | null = null;
    let ended = false;
    const rl = createInterface({ input: c.stdout });
    rl.on('line', (l) => { if (waiter) { const w = waiter; waiter = null; w(l); } else lines.push(l); });
    const exited = new Promise<void>((res) => c.on('close', () => { ended = true; if (waiter) { const w = waiter; waiter = null; w(null); } res(); }));
    c.on('error', () => { /* spawn failure: 'close' follows */ });
    const nextLine = (timeoutMs: number): Promise<string | null> => {
      if (lines.length) return Promise.resolve(lines.shift()!);
      if (ended) return Promise.resolve(null);
      return new Promise((res) => {
        const t = setTimeout(() => { waiter = null; res(null); }, timeoutMs);
        waiter = (l) => { clearTimeout(t); res(l); };
      });
    };
    const died = (what: string): Error => {
      if (closedWhy) return new Error(`kernel bench: ${what}: ${closedWhy}`);
      const tail = stderrTail.trim().split('\n').slice(-6).join(' / ');
      return new Error(`kernel bench: ${what}${c.exitCode !== null ? ` (runner exit ${c.exitCode})` : c.signalCode ? ` (runner ${c.signalCode})` : ''}${tail ? `: ${tail}` : ''}`);
    };
    const parse = (l: string): Record<string, unknown> => {
      try { return JSON.parse(l) as Record<string, unknown>; } catch { throw new Error(`kernel bench: runner printed ${JSON.stringify(l)}`); }
    };

    const first = await nextLine(30_000);
    if (first === null) throw died('the runner did not get ready');
    const rj = parse(first);
    if (typeof rj.error === 'string') throw died(rj.error);
    const ready = rj as unknown as Ready;
    rmTmp(); // the runner has loaded the object; nothing of it is needed any more

    let queue: Promise<unknown> = Promise.resolve();
    let closing: Promise<void> | null = null;
    const bench: KernelBench = {
      kernelRelease: ready.kernel || release(),
      compiler,
      netns,
      cpu: ready.cpu,
      batch: ready.batch,
      bpfJitEnable: ready.bpf_jit_enable,
      bpfStatsEnabled: ready.bpf_stats_enabled,
      run(mode: KernelBenchMode, seconds: number): Promise<KernelBenchResult> {
        if (!(KERNEL_BENCH_MODES as readonly string[]).includes(mode)) return Promise.reject(new Error(`kernel bench: unknown mode ${String(mode)}`));
        if (!(seconds > 0 && seconds < 86400)) return Promise.reject(new Error(`kernel bench: bad seconds ${seconds}`));
        const job = queue.then(async (): Promise<KernelBenchResult> => {
          if (closed || closing) throw new Error('kernel bench: closed');
          if (ended) throw died('the runner is gone');
          stderrTail = '';
          c.stdin.write(`run ${mode} ${seconds}\n`);
          const l = await nextLine(seconds * 1000 + 60_000);
          if (l === null) throw died(`${mode}: no result`);
          const r = parse(l) as unknown as RawResult;
          if (typeof r.error === 'string') throw died(`${mode}: ${r.error}`);
          return {
            mode, frames: r.frames, ns: r.ns, mpps: r.mpps, kernelNs: r.kernel_ns, kernelMpps: r.kernel_mpps,
            delivered: r.delivered, extra: r.extra, syscalls: r.syscalls, repeat: r.repeat, batch: r.batch, cpu: r.cpu, frameLen: r.frame_len,
          };
        });
        queue = job.catch(() => undefined);
        return job;
      },
      close(): Promise<void> {
        closing ??= (async () => {
          await queue;
          if (!ended) {
            c.stdin.end('quit\n');
            const t = setTimeout(() => c.kill('SIGKILL'), 3000);
            await exited;
            clearTimeout(t);
          }
          rl.close();
          handle.closeSync();
        })();
        return closing;
      },
    };
    return bench;
  } catch (e) {
    handle.closeSync();
    throw e;
  }
}

/* --- CLI ---------------------------------------------------------------- */

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
    cpu: { type: 'string' },
    batch: { type: 'string' },
    modes: { type: 'string', default: KERNEL_BENCH_MODES.join(',') },
  } });
  const why = kernelBenchUnavailable();
  if (why) { console.error(`kernel bench unavailable: ${why}`); process.exit(1); }
  const modes = values.modes!.split(',') as KernelBenchMode[];
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const kb = await openKernelBench({
    ...(values.cpu !== undefined ? { cpu: Number(values.cpu) } : {}),
    ...(values.batch !== undefined ? { batch: Number(values.batch) } : {}),
  });
  const got = new Map<KernelBenchMode, number[]>();
  try {
    console.log(`kernel ${kb.kernelRelease}, CPU ${kb.cpu}, batch ${kb.batch}, bpf_jit_enable ${kb.bpfJitEnable}, bpf_stats_enabled ${kb.bpfStatsEnabled}; ${kb.compiler}`);
    for (let r = 0; r < rounds; r++) {
      for (const m of modes) {
        const x = await kb.run(m, seconds);
        (got.get(m) ?? got.set(m, []).get(m)!).push(x.mpps);
        console.log(`round ${r + 1}/${rounds} ${m.padEnd(12)} ${x.mpps.toFixed(2)} Mpps (kernel's own timing ${x.kernelMpps.toFixed(2)}), ${x.frames} frames, delivered ${x.delivered}${x.extra ? ` (+${x.extra})` : ''}`);
      }
    }
    for (const [m, xs] of got) {
      const s = [...xs].sort((a, b) => a - b);
      const med = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
      console.log(`${m.padEnd(12)} median ${med.toFixed(2)} Mpps (${s[0]!.toFixed(2)}-${s[s.length - 1]!.toFixed(2)})`);
    }
  } finally {
    await kb.close();
  }
}
