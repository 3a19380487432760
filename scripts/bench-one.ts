/* One bench run with any BenchOptions as JSON: node --import tsx scripts/bench-one.ts '{"mode":"redirect-map"}' */
import { runBench, summaryLines, type BenchOptions } from '../src/bench/bench.ts';
const o = JSON.parse(process.argv[2] ?? '{"mode":"drop"}') as BenchOptions;
const s = await runBench({ duration: 3, interval: 0, ...o });
for (const l of summaryLines(s)) console.log(l);
