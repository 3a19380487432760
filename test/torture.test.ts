/*
 * xdpsim torture: a clean seeded run passes (no violation, no leak,
 * conserved, every record readers held at pipeline age 0); each planted
 * fault fails its run, named in the summary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/xdpsim.mjs', import.meta.url));
const torture = (...args: string[]) => {
  const r = spawnSync(process.execPath, [bin, 'torture', '--json', ...args], { encoding: 'utf8', timeout: 90_000 });
  return { status: r.status, stderr: r.stderr, s: JSON.parse(r.stdout.trim().split('\n').at(-1)!) };
};

test('a clean torture run: ok, seeded, nothing leaked, pipeline age 0 only', () => {
  const { status, s, stderr } = torture('--duration', '3', '--seed', '42');
  assert.equal(status, 0, stderr + JSON.stringify(s.failures));
  assert.equal(s.ok, true);
  assert.equal(s.seed, 42);
  assert.equal(s.cpus, 2);
  assert.ok(s.duration_s >= 3 && s.duration_s < 10);
  assert.ok(s.updates > 3000, `updates ${s.updates}`);
  assert.ok(s.unregisters > 0 && s.grace_periods > 0);
  /*
   * traffic ran beside the writers: about 560k frames in 3 s on an idle 2-core machine, under 40k with two
   * busy loops and another test run beside it; the bound is that readers used records while they were replaced
   */
  assert.ok(s.frames_in > 10_000, `frames_in ${s.frames_in}`);
  assert.ok(s.records_checked > 1000, `records_checked ${s.records_checked}`);
  assert.equal(s.frames_out, s.frames_in);
  assert.equal(s.violations, 0);
  assert.equal(s.leaked_frames, 0);
  assert.equal(s.conserved, true);
  assert.deepEqual(s.pipeline.slice(1), [0, 0, 0]);
  assert.equal(s.pipeline[0], s.records_checked);
  assert.deepEqual(s.failures, []);
  /* every writer error counted by errno; the only expected one is EINVAL for a target being unregistered */
  assert.deepEqual(Object.keys(s.writer_errors).filter((c) => c !== 'EINVAL'), [], JSON.stringify(s.writer_errors));
  assert.deepEqual(s.writer_errors_unexpected, {});
  assert.equal(s.planted_writer_faults, 0);
  assert.equal(s.interrupted, null);
  /* the process's RSS at the trial's start, its peak (sampled every second) and end */
  const r = s.rss_bytes;
  assert.ok(r.start > 10 * 2 ** 20 && r.end > 10 * 2 ** 20, JSON.stringify(r));
  assert.ok(r.peak >= r.start && r.peak >= r.end, JSON.stringify(r));
});

test('torture counts every writer error: one target, its unregisters make EINVALs, expected, reported; the run passes', () => {
  const r = spawnSync(process.execPath, [bin, 'torture', '--duration', '2', '--seed', '42', '--targets', '1', '--interval', '0'], { encoding: 'utf8', timeout: 90_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^summary: OK {2}seed 42 /m);
  /* each unregister takes a grace period; the writer's updates to the one target meanwhile get EINVAL, as in the kernel */
  const m = /^ {2}writer errors: EINVAL ([\d,]+) \(([\d,]+) expected: the target was being unregistered\) {2}unexpected: none$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(Number(m[1]!.replace(/,/g, '')) > 0);
  assert.equal(m[2], m[1]);
  assert.match(r.stdout, /^ {2}rss: start \d+\.\d MB {2}peak \d+\.\d MB {2}end \d+\.\d MB$/m);
});

test('an unexpected writer error fails the run: the planted stale-ifindex fault, each counted by errno', () => {
  const { status, s } = torture('--duration', '2', '--seed', '3', '--inject', 'stale-ifindex');
  assert.equal(status, 1);
  assert.equal(s.ok, false);
  assert.deepEqual(s.inject, ['stale-ifindex']);
  assert.ok(s.planted_writer_faults > 0, `planted ${s.planted_writer_faults}`);
  /* every stale write came back as EINVAL, none was taken for an unregister's */
  assert.deepEqual(s.writer_errors_unexpected, { EINVAL: s.planted_writer_faults });
  assert.ok(s.writer_errors.EINVAL >= s.planted_writer_faults);
  assert.equal(s.failures.length, 1, JSON.stringify(s.failures));
  assert.match(s.failures[0], new RegExp(`^${s.planted_writer_faults} unexpected writer errors: EINVAL ${s.planted_writer_faults} \\(first: EINVAL: map 'tx[h]?' \\(id \\d+\\) update: value: no device with ifindex \\d+\\)$`));
  /* the data path itself was fine */
  assert.equal(s.violations, 0);
  assert.equal(s.leaked_frames, 0);
  assert.equal(s.conserved, true);
});

const named: Record<string, RegExp> = {
  'no-gp': /read-side violations: records used after their grace period/,
  'short-gp': /read-side violations: records used after their grace period/,
  'early-qs': /read-side violations: records used after their grace period/,
  'flush-outside': /quiescent states reported with bulk queues still pending/,
};

for (const fault of Object.keys(named)) {
  test(`torture catches the planted fault ${fault}`, () => {
    const { status, s } = torture('--duration', '2.5', '--seed', '3', '--inject', fault);
    assert.equal(status, 1);
    assert.equal(s.ok, false);
    assert.deepEqual(s.inject, [fault]);
    assert.ok(s.violations > 0);
    assert.match(s.failures.join('\n'), named[fault]!);
  });
}
