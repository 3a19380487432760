/*
 * npm run bench (scripts/bench.ts): it prints its report and writes a file
 * only when asked (--write), says case, round and time left as it goes, and
 * where the kernel is not measured the table says why and gives no ratio.
 * No timing assertions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const bench = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', '--quick', '--runs', '1', '--seconds', '0.2', '--no-kernel', ...args],
  { cwd: root, encoding: 'utf8', timeout: 120_000 });

test('npm run bench: the report on stdout, progress on stderr, a file only with --write, no ratio without the kernel', () => {
  const before = readFileSync(join(root, 'BENCHMARKS.md'), 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'xdpsim-bench-'));
  try {
    const out = join(dir, 'b.md');
    const r = bench('--write', out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(root, 'BENCHMARKS.md'), 'utf8'), before, 'the checkout\'s BENCHMARKS.md was not touched');
    assert.equal(readFileSync(out, 'utf8'), r.stdout);
    assert.match(r.stderr, /^kernel: not measured: not asked for \(--no-kernel\)$/m);
    const progress = r.stderr.split('\n').filter((l) => l.startsWith('round '));
    assert.deepEqual(progress.map((l) => /^round (\d+\/\d+), case (\d+\/\d+): (\S+ 64 B) .* about \d+s left$/.exec(l)?.slice(1, 4)), [
      'drop', 'pass', 'tx', 'redirect', 'redirect-map', 'redirect-multi', 'redirect-cpu', 'redirect-xsk',
    ].map((m, i) => ['1/1', `${i + 1}/8`, `${m} 64 B`]));
    assert.match(r.stdout, /^## Beside the kernel \(1 CPU, 64 B\)$/m);
    assert.match(r.stdout, /^The kernel was not measured in this run: not asked for \(--no-kernel\)\. No ratio to the kernel is given/m);
    for (const m of ['drop', 'tx', 'redirect', 'redirect-map']) assert.match(r.stdout, new RegExp(`^\\| ${m} \\| not measured \\| not measured \\| \\d+\\.\\d\\d \\(.*\\) \\| not measured \\| not measured \\|$`, 'm'));
    const again = bench();
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /written to/);
    assert.equal(readFileSync(join(root, 'BENCHMARKS.md'), 'utf8'), before, 'without --write nothing is written');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run bench refuses bad options in one line', () => {
  const r = bench('--runs', '0');
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), 'Error: --runs must be a positive integer and --seconds a positive number');
});
