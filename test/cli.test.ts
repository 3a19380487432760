/* The command line: help on every command, usage errors, and the demo's default scenario. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/xdpsim.mjs', import.meta.url));
const xdpsim = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

test('xdpsim --help, and --help on each command', () => {
  const r = xdpsim('--help');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /commands:\n  demo .*\n  run /);
  for (const cmd of ['demo', 'run']) {
    const h = xdpsim(cmd, '--help');
    assert.equal(h.status, 0, h.stderr);
    assert.match(h.stdout, new RegExp(`^usage: xdpsim ${cmd}`));
  }
});

test('usage errors exit 2 and say what was wrong', () => {
  const a = xdpsim('demo', '--cpus', 'zero');
  assert.equal(a.status, 2);
  assert.match(a.stderr, /--cpus zero: must be an integer in 1\.\.64/);
  const b = xdpsim('bogus');
  assert.equal(b.status, 2);
  assert.match(b.stderr, /unknown command 'bogus'/);
  const c = xdpsim('run');
  assert.equal(c.status, 2);
  assert.match(c.stderr, /--prog FILE is required/);
});

test('xdpsim demo: a line of rates per second, a summary, exit 0', () => {
  const r = xdpsim('demo', '--duration', '2');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0]!, /^xdpsim demo: 2 CPUs .* xdp_count on veth0 returning XDP_DROP/);
  const rates = lines.filter((l) => /^\[\ds\] veth0: rx [\d,]+ pps  drop [\d,]+/.test(l));
  assert.ok(rates.length >= 1 && rates.length <= 2, `rate lines: ${rates.length}`);
  assert.match(r.stdout, /frames: injected [\d,]+ = .*: conserved/);
  assert.match(r.stdout, /xdp_count's per-CPU map counted [\d,]+ packets/);
});

test('xdpsim run --json: a program file on veth0, exact counts', () => {
  const prog = fileURLToPath(new URL('./fixtures/prog-two.ts', import.meta.url));
  const r = xdpsim('run', '--prog', `${prog}:prog_b`, '--count', '500', '--cpus', '2', '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  const v0 = s.devices.find((d: { name: string }) => d.name === 'veth0');
  assert.equal(v0.rx_packets, 500);
  assert.equal(v0.xdp_pass, 500);
  assert.equal(s.conserved, true);
  const bad = xdpsim('run', '--prog', `${prog}:nope`);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /no program nope; it has devmap_prog, prog_a, prog_b/);
});
