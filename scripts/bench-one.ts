import { runBench, summaryLines, type BenchMode } from '../src/bench/bench.ts';
const mode = (process.argv[2] ?? 'drop') as BenchMode;
const cpus = Number(process.argv[3] ?? 1);
const s = await runBench({ mode, cpus, duration: Number(process.argv[4] ?? 3), pktSize: Number(process.argv[5] ?? 64) }, console.log);
for (const l of summaryLines(s)) console.log(l);
console.log(JSON.stringify(s.generator));
