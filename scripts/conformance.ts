/*
 * npm run conformance [-- OPTIONS]: the conformance corpus
 * (conformance/cases.ts) on the real kernel and in xdpsim, compared.
 *
 *   --case NAME      only this case (repeatable; a prefix matches too)
 *   --no-kernel      skip the kernel half (compare xdpsim with the recordings)
 *   --record         write the kernel's results to conformance/expected/
 *   --twins          run the xdpsim half with the TypeScript twins
 *                    (conformance/corpus/ts/) instead of the compiled objects
 *   --verbose        print every case's result
 *
 * Each case prints PASS, FAIL (with a diff of what differed), KNOWN (a
 * difference the case description records, with its reason and diff) or
 * ERROR. The kernel half needs root, cc and libbpf (without clang the
 * committed corpus objects are used, see test/objects.ts); without them it
 * is skipped with the reason and xdpsim is compared with the results
 * recorded from the kernel. Exit status 1 if any case failed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CASES, type CaseSpec } from '../conformance/cases.ts';
import { CORPUS_DIR, compileCorpus, toolVersion } from '../conformance/compile.ts';
import { KernelHarness, kernelUnavailable } from '../conformance/kernel.ts';
import { diffResults, normalize, type CaseResult } from '../conformance/result.ts';
import { runSim } from '../conformance/sim.ts';
import { judge, loadExpected, saveExpected } from '../conformance/suite.ts';
import { CONFORMANCE_CORPUS, fixture } from '../test/objects.ts';

const argv = process.argv.slice(2);
const opt = { cases: [] as string[], kernel: true, record: false, twins: false, verbose: false };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a === '--case') opt.cases.push(argv[++i] ?? '');
  else if (a === '--no-kernel') opt.kernel = false;
  else if (a === '--record') opt.record = true;
  else if (a === '--twins') opt.twins = true;
  else if (a === '--verbose' || a === '-v') opt.verbose = true;
  else if (a === '--help' || a === '-h') {
    console.log('usage: npm run conformance -- [--case NAME]... [--no-kernel] [--record] [--twins] [--verbose]');
    process.exit(0);
  } else {
    console.error(`conformance: unknown argument ${a}`);
    process.exit(2);
  }
}

const cases: CaseSpec[] = opt.cases.length === 0 ? CASES : CASES.filter((c) => opt.cases.some((n) => c.name === n || c.name.startsWith(n)));
if (cases.length === 0) {
  console.error(`conformance: no case matches ${opt.cases.join(', ')}`);
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'xdpconf-'));
let kernel: KernelHarness | null = null;
const cleanup = (): void => {
  try { kernel?.close(); } catch (e) { console.error(`conformance: cleanup: ${(e as Error).message}`); }
  rmSync(work, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.error(`\nconformance: ${sig}: removing namespaces and the trace instance`);
    cleanup();
    process.exit(130);
  });
}

async function main(): Promise<number> {
  const t0 = Date.now();
  const clang = toolVersion('clang');
  let objects: Map<string, string>;
  if (clang !== null) {
    objects = compileCorpus(cases.map((c) => c.source), work);
    console.log(`compiled ${objects.size} corpus objects with ${clang}`);
  } else {
    objects = new Map(cases.map((c) => [c.source, fixture(c.source, 'v3', [], CONFORMANCE_CORPUS)]));
    console.log('clang is not installed: the committed corpus objects (conformance/corpus/obj/*.v3.o, npm run fixtures) are used');
  }

  let why = !opt.kernel ? 'skipped (--no-kernel)' : kernelUnavailable();
  if (why === null) {
    try {
      kernel = KernelHarness.open(work);
    } catch (e) {
      why = (e as Error).message.split('\n')[0]!;
    }
  }
  if (kernel) console.log(`kernel half: ${kernel.kernel}`);
  else console.log(`kernel half: not run: ${why}; xdpsim is compared with the results recorded from the kernel`);
  if (opt.record && !kernel) {
    console.error('conformance: --record needs the kernel half');
    return 2;
  }

  const counts = { pass: 0, fail: 0, known: 0, error: 0 };
  for (const c of cases) {
    const lines: string[] = [];
    let status: 'PASS' | 'FAIL' | 'KNOWN' | 'ERROR' = 'PASS';
    try {
      let kres: CaseResult | null = null;
      if (kernel) {
        kres = normalize(await kernel.run(c, objects.get(c.source)!), c.ifindexKeys);
        if (kres.load === 'EPERM' && c === cases[0]) {
          console.log('kernel half: loading a program failed with EPERM (no BPF permission); not run');
          kernel.close();
          kernel = null;
          kres = null;
        }
      }
      const objPath = opt.twins ? join(CORPUS_DIR, 'ts', `${c.source}.ts`) : objects.get(c.source)!;
      const sres = normalize(await runSim(c, objPath), c.ifindexKeys);
      const rec = loadExpected(c.name);
      if (kres && opt.record) {
        saveExpected(c.name, kernel!.kernel, kres);
        lines.push(`  recorded conformance/expected/${c.name}.json`);
      } else if (kres && rec) {
        const d = diffResults(rec.result, kres, `recorded (${rec.recorded.kernel})`, 'kernel');
        if (d.length > 0) {
          status = 'FAIL';
          lines.push('  the kernel no longer matches its recording (run with --record after checking why):', ...d.map((x) => `    ${x}`));
        }
      } else if (kres && !rec) {
        lines.push(`  no recording yet (run with --record)`);
      }
      const ref = kres ?? rec?.result ?? null;
      if (ref === null) {
        status = 'ERROR';
        lines.push('  no kernel result and no recording to compare xdpsim with');
      } else {
        const v = judge(c, sres, ref, kres ? 'kernel' : 'recorded');
        if (v.status === 'fail') {
          status = 'FAIL';
          lines.push('  xdpsim differs from the kernel:', ...v.diff.map((x) => `    ${x}`));
        } else if (v.status === 'known') {
          if (status === 'PASS') status = 'KNOWN';
          lines.push(`  known difference: ${c.knownDifference}`, ...v.diff.map((x) => `    ${x}`));
        } else if (v.status === 'fixed') {
          status = 'FAIL';
          lines.push(`  marked as a known difference (${c.knownDifference}) but xdpsim now matches: remove the mark`);
        }
      }
      if (opt.verbose) {
        const short = (r: CaseResult): CaseResult => ({
          ...r,
          delivered: Object.fromEntries(Object.entries(r.delivered).map(([d, f]) =>
            [d, f.map((x) => `${x.length / 2} bytes: ${x.slice(0, 64)}${x.length > 64 ? '...' : ''}`)])),
        });
        lines.push(...JSON.stringify({ xdpsim: short(sres), kernel: kres ? short(kres) : undefined }, null, 2).split('\n').map((x) => `  ${x}`));
      }
    } catch (e) {
      status = 'ERROR';
      lines.push(`  ${((e as Error).stack ?? String(e)).split('\n').slice(0, 6).join('\n  ')}`);
    }
    counts[status === 'PASS' ? 'pass' : status === 'FAIL' ? 'fail' : status === 'KNOWN' ? 'known' : 'error']++;
    console.log(`${status.padEnd(5)} ${c.name}: ${c.title}`);
    for (const l of lines) console.log(l);
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`${cases.length} cases: ${counts.pass} pass, ${counts.known} known differences, ${counts.fail} fail, ${counts.error} errors ` +
    `(kernel half ${kernel ? 'run' : 'not run'}; xdpsim with ${opt.twins ? 'the TypeScript twins' : 'the compiled objects'}; ${secs} s)`);
  return counts.fail + counts.error > 0 ? 1 : 0;
}

main().then((code) => {
  cleanup();
  process.exit(code);
}, (e: unknown) => {
  console.error(`conformance: ${(e as Error).stack ?? e}`);
  cleanup();
  process.exit(1);
});
