/*
 * npm run bench: every bench mode and the ablations, interleaved (round r
 * runs every case once, so a noisy stretch of the machine hits all cases
 * alike), each case the median of --runs with its spread; writes
 * BENCHMARKS.md and prints it.
 *
 *   node --import tsx scripts/bench.ts [--runs 3] [--seconds 2] [--out BENCHMARKS.md] [--quick]
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus as osCpus } from 'node:os';
import { runBench, type BenchOptions, type BenchSummary } from '../src/bench/bench.ts';

const { values } = parseArgs({ options: {
  runs: { type: 'string', default: '3' },
  seconds: { type: 'string', default: '2' },
  out: { type: 'string', default: 'BENCHMARKS.md' },
  quick: { type: 'boolean', default: false },
} });
const runs = Number(values.runs);
const seconds = Number(values.seconds);

interface Case { group: string; name: string; o: BenchOptions }
const cases: Case[] = [];
const add = (group: string, name: string, o: Omit<BenchOptions, 'duration' | 'interval'>): void => {
  cases.push({ group, name, o: { ...o, duration: seconds, interval: 0 } });
};
const modes = ['drop', 'pass', 'tx', 'redirect', 'redirect-map', 'redirect-multi', 'redirect-cpu', 'redirect-xsk'] as const;
for (const mode of modes) for (const size of [64, 1500]) add('modes', `${mode} ${size} B`, { mode, pktSize: size });
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
const todo = values.quick ? cases.filter((c) => c.group === 'modes' && c.name.endsWith(' 64 B')) : cases;

const results = new Map<string, BenchSummary[]>();
const t0 = performance.now();
for (let r = 0; r < runs; r++) {
  for (const c of todo) {
    const s = await runBench(c.o);
    if (!s.conserved) throw new Error(`${c.name}: frames not conserved (leaked ${s.leaked_frames})`);
    (results.get(c.name) ?? results.set(c.name, []).get(c.name)!).push(s);
    process.stderr.write(`round ${r + 1}/${runs} ${c.name.padEnd(34)} ${(s.rx_pps_per_cpu / 1e6).toFixed(2)} Mpps/CPU\n`);
  }
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
w(`Written by \`npm run bench\` (scripts/bench.ts) on ${new Date().toISOString().slice(0, 10)}: ${osCpus()[0]?.model ?? '?'}, ${availableParallelism()} cores, Node ${process.version}.`);
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
if (!values.quick) {
  w();
  w('The kernel on this machine, one core, BPF_PROG_TEST_RUN with live frames, 64-byte frames (issue 5): XDP_DROP about 19 Mpps, a devmap redirect into a veth whose peer drops about 7.4 Mpps.');
  w(`xdpsim / kernel: drop ${(stat('drop 64 B', (s) => s.rx_pps).med / 19e6).toFixed(2)}x, redirect-map ${(stat('redirect-map 64 B', (s) => s.rx_pps).med / 7.4e6).toFixed(2)}x.`);
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
writeFileSync(values.out!, md);
process.stdout.write(md);
