/*
 * npm run bench: every bench mode and the ablations, interleaved (round r
 * runs every case once, so a noisy stretch of the machine hits all cases
 * alike), each case the median of --runs with its spread; and, where it can
 * (root, BPF, clang, cc and libbpf: scripts/kernel-bench.ts), the kernel's
 * BPF_PROG_TEST_RUN with live frames for the same four cases (XDP_DROP,
 * XDP_TX, bpf_redirect and a devmap redirect into a veth whose peer drops),
 * one core, 64-byte frames, run in the same rounds beside xdpsim's, with the
 * ratios from those. Prints the report (markdown); writes it only when
 * asked. Progress (case, round, time left) goes to stderr.
 *
 *   node --import tsx scripts/bench.ts [--runs 3] [--seconds 2] [--quick] [--no-kernel] [--write BENCHMARKS.md]
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus as osCpus } from 'node:os';
import { runBench, type BenchOptions, type BenchSummary } from '../src/bench/bench.ts';
import { kernelBenchUnavailable, openKernelBench, type KernelBench, type KernelMode } from './kernel-bench.ts';

const { values } = parseArgs({ options: {
  runs: { type: 'string', default: '3' },
  seconds: { type: 'string', default: '2' },
  write: { type: 'string' },
  quick: { type: 'boolean', default: false },
  'no-kernel': { type: 'boolean', default: false },
} });
const runs = Number(values.runs);
const seconds = Number(values.seconds);
if (!(Number.isInteger(runs) && runs > 0) || !(seconds > 0)) {
  console.error('Error: --runs must be a positive integer and --seconds a positive number');
  process.exit(2);
}

/* a case is an xdpsim bench run, or (kernel) the kernel's live-frames run of that mode */
interface Case { group: string; name: string; o: BenchOptions; kernel?: KernelMode }
const cases: Case[] = [];
const add = (group: string, name: string, o: Omit<BenchOptions, 'duration' | 'interval'>): void => {
  cases.push({ group, name, o: { ...o, duration: seconds, interval: 0 } });
};
const KERNEL_MODES: readonly KernelMode[] = ['drop', 'tx', 'redirect', 'redirect-map'];
const kernelWhy = values['no-kernel'] ? 'not asked for (--no-kernel)' : kernelBenchUnavailable();
const modes = ['drop', 'pass', 'tx', 'redirect', 'redirect-map', 'redirect-multi', 'redirect-cpu', 'redirect-xsk'] as const;
for (const mode of modes) {
  const k = KERNEL_MODES.find((m) => m === mode);
  /* the kernel's run of a mode goes right before xdpsim's, in every round */
  if (k !== undefined && kernelWhy === null) cases.push({ group: 'kernel', name: `kernel ${k} 64 B`, o: { mode: k, duration: seconds, interval: 0 }, kernel: k });
  for (const size of [64, 1500]) add('modes', `${mode} ${size} B`, { mode, pktSize: size });
}
add('bulk', 'redirect-map bulk 16', { mode: 'redirect-map' });
add('bulk', 'redirect-map bulk 1', { mode: 'redirect-map', bulkSize: 1 });
add('bulk', 'tx bulk 16', { mode: 'tx' });
add('bulk', 'tx bulk 1', { mode: 'tx', bulkSize: 1 });
for (const mode of ['drop', 'redirect-map'] as const) {
  add('cpus', `${mode} 1 CPU`, { mode, cpus: 1 });
  add('cpus', `${mode} 2 CPUs`, { mode, cpus: 2 });
}
add('rcu', 'redirect-map RCU on', { mode: 'redirect-map' });
add('rcu', 'redirect-map RCU off', { mode: 'redirect-map', rcu: false });
add('trace', 'redirect-map tracing off', { mode: 'redirect-map', tracing: 'off' });
add('trace', 'redirect-map runtime default events', { mode: 'redirect-map', tracing: 'runtime' });
add('trace', 'redirect-map error events on', { mode: 'redirect-map', tracing: 'errors' });
add('trace', 'redirect-map all events on', { mode: 'redirect-map', tracing: 'all' });
add('ops', 'drop parse-ip', { mode: 'drop', op: 'parse-ip' });
add('ops', 'tx no-touch', { mode: 'tx', op: 'no-touch' });
add('traffic', 'drop imix', { mode: 'drop', traffic: { size: 'imix' } });
add('traffic', 'drop ipv6 tcp-syn', { mode: 'drop', traffic: { l3: 'ipv6', l4: 'tcp-syn' } });
add('traffic', 'drop 65536 flows', { mode: 'drop', flows: 65536, traffic: { srcPorts: 256, dstPorts: 256 } });
const todo = values.quick ? cases.filter((c) => c.group === 'kernel' || (c.group === 'modes' && c.name.endsWith(' 64 B'))) : cases;

/* per case, its runs' rates in pps (xdpsim: rx_pps; the kernel: frames / s) */
const results = new Map<string, BenchSummary[]>();
const kernelPps = new Map<string, number[]>();
/* the kernel's own timing of the same runs (test_run's duration: it leaves out each syscall's set-up and the time it yielded the CPU) */
const kernelOwnPps = new Map<string, number[]>();
const t0 = performance.now();
let kernel: KernelBench | null = null;
if (kernelWhy === null) {
  process.stderr.write('kernel: compiling the live-frames programs and setting up the veths...\n');
  kernel = await openKernelBench();
  process.stderr.write(`kernel: ${kernel.kernelRelease}, programs built with ${kernel.compiler}\n`);
} else {
  process.stderr.write(`kernel: not measured: ${kernelWhy}\n`);
}
const fmtTime = (ms: number): string => {
  const sec = Math.max(0, Math.round(ms / 1000));
  return sec >= 60 ? `${Math.floor(sec / 60)}m${String(sec % 60).padStart(2, '0')}s` : `${sec}s`;
};
const total = runs * todo.length;
try {
  let done = 0;
  for (let r = 0; r < runs; r++) {
    for (const [i, c] of todo.entries()) {
      let rate: string;
      if (c.kernel !== undefined) {
        const k = await kernel!.run(c.kernel, seconds);
        (kernelPps.get(c.name) ?? kernelPps.set(c.name, []).get(c.name)!).push(k.mpps * 1e6);
        (kernelOwnPps.get(c.name) ?? kernelOwnPps.set(c.name, []).get(c.name)!).push(k.kernelMpps * 1e6);
        rate = `${k.mpps.toFixed(2)} Mpps (the kernel, 1 core)`;
      } else {
        const s = await runBench(c.o);
        if (!s.conserved) throw new Error(`${c.name}: frames not conserved (leaked ${s.leaked_frames})`);
        (results.get(c.name) ?? results.set(c.name, []).get(c.name)!).push(s);
        rate = `${(s.rx_pps_per_cpu / 1e6).toFixed(2)} Mpps/CPU`;
      }
      done++;
      const left = ((performance.now() - t0) / done) * (total - done);
      process.stderr.write(`round ${r + 1}/${runs}, case ${i + 1}/${todo.length}: ${c.name.padEnd(36)} ${rate.padEnd(32)} about ${fmtTime(left)} left\n`);
    }
  }
} finally {
  await kernel?.close();
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mpps = (n: number): string => (n / 1e6).toFixed(2);
const stat = (name: string, f: (s: BenchSummary) => number): { med: number; lo: number; hi: number } => {
  const xs = results.get(name)!.map(f);
  return { med: median(xs), lo: Math.min(...xs), hi: Math.max(...xs) };
};
const cell = (name: string, f: (s: BenchSummary) => number = (s) => s.rx_pps_per_cpu): string => {
  const { med, lo, hi } = stat(name, f);
  return `${mpps(med)} (${mpps(lo)}–${mpps(hi)})`;
};
const ratio = (a: string, b: string, f: (s: BenchSummary) => number = (s) => s.rx_pps): string => (stat(a, f).med / stat(b, f).med).toFixed(2);

const lines: string[] = [];
const w = (s = ''): void => { lines.push(s); };
w('# xdpsim benchmarks');
w();
w(`Measured by \`npm run bench\` (scripts/bench.ts) on ${new Date().toISOString().slice(0, 10)}: ${osCpus()[0]?.model ?? '?'}, ${availableParallelism()} cores, Node ${process.version}.`);
w(`Each cell is the median of ${runs} runs of ${seconds} s (min–max in brackets), in Mpps per simulated CPU unless it says otherwise;`);
w('the cases run interleaved, round after round, so a noisy stretch of the machine falls on all of them alike.');
w('Traffic: UDP/IPv4, 64 flows, generated on the wire of in0\'s RX queues by the CPU that polls each (prepared frames, recycled).');
w('Every counter is on; tracepoints are off unless a row says otherwise (as on a kernel with no tracer attached; each costs one flag check);');
w('every run conserved its frames (checked, or the script fails).');
w();
w('## Modes (1 CPU)');
w();
w('| mode | 64 B | 1500 B | redirect/xmit at 64 B (Mpps) |');
w('| --- | --- | --- | --- |');
for (const mode of modes) {
  if (!results.has(`${mode} 64 B`)) continue;
  const extra = mode.startsWith('redirect') || mode === 'tx' ? cell(`${mode} 64 B`, (s) => s.xmit_pps) : '';
  w(`| ${mode} | ${cell(`${mode} 64 B`)} | ${results.has(`${mode} 1500 B`) ? cell(`${mode} 1500 B`) : ''} | ${extra} |`);
}
w();
w('## Beside the kernel (1 CPU, 64 B)');
w();
if (kernel === null) {
  w(`The kernel was not measured in this run: ${kernelWhy}. No ratio to the kernel is given: a figure from another run or another machine is not one.`);
  w();
  w('| case | kernel (Mpps) | kernel, own timing (Mpps) | xdpsim (Mpps) | xdpsim / kernel | xdpsim / kernel\'s own timing |');
  w('| --- | --- | --- | --- | --- | --- |');
  for (const k of KERNEL_MODES) w(`| ${k} | not measured | not measured | ${cell(`${k} 64 B`)} | not measured | not measured |`);
} else {
  w(`The kernel (${kernel.kernelRelease}) measured in the same rounds, each run right before xdpsim's run of the same mode: \`BPF_PROG_TEST_RUN\` with`);
  w('`BPF_F_TEST_XDP_LIVE_FRAMES`, the process pinned to one core, 64-byte UDP/IPv4 frames; the programs (scripts/kernel-bench/live.bpf.c)');
  w('do what xdpsim\'s bench programs do (tx swaps the MACs; the veth peers\' programs drop). The ratio is of the medians, with the');
  w('lowest and highest ratio of one round\'s pair of runs in brackets; below 1 xdpsim is slower than the kernel. Both rates are frames over');
  w('wall-clock time, as xdpsim\'s are; the kernel\'s own timing (test_run\'s `duration`, which leaves out each syscall\'s set-up and the time');
  w('it yielded the CPU) is given beside it, and the ratio to it in the last column.');
  w();
  w('| case | kernel (Mpps) | kernel, own timing (Mpps) | xdpsim (Mpps) | xdpsim / kernel | xdpsim / kernel\'s own timing |');
  w('| --- | --- | --- | --- | --- | --- |');
  const what: Record<KernelMode, string> = { drop: 'XDP_DROP', tx: 'XDP_TX (swap MACs) to a veth whose peer drops', redirect: 'bpf_redirect into a veth whose peer drops', 'redirect-map': 'devmap redirect into a veth whose peer drops' };
  for (const k of KERNEL_MODES) {
    const kx = kernelPps.get(`kernel ${k} 64 B`)!;
    const sx = results.get(`${k} 64 B`)!.map((r) => r.rx_pps);
    const per = sx.map((x, i) => x / kx[i]!);
    const km = median(kx);
    const ko = kernelOwnPps.get(`kernel ${k} 64 B`)!;
    const kom = median(ko);
    w(`| ${k}: ${what[k]} | ${mpps(km)} (${mpps(Math.min(...kx))}–${mpps(Math.max(...kx))}) | ${mpps(kom)} (${mpps(Math.min(...ko))}–${mpps(Math.max(...ko))}) | ${cell(`${k} 64 B`)} | ${(median(sx) / km).toFixed(2)}x (${Math.min(...per).toFixed(2)}–${Math.max(...per).toFixed(2)}) | ${(median(sx) / kom).toFixed(2)}x |`);
  }
}
if (!values.quick) {
  w();
  w('## Ablations');
  w();
  w('| case | Mpps per CPU | ratio |');
  w('| --- | --- | --- |');
  const pair = (a: string, b: string, f?: (s: BenchSummary) => number): void => {
    w(`| ${a} | ${cell(a)} | |`);
    w(`| ${b} | ${cell(b)} | ${ratio(b, a, f)} of the line above |`);
  };
  pair('redirect-map bulk 16', 'redirect-map bulk 1');
  pair('tx bulk 16', 'tx bulk 1');
  pair('drop 1 CPU', 'drop 2 CPUs');
  pair('redirect-map 1 CPU', 'redirect-map 2 CPUs');
  pair('redirect-map RCU on', 'redirect-map RCU off');
  pair('redirect-map tracing off', 'redirect-map error events on');
  w(`| redirect-map runtime default events | ${cell('redirect-map runtime default events')} | ${ratio('redirect-map runtime default events', 'redirect-map tracing off')} of tracing off |`);
  w(`| redirect-map all events on | ${cell('redirect-map all events on')} | ${ratio('redirect-map all events on', 'redirect-map tracing off')} of tracing off |`);
  w();
  w('The 2-CPU ratios are of total rx (Mpps summed over CPUs); the others of per-CPU rates.');
  w();
  w('## Packet operations and traffic (1 CPU)');
  w();
  w('| case | Mpps |');
  w('| --- | --- |');
  for (const n of ['drop parse-ip', 'tx no-touch', 'drop imix', 'drop ipv6 tcp-syn', 'drop 65536 flows']) w(`| ${n} | ${cell(n)} |`);
}
w();
w(`Peak RSS of the benchmark process, over the ${runs * todo.length} runtimes it started one after the other (all CPUs are threads of it): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB.`);
w('A runtime\'s frame pool is `frameSize x framesPerCpu x (cpus + 1)`: 32 MB for 1 CPU, 48 MB for 2 with the defaults (4096-byte frames, 4096 per CPU).');
w(`Total time ${((performance.now() - t0) / 1000).toFixed(0)} s.`);
const md = lines.join('\n') + '\n';
process.stdout.write(md);
if (values.write !== undefined) {
  writeFileSync(values.write, md);
  process.stderr.write(`written to ${values.write}\n`);
}
