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
  assert.match(c.stderr, /--prog FILE \(or a scenario FILE\) is required/);
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

test('xdpsim map: create, update (dev names, a devmap program), lookup, dump, delete, errors', () => {
  const prog = fileURLToPath(new URL('./fixtures/prog-two.ts', import.meta.url));
  const r = xdpsim('map', '--json', '--prog', prog,
    'create', 'fwd', 'type', 'devmap_hash', 'key', '4', 'value', '8', 'entries', '8', '--',
    'update', 'name', 'fwd', 'key', 'dev', 'in0', 'value', 'dev', 'out1', 'prog', 'devmap_prog', '--',
    'update', 'name', 'fwd', 'key', '7', 'value', 'dev', 'out2', 'noexist', '--',
    'lookup', 'name', 'fwd', 'key', '7', '--',
    'dump', 'name', 'fwd', '--',
    'delete', 'name', 'fwd', 'key', '7', '--',
    'update', 'name', 'fwd', 'key', '7', 'value', 'dev', 'out2', 'noexist', '--',
    'update', 'name', 'fwd', 'key', '7', 'value', 'dev', 'out2', 'noexist');
  assert.equal(r.status, 1);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  /* the scenario: lo 1, in0 2, in0p 3, out0 4, outp0 5, out1 6, outp1 7, out2 8 */
  assert.deepEqual(lines[0], { id: lines[0].id, name: 'fwd', type: 'BPF_MAP_TYPE_DEVMAP_HASH' });
  assert.deepEqual(lines.slice(1, 3), [null, null]);
  assert.deepEqual(lines[3], { key: ['0x07', '0x00', '0x00', '0x00'], value: ['0x08', '0x00', '0x00', '0x00', '0x00', '0x00', '0x00', '0x00'] });
  /* bucket order: key 2 (in0) in bucket 2, key 7 in bucket 7; the devmap program's id in the value */
  assert.equal(lines[4].length, 2);
  assert.deepEqual(lines[4][0].key, ['0x02', '0x00', '0x00', '0x00']);
  assert.deepEqual(lines[4][0].value.slice(0, 4), ['0x06', '0x00', '0x00', '0x00']);
  assert.notDeepEqual(lines[4][0].value.slice(4), ['0x00', '0x00', '0x00', '0x00']);
  assert.deepEqual(lines.slice(5), [null, null]);
  assert.match(r.stderr, /^Error: update failed: EEXIST: map 'fwd' \(id \d+\) update: flags BPF_NOEXIST: key 7 exists$/m);
  const bad = xdpsim('map', 'update', 'name', 'tx_ports', 'key', '70', 'value', '4');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /Error: update failed: E2BIG: .*key 70 >= max_entries 64/);
  const plain = xdpsim('map', 'dump', 'name', 'tx_ports');
  assert.equal(plain.status, 0);
  assert.match(plain.stdout, /^key: 00 00 00 00  value: 04 00 00 00$/m);
  assert.match(plain.stdout, /^key: 3f 00 00 00  <no entry>$/m);
  assert.match(plain.stdout, /^Found 3 elements$/m);
});

test('xdpsim demo --scenario redirect: rates per egress device, conserved', () => {
  const r = xdpsim('demo', '--scenario', 'redirect', '--duration', '1', '--ports', '2', '--json');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.equal(s.scenario, 'redirect');
  assert.equal(s.conserved, true);
  assert.equal(s.received.length, 2);
  assert.equal(s.received[0] + s.received[1], s.frames_in);
  assert.ok(s.received[0] > 0 && s.received[1] > 0);
});
