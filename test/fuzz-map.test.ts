/*
 * The numbers of `xdpsim map` and of the control socket's `map` request
 * (src/cli-map.ts, issue 15 point 3): every number fits its field exactly
 * or fails with a one-line `Error: FIELD: ...` that names the field and its
 * size; 64-bit values are exact; what strtoul() would take but is not a
 * plain number ('', '+5', ' 5', '1e3', ...) is refused. First a test per
 * defect (each failed before the fix), then a seeded fuzz of the grammar
 * against a scene with traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.ts';
import { ControlClient } from '../src/control.ts';
import { Runtime } from '../src/index.ts';

const example = (name: string): string => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

/** `xdpsim map ARGS...` in this process: its status and the lines it printed. */
async function xdpsimMap(...args: string[]): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(['map', ...args], (s) => out.push(s), (s) => err.push(s));
  return { status, out, err };
}

/** A runtime with the redirect demo's devices, maps and program, and its control socket. */
async function scene(cpus: number): Promise<{ rt: Runtime; sock: string }> {
  const rt = await Runtime.start({ cpus });
  const [in0] = rt.createVeth('in0', 'in0p', { rxQueues: cpus });
  const counter = await rt.loadObject(example('xdp_count.ts'));
  for (let i = 0; i < 3; i++) rt.createVeth(`out${i}`, `outp${i}`, { rxQueues: cpus }, { rxQueues: cpus })[1].attachXdp(counter.progs.xdp_count!);
  const obj = await rt.loadObject(example('xdp_redirect_flows.ts'));
  obj.maps.cfg!.update(0, 3);
  for (let i = 0; i < 3; i++) obj.maps.tx_ports!.update(i, rt.device(`out${i}`).ifindex);
  in0!.attachXdp(obj.progs.xdp_redirect_flows!);
  const sock = join(mkdtempSync(join(tmpdir(), 'xdpsim-fuzz-map-')), 'x.sock');
  await rt.listen(sock);
  return { rt, sock };
}

/** One `map` request on a fresh connection (a ControlClient takes a 'close' listener per request). */
async function socketMap(sock: string, args: string[]): Promise<{ ok: boolean; result?: unknown; error?: string }> {
  const c = await ControlClient.connect(sock);
  try {
    return await c.request('map', { args });
  } finally {
    c.close();
  }
}

const A8 = ['create', 'a8', 'type', 'hash', 'key', '4', 'value', '8', 'entries', '4'];

test('xdpsim map: a u64 value is exact (2^64-1, 2^53+1), a u64 that does not fit and a u32 key that does not fit are errors', async () => {
  /* before: 2^64-1 stored 0 (Number rounds it up to 2^64, which wraps), 2^53+1 stored 2^53 */
  const good = await xdpsimMap(...A8, '--',
    'update', 'name', 'a8', 'key', '1', 'value', '18446744073709551615', '--',
    'update', 'name', 'a8', 'key', '2', 'value', '9007199254740993', '--',
    'lookup', 'name', 'a8', 'key', '1', '--',
    'lookup', 'name', 'a8', 'key', '2', '--',
    /* before: a RangeError out of main(), not an Error line: 'prog' wrote at offset 4 of a 4-byte value */
    'update', 'name', 'cfg', 'key', '0', 'value', '1', 'prog', 'xdp_redirect_flows');
  assert.deepEqual(good.out, [
    'key: 01 00 00 00  value: ff ff ff ff ff ff ff ff',
    'key: 02 00 00 00  value: 01 00 00 00 00 00 20 00',
  ]);
  assert.deepEqual(good.err, ["Error: value: 'prog PROG' needs an 8-byte value (struct bpf_devmap_val), this map's is 4 bytes"]);
  assert.equal(good.status, 1);
  /* before: key 4294967297 wrote key 1, and the run exited 0 */
  const key = await xdpsimMap('--scenario', 'none', ...A8, '--', 'update', 'name', 'a8', 'key', '4294967297', 'value', '5', '--', 'dump', 'name', 'a8');
  assert.deepEqual(key, { status: 1, out: [], err: ['Error: key: 4294967297 does not fit the 4-byte field (0..4294967295)'] });
});

test('the socket and xdpsim map --socket: 2^64 and 2^32+1 fail naming the field; nothing is written', async () => {
  const { rt, sock } = await scene(1);
  try {
    assert.deepEqual(await socketMap(sock, A8), { id: 1, ok: true, result: [] });
    assert.deepEqual(await socketMap(sock, ['update', 'name', 'a8', 'key', '1', 'value', '18446744073709551616']),
      { id: 1, ok: false, error: 'value: 18446744073709551616 does not fit the 8-byte field (0..18446744073709551615)' });
    assert.deepEqual(await socketMap(sock, ['update', 'name', 'a8', 'key', '0x100000001', 'value', '1']),
      { id: 1, ok: false, error: 'key: 0x100000001 does not fit the 4-byte field (0..4294967295)' });
    const cli = await xdpsimMap('--socket', sock, 'update', 'name', 'a8', 'key', '4294967297', 'value', '5', '--', 'dump', 'name', 'a8');
    assert.deepEqual(cli, { status: 1, out: [], err: ['Error: key: 4294967297 does not fit the 4-byte field (0..4294967295)'] });
    assert.deepEqual([...rt.mapsByName().get('a8')!.keys()], []);
    const ok = await xdpsimMap('--socket', sock, 'update', 'name', 'a8', 'key', '4294967295', 'value', '0xffffffffffffffff', '--', 'dump', 'name', 'a8');
    assert.deepEqual(ok, { status: 0, out: ['key: ff ff ff ff  value: ff ff ff ff ff ff ff ff', 'Found 1 element'], err: [] });
  } finally {
    await rt.stop();
  }
});

/* what strtoul(s, &end, 0) with *end == 0 takes, or Number() takes, that is not a plain number */
const NOT_NUMBERS = ['', '1e3', '+5', '-1', '-0', ' 5', '5 ', '\t5', '5.0', '.5', '0x', '0X', '08', '0b1', '0o7', 'Infinity', 'NaN', '1_000', '1,000', '5n', '0x-1', '0xg', '\uff15', '5\n'];
const q = (s: string): string => `'${JSON.stringify(s).slice(1, -1)}'`;

test('the socket: tokens that are not plain numbers are refused in keys, values, byte lists and create sizes, naming the field', async () => {
  const { rt, sock } = await scene(1);
  try {
    assert.equal((await socketMap(sock, ['create', 'h4', 'type', 'hash', 'key', '4', 'value', '4', 'entries', '4'])).ok, true);
    const h4 = rt.mapsByName().get('h4')!;
    const NUM = '(decimal, 0x hex or 0 octal: no sign, space, point, exponent or separator)';
    for (const t of NOT_NUMBERS) {
      const bad = async (args: string[], error: string): Promise<void> => {
        assert.deepEqual(await socketMap(sock, args), { id: 1, ok: false, error }, `${JSON.stringify(args)}`);
      };
      await bad(['update', 'name', 'h4', 'key', t, 'value', '1'], `key: ${q(t)} is not a number ${NUM}`);
      await bad(['update', 'name', 'h4', 'key', '1', 'value', t], `value: ${q(t)} is not a number ${NUM}`);
      await bad(['update', 'name', 'h4', 'key', '1', '2', t, '4', 'value', '1'], `key: byte 3 of 4: ${q(t)} is not a number ${NUM}`);
      await bad(['lookup', 'name', 'h4', 'key', t], `key: ${q(t)} is not a number ${NUM}`);
      await bad(['create', 'c', 'type', 'hash', 'key', t, 'value', '4', 'entries', '4'], `key size: ${q(t)} is not a number ${NUM}`);
      await bad(['create', 'c', 'type', 'hash', 'key', '4', 'value', '4', 'entries', t], `entries: ${q(t)} is not a number ${NUM}`);
      await bad(['create', 'c', 'type', 'hash', 'key', '4', 'value', '4', 'entries', '4', 'flags', t], `flags: ${q(t)} is not a number ${NUM}`);
    }
    assert.deepEqual([...h4.keys()], [], 'nothing was written');
    assert.equal(rt.mapsByName().has('c'), false, 'nothing was created');
    /* octal and hex as strtoul(..., 0) reads them, per byte as bpftool does, and for the whole field */
    for (const [k, v] of [['017', '0X1F'], ['0', '00'], ['0x0000000000000000000007', '0377 0 0 0']]) {
      assert.deepEqual(await socketMap(sock, ['update', 'name', 'h4', 'key', k!, 'value', ...v!.split(' ')]), { id: 1, ok: true, result: [] });
    }
    const dump = (await socketMap(sock, ['dump', 'name', 'h4'])).result as string[];
    assert.deepEqual([...dump.slice(0, -1)].sort(), ['key: 00 00 00 00  value: 00 00 00 00', 'key: 07 00 00 00  value: ff 00 00 00', 'key: 0f 00 00 00  value: 1f 00 00 00']);
    assert.equal(dump.at(-1), 'Found 3 elements');
  } finally {
    await rt.stop();
  }
});

test('the socket: byte lists (bpftool parse_bytes: exactly the field\'s bytes, each 0..255), hex bytes, trailing words', async () => {
  const { rt, sock } = await scene(1);
  try {
    assert.equal((await socketMap(sock, ['create', 'b3', 'type', 'hash', 'key', '2', 'value', '3', 'entries', '4'])).ok, true);
    const cases: [string[], string][] = [
      /* before: 'key 256 0 0 0' looked up key 256 and ignored the rest */
      [['lookup', 'name', 'cfg', 'key', '256', '0', '0', '0'], 'key: byte 1 of 4: 256 does not fit a byte (0..255)'],
      [['lookup', 'name', 'cfg', 'key', '0', 'junk'], "key: byte 2 of 4: 'junk' is not a number (decimal, 0x hex or 0 octal: no sign, space, point, exponent or separator)"],
      [['lookup', 'name', 'cfg', 'key', '0', '0', '0'], 'key: expected 4 bytes, got 3'],
      [['lookup', 'name', 'cfg', 'key', '0', '0', '0', '0', '0'], 'key: expected 4 bytes, got 5'],
      [['update', 'name', 'b3', 'key', '1', 'value', '1', '2', '3'], 'key: expected 2 bytes, got 1 (one number fills only a 1-, 4- or 8-byte field)'],
      [['update', 'name', 'b3', 'key', '1', '0x100', 'value', '1', '2', '3'], 'key: byte 2 of 2: 0x100 does not fit a byte (0..255)'],
      [['update', 'name', 'b3', 'key', 'hex', '01', '1ff', 'value', '1', '2', '3'], "key: byte 2 of 2: '1ff' is not a hex byte (1 or 2 hex digits, 0x optional)"],
      [['update', 'name', 'b3', 'key', 'hex', '01', 'value', '1', '2', '3'], 'key: expected 2 bytes, got 1'],
      [['update', 'name', 'b3', 'key', '1', '2', 'value', '1', '2'], 'value: expected 3 bytes, got 2'],
      [['update', 'name', 'b3', 'key', '1', '2'], "update: expected 'value VALUE' after the key"],
      [['update', 'name', 'b3', 'key', '1', '2', 'value', '1', '2', '3', 'any', 'junk'], "update: unexpected 'junk' after the flag"],
      [['update', 'name', 'b3', 'key', 'dev', 'in0', 'value', '1', '2', '3'], 'key: an ifindex (dev NAME) needs 4 bytes, the field has 2'],
      [['update', 'name', 'cfg', 'key', 'dev', 'nope', 'value', '1'], "key: dev 'nope': ENODEV: no device named 'nope'"],
      [['dump', 'name', 'cfg', 'junk'], "dump: unexpected 'junk'"],
      [['show', 'junk'], "show: unexpected 'junk'"],
      [['getnext', 'name', 'cfg', 'junk'], "getnext: expected 'key KEY' or nothing, got 'junk'"],
      [['create', 'c', 'type', 'hash', 'key', '4', 'value', '4', 'entries', '4', 'flags'], "create: 'flags' needs a value"],
      [['create', 'c', 'type', 'hash', 'key', '4', 'key', '4', 'value', '4', 'entries', '4'], "create: 'key' given twice"],
      [['create', 'c', 'type', 'hash', 'key', '4', 'value', '4', 'entires', '4'], "create: unknown argument 'entires' (type, key, value, entries, flags)"],
      [['create', 'c', 'type', 'hash', 'key', '4', 'value', '4'], "create: missing 'entries N'"],
      [['create', 'c', 'type', 'hash', 'key', '4', 'value', '4294967296', 'entries', '4'], 'value size: 4294967296 does not fit the 4-byte field (0..4294967295)'],
    ];
    for (const [args, error] of cases) assert.deepEqual(await socketMap(sock, args), { id: 1, ok: false, error }, JSON.stringify(args));
    assert.deepEqual([...rt.mapsByName().get('b3')!.keys()], []);
    assert.deepEqual(await socketMap(sock, ['update', 'name', 'b3', 'key', 'hex', '0x0a', 'F', 'value', '1', '0x2', '03', 'noexist']), { id: 1, ok: true, result: [] });
    assert.deepEqual((await socketMap(sock, ['lookup', 'name', 'b3', 'key', '10', '15'])).result, ['key: 0a 0f  value: 01 02 03']);
  } finally {
    await rt.stop();
  }
});
