/*
 * The numbers of `xdpsim map` and of the control socket's `map` request
 * (src/cli-map.ts, issue 15 point 3): every number fits its field exactly
 * or fails with a one-line `Error: FIELD: ...` that names the field and its
 * size; 64-bit values are exact; what strtoul() would take but is not a
 * plain number ('', '+5', ' 5', '1e3', ...) is refused. First a test per
 * defect (each failed before the fix), then a seeded fuzz of the grammar
 * against a scene with traffic: 1200 command lines (2.6 s on 2 cores under
 * a load of 4, the test 4.7 s with its runtime), each through
 * runMapCommand as `xdpsim map` runs it, the socket, or `xdpsim map
 * --socket`, each predicted exactly (the bytes read back, or the error);
 * XDPSIM_FUZZ_SEED=N runs another seed, and a failure names its seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.ts';
import { MapCmdError, runMapCommand } from '../src/cli-map.ts';
import { ControlClient } from '../src/control.ts';
import { Runtime } from '../src/index.ts';
import { XdpsimError } from '../src/shared/errno.ts';
import { prng } from '../src/shared/prng.ts';

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

/** One `map` request on a fresh connection: ok and result, or not ok and the error (the reply's other fields are the protocol's). */
async function socketMap(sock: string, args: string[]): Promise<{ ok: boolean; result?: unknown; error?: string }> {
  const c = await ControlClient.connect(sock);
  try {
    const r = await c.request('map', { args });
    return r.ok ? { ok: true, result: r.result } : { ok: false, error: r.error };
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
    assert.deepEqual(await socketMap(sock, A8), { ok: true, result: [] });
    assert.deepEqual(await socketMap(sock, ['update', 'name', 'a8', 'key', '1', 'value', '18446744073709551616']),
      { ok: false, error: 'value: 18446744073709551616 does not fit the 8-byte field (0..18446744073709551615)' });
    assert.deepEqual(await socketMap(sock, ['update', 'name', 'a8', 'key', '0x100000001', 'value', '1']),
      { ok: false, error: 'key: 0x100000001 does not fit the 4-byte field (0..4294967295)' });
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
        assert.deepEqual(await socketMap(sock, args), { ok: false, error }, `${JSON.stringify(args)}`);
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
      assert.deepEqual(await socketMap(sock, ['update', 'name', 'h4', 'key', k!, 'value', ...v!.split(' ')]), { ok: true, result: [] });
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
    for (const [args, error] of cases) assert.deepEqual(await socketMap(sock, args), { ok: false, error }, JSON.stringify(args));
    assert.deepEqual([...rt.mapsByName().get('b3')!.keys()], []);
    assert.deepEqual(await socketMap(sock, ['update', 'name', 'b3', 'key', 'hex', '0x0a', 'F', 'value', '1', '0x2', '03', 'noexist']), { ok: true, result: [] });
    assert.deepEqual((await socketMap(sock, ['lookup', 'name', 'b3', 'key', '10', '15'])).result, ['key: 0a 0f  value: 01 02 03']);
  } finally {
    await rt.stop();
  }
});

/* ---- the fuzz ---- */

type Rnd = () => number;
const int = (r: Rnd, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rnd, xs: readonly T[]): T => xs[int(r, xs.length)]!;

const NAN = 'is not a number (decimal, 0x hex or 0 octal: no sign, space, point, exponent or separator)';
const NOT_HEX = 'is not a hex byte (1 or 2 hex digits, 0x optional)';
const cut = (t: string): string => (t.length > 40 ? `${t.slice(0, 40)}...` : t);
const plain = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
const le = (v: bigint, size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
const max = (size: number): bigint => (1n << BigInt(8 * size)) - 1n;

/** A token and the number it stands for (null: not a number, for hex bytes: not a hex byte), known by construction. */
interface Tok { tok: string; v: bigint | null }
const BOUNDS = [0n, 1n, 255n, 256n, 65535n, 65536n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n, 2n ** 64n + 1n, 2n ** 72n];
const HOSTILE: Tok[] = [
  ...[...NOT_NUMBERS, ' ', '1.', '0.0', '1e-3', '00x1', '0xx1', '1 2', '\u0663', '-0x1', '+0x1', '0b101', '0x1p3', 'ffff', 'x1', 'ANY', 'null', 'undefined', 'true', '0x1f-'].map((tok) => ({ tok, v: null })),
  { tok: `0x${'0'.repeat(40)}ff`, v: 255n }, { tok: '0'.repeat(30), v: 0n }, { tok: `1${'0'.repeat(30)}`, v: 10n ** 30n },
  { tok: '9'.repeat(1000), v: BigInt('9'.repeat(1000)) }, { tok: `0x${'f'.repeat(17)}`, v: (1n << 68n) - 1n }, { tok: '0777', v: 511n },
  { tok: '0x7FFFFFFF', v: 2147483647n }, { tok: `01${'7'.repeat(21)}`, v: 2n ** 64n - 1n }, { tok: `02${'0'.repeat(21)}`, v: 2n ** 64n },
];
const BAD_HEX = ['', '1ff', '0x1ff', 'g', '0x', '-1', '+f', ' f', 'f ', '001', '0xg', 'fg', '0X', 'x1', '0x0x1'];

function fmt(r: Rnd, v: bigint): string {
  switch (int(r, 5)) {
    case 0: case 1: return v.toString();
    case 2: return `${pick(r, ['0x', '0X'])}${r() < 0.5 ? v.toString(16) : v.toString(16).toUpperCase()}`;
    case 3: return `0x${'0'.repeat(int(r, 4))}${v.toString(16)}`;
    default: return v === 0n ? pick(r, ['0', '00', '000']) : `0${v.toString(8)}`;
  }
}
const rand64 = (r: Rnd): bigint => (BigInt(int(r, 2 ** 32)) << 32n) | BigInt(int(r, 2 ** 32));
function numTok(r: Rnd): Tok {
  const x = r();
  if (x < 0.15) return pick(r, HOSTILE);
  const v = x < 0.4 ? pick(r, BOUNDS) : x < 0.8 ? BigInt(int(r, r() < 0.7 ? 8 : 300)) : x < 0.95 ? rand64(r) : rand64(r) << 16n;
  return { tok: fmt(r, v), v };
}
function byteTok(r: Rnd): Tok {
  const x = r();
  if (x < 0.1) return pick(r, HOSTILE);
  const v = x < 0.2 ? pick(r, [256n, 257n, 511n, 1000n, 2n ** 32n]) : BigInt(int(r, r() < 0.6 ? 4 : 256));
  return { tok: fmt(r, v), v };
}
function hexTok(r: Rnd): Tok {
  if (r() < 0.12) return { tok: pick(r, BAD_HEX), v: null };
  const v = int(r, r() < 0.6 ? 4 : 256);
  let d = v.toString(16);
  if (d.length === 1 && r() < 0.5) d = `0${d}`;
  if (r() < 0.5) d = d.toUpperCase();
  return { tok: `${r() < 0.2 ? pick(r, ['0x', '0X']) : ''}${d}`, v: BigInt(v) };
}

/**
 * A KEY or VALUE field: its tokens, and the bytes they give or the error
 * they must give (the grammar of src/cli-map.ts); `more` is the same field
 * with one more token (a word that is no keyword runs on into the field).
 */
interface Field { toks: string[]; bytes: Uint8Array | null; err: string | null; more: (t: Tok) => Field }
const WHOLE = [1, 4, 8];
function list(ts: Tok[], size: number, what: string, hex: boolean): Field {
  const toks = [...(hex ? ['hex'] : []), ...ts.map((t) => t.tok)];
  const f = (bytes: Uint8Array | null, err: string | null): Field => ({ toks, bytes, err, more: (t) => list([...ts, t], size, what, hex) });
  if (!hex && ts.length === 0) return f(null, `${what}: missing (${size} byte values, 'hex XX ..', ${WHOLE.includes(size) ? 'a number, ' : ''}or 'dev DEVICE')`);
  if (!hex && ts.length === 1 && WHOLE.includes(size)) {
    const t = ts[0]!;
    if (t.v === null) return f(null, `${what}: ${q(cut(t.tok))} ${NAN}`);
    if (t.v > max(size)) return f(null, `${what}: ${cut(t.tok)} does not fit the ${size}-byte field (0..${max(size)})`);
    return f(le(t.v, size), null);
  }
  for (let k = 0; k < Math.min(ts.length, size); k++) {
    const t = ts[k]!;
    if (t.v === null) return f(null, `${what}: byte ${k + 1} of ${size}: ${q(cut(t.tok))} ${hex ? NOT_HEX : NAN}`);
    if (t.v > 255n) return f(null, `${what}: byte ${k + 1} of ${size}: ${cut(t.tok)} does not fit a byte (0..255)`);
  }
  if (ts.length !== size) {
    return f(null, `${what}: expected ${size} byte${size === 1 ? '' : 's'}, got ${ts.length}${!hex && ts.length === 1 ? ' (one number fills only a 1-, 4- or 8-byte field)' : ''}`);
  }
  return f(Uint8Array.from(ts, (t) => Number(t.v)), null);
}
function dev(rt: Runtime, words: string[], size: number, what: string): Field {
  const f = (bytes: Uint8Array | null, err: string | null): Field => ({ toks: ['dev', ...words], bytes, err, more: (t) => dev(rt, [...words, t.tok], size, what) });
  if (words.length !== 1) return f(null, `${what}: 'dev' takes one device name, got ${words.length} words`);
  if (size < 4) return f(null, `${what}: an ifindex (dev NAME) needs 4 bytes, the field has ${size}`);
  const name = words[0]!;
  if (!DEVICES.includes(name)) return f(null, `${what}: dev ${q(name)}: ENODEV: no device named '${name}'`);
  const b = new Uint8Array(size);
  new DataView(b.buffer).setUint32(0, rt.device(name).ifindex, true);
  return f(b, null);
}
const DEVICES = ['in0', 'in0p', 'out0', 'out1', 'out2', 'outp1', 'lo'];
function field(r: Rnd, rt: Runtime, size: number, what: string): Field {
  if (r() < 0.4) {
    /* a good one, in any of its forms, with the field's edge values among them */
    const y = r();
    const byte = (): Tok => { const v = BigInt(r() < 0.5 ? int(r, 4) : pick(r, [0, 255, int(r, 256)])); return { tok: fmt(r, v), v }; };
    if (y < 0.4 && WHOLE.includes(size)) {
      const v = r() < 0.5 ? BigInt(int(r, 8)) : pick(r, [max(size), max(size) - 1n, rand64(r) & max(size), 2n ** 53n + 1n & max(size)]);
      return list([{ tok: fmt(r, v), v }], size, what, false);
    }
    if (y < 0.7) return list(Array.from({ length: size }, byte), size, what, false);
    if (y < 0.85 || size < 4) return list(Array.from({ length: size }, () => { const v = int(r, r() < 0.5 ? 4 : 256); return { tok: `${pick(r, ['', '', '0x', '0X'])}${v.toString(16)}`, v: BigInt(v) }; }), size, what, true);
    return dev(rt, [pick(r, DEVICES)], size, what);
  }
  const x = r();
  const count = (): number => (r() < 0.75 ? size : int(r, size + 3));
  if (x < 0.38) return list([numTok(r)], size, what, false);
  if (x < 0.66) return list(Array.from({ length: count() }, () => byteTok(r)), size, what, false);
  if (x < 0.8) return list(Array.from({ length: count() }, () => hexTok(r)), size, what, true);
  if (x < 0.92) {
    const y = r();
    return dev(rt, y < 0.1 ? [] : y < 0.15 ? ['in0', 'out0'] : [r() < 0.1 ? 'nope' : pick(r, DEVICES)], size, what);
  }
  if (x < 0.96) return list([], size, what, false);
  /* a word that is no keyword here, first: the field's own first token */
  const w = pick(r, ['foo', 'name', 'key', 'Value', 'ANY', 'Infinity', 'dev0']);
  return list([{ tok: w, v: null }, ...(r() < 0.5 ? [numTok(r)] : [])], size, what, false);
}

/** A map the fuzz predicts exactly: its entries by plain(key). */
interface Model { name: string; hash: boolean; keySize: number; valueSize: number; max: number; data: Map<string, Uint8Array> }
type Outcome = { ok: true; lines: string[] } | { ok: false; error: string };
/** What a command must do: exactly these lines or this error (a string, or a pattern for what the kernel model says), and its effect on the models. */
interface Expect { lines?: string[] | ((l: string[]) => string | null); error?: string | RegExp; okOrError?: RegExp; apply?: () => void; check?: (o: Outcome) => string | null }

test('fuzz: seeded map command lines with hostile numbers, through the CLI path, the socket and xdpsim map --socket, beside traffic', async (t) => {
  const seed = Number(process.env.XDPSIM_FUZZ_SEED ?? 0x1503);
  const r = prng(seed);
  const CPUS = 2;
  const { rt, sock } = await scene(CPUS);
  const cpuErrors: number[] = [];
  rt.on('cpu-error', (cpu: number) => cpuErrors.push(cpu));
  let stopped = false;
  try {
    const make = [
      ['create', 'h4', 'type', 'hash', 'key', '4', 'value', '8', 'entries', '24'],
      ['create', 'k8', 'type', 'hash', 'key', '8', 'value', '4', 'entries', '24'],
      ['create', 'b3', 'type', 'hash', 'key', '2', 'value', '3', 'entries', '4'],
      ['create', 'p1', 'type', 'percpu_hash', 'key', '1', 'value', '8', 'entries', '8'],
      ['create', 'ar', 'type', 'array', 'key', '4', 'value', '4', 'entries', '4'],
      ['create', 'dh', 'type', 'devmap_hash', 'key', '4', 'value', '8', 'entries', '4'],
    ];
    for (const c of make) assert.deepEqual(await socketMap(sock, c), { ok: true, result: [] });
    const models: Model[] = [
      { name: 'h4', hash: true, keySize: 4, valueSize: 8, max: 24, data: new Map() },
      { name: 'k8', hash: true, keySize: 8, valueSize: 4, max: 24, data: new Map() },
      { name: 'b3', hash: true, keySize: 2, valueSize: 3, max: 4, data: new Map() },
      { name: 'p1', hash: true, keySize: 1, valueSize: 8, max: 8, data: new Map() },
      { name: 'ar', hash: false, keySize: 4, valueSize: 4, max: 4, data: new Map([0, 1, 2, 3].map((i) => [plain(le(BigInt(i), 4)), new Uint8Array(4)])) },
    ];
    /* maps whose updates the kernel model judges (devices, programs, the scenario's traffic): only the parse is predicted */
    const loose = ['dh', 'tx_ports', 'cfg'];
    const handle = (name: string) => rt.mapsByName().get(name)!;
    const full = (m: Model, v: Uint8Array): Uint8Array => {
      if (m.name !== 'p1') return v;
      const all = new Uint8Array(8 * CPUS);
      for (let c = 0; c < CPUS; c++) all.set(v, c * 8);
      return all;
    };
    const modelLines = (m: Model): string[] => [...m.data].map(([k, v]) => `key: ${k}  value: ${plain(full(m, v))}`).sort();
    const actualLines = (m: Model): string[] => {
      const h = handle(m.name);
      return [...h.keys()].map((k) => `key: ${plain(k)}  value: ${plain(h.lookup(k) ?? new Uint8Array())}`).sort();
    };

    const gen = await rt.device('in0').generate({ traffic: { size: 64, flows: 30 }, rate: 20_000, durationMs: 60_000 });

    /** One command and its expected outcome. */
    const command = (): { args: string[]; e: Expect } => {
      const x = r();
      const strong = r() < 0.8;
      const m = strong ? pick(r, models) : null;
      const name = m?.name ?? pick(r, loose);
      const h = handle(name);
      const ks = h.keySize;
      const vs = h.valueSize;
      if (x < 0.45) {
        /* update */
        const k = field(r, rt, ks, 'key');
        const withProg = vs === 8 ? r() < (m === null ? 0.4 : 0.05) : r() < 0.03;
        let v = withProg ? field(r, rt, 4, 'value (the ifindex before prog)') : field(r, rt, vs, 'value');
        const prog = withProg ? pick(r, ['xdp_redirect_flows', 'xdp_count', 'nope']) : null;
        const y = r();
        let flag = y < 0.5 ? null : y < 0.92 ? pick(r, ['any', 'noexist', 'exist']) : pick(r, ['all', 'NOEXIST', 'bogus', '']);
        /* a word that is no flag right after the value is one more token of the value (bpftool: "error parsing byte") */
        if (!withProg && flag !== null && !['any', 'noexist', 'exist'].includes(flag)) {
          v = v.more({ tok: flag, v: null });
          flag = null;
        }
        const junk = flag !== null && ['any', 'noexist', 'exist'].includes(flag) && r() < 0.05 ? pick(r, ['x', 'any', '1']) : null;
        const args = ['update', 'name', name, 'key', ...k.toks, 'value', ...v.toks, ...(prog ? ['prog', prog] : []), ...(flag !== null ? [flag] : []), ...(junk !== null ? [junk] : [])];
        const err = k.err ?? (withProg && vs !== 8 ? `value: 'prog PROG' needs an 8-byte value (struct bpf_devmap_val), this map's is ${vs} bytes` : null) ?? v.err
          ?? (prog === 'nope' ? "update: no program named 'nope'" : null)
          ?? (flag !== null && !['any', 'noexist', 'exist'].includes(flag) ? `update: flag ${q(flag)}: any, noexist or exist` : null)
          ?? (junk !== null ? `update: unexpected ${q(junk)} after the flag` : null);
        if (err !== null) return { args, e: { error: err } };
        let value = v.bytes!;
        if (withProg) {
          value = new Uint8Array(8);
          value.set(v.bytes!);
          new DataView(value.buffer).setUint32(4, rt.progsByName().get(prog!)!.id, true);
        }
        const key = k.bytes!;
        if (m === null) {
          const before = h.lookup(key);
          return {
            args, e: {
              okOrError: /^update failed: E[A-Z0-9]+: /,
              check: (o) => {
                const after = h.lookup(key);
                if (!o.ok) return after === null ? (before === null ? null : 'a failed update removed the entry') : before !== null && plain(after) === plain(before) ? null : `a failed update changed the entry to ${plain(after)}`;
                const emptied = after === null && ['dh', 'tx_ports'].includes(name) && new DataView(value.buffer).getUint32(0, true) === 0;
                return emptied || (after !== null && plain(after) === plain(value)) ? null : `read back ${after === null ? 'nothing' : plain(after)}, wrote ${plain(value)}`;
              },
            },
          };
        }
        const kk = plain(key);
        const exists = m.data.has(kk);
        const f = flag ?? 'any';
        let fail: string | null = null;
        if (!m.hash && new DataView(key.buffer).getUint32(0, true) >= m.max) fail = 'E2BIG';
        else if (f === 'noexist' && exists) fail = 'EEXIST';
        else if (f === 'exist' && !exists) fail = 'ENOENT';
        else if (!exists && m.data.size >= m.max) fail = 'E2BIG';
        if (fail !== null) return { args, e: { error: new RegExp(`^update failed: ${fail}: map '${name}' \\(id \\d+\\) update: `) } };
        return { args, e: { lines: [], apply: () => m.data.set(kk, value) } };
      }
      if (x < 0.72) {
        /* lookup, delete, getnext */
        const cmd = pick(r, ['lookup', 'lookup', 'delete', 'getnext']);
        const bare = cmd === 'getnext' && r() < 0.3;
        const k = bare ? { toks: [], bytes: null, err: null } : field(r, rt, ks, 'key');
        const args = [cmd, 'name', name, ...(bare ? [] : ['key', ...k.toks])];
        if (k.err !== null) return { args, e: { error: k.err } };
        if (cmd === 'getnext') {
          return {
            args, e: {
              okOrError: /^getnext failed: ENOENT: no next key$/,
              check: (o) => {
                if (!o.ok) return m !== null && m.data.size > 0 && bare ? 'no first key of a map with entries' : null;
                const [l1, l2] = o.lines.length === 1 ? o.lines[0]!.split('\n') : [];
                if (l1 !== `key: ${bare ? '(none)' : plain(k.bytes!)}`) return `first line ${l1}`;
                const next = l2?.replace(/^next key: /, '') ?? '';
                return m === null || m.data.has(next) ? null : `next key ${next} is not in the map`;
              },
            },
          };
        }
        const kk = plain(k.bytes!);
        if (m === null) return { args, e: { okOrError: new RegExp(`^${cmd} failed: E[A-Z0-9]+: `) } };
        const v = m.data.get(kk);
        if (cmd === 'lookup') return v === undefined ? { args, e: { error: `lookup failed: ENOENT: no entry with key ${kk}` } } : { args, e: { lines: [`key: ${kk}  value: ${plain(full(m, v))}`] } };
        if (!m.hash) return { args, e: { error: new RegExp(`^delete failed: EINVAL: map 'ar' \\(id \\d+\\) delete: `) } };
        return v === undefined ? { args, e: { error: new RegExp(`^delete failed: ENOENT: map '${name}' \\(id \\d+\\) delete: `) } } : { args, e: { lines: [], apply: () => m.data.delete(kk) } };
      }
      if (x < 0.86) {
        /* create */
        const cname = `c${int(r, 4)}`;
        const size = (): Tok => {
          const y = r();
          if (y < 0.12) return pick(r, HOSTILE);
          const v = y < 0.3 ? pick(r, [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 64n - 1n, 2n ** 64n]) : BigInt(r() < 0.5 ? pick(r, [4, 8]) : 1 + int(r, 64));
          return { tok: fmt(r, v), v };
        };
        const type = r() < 0.9 ? pick(r, ['hash', 'array', 'percpu_hash', 'percpu_array', 'devmap', 'devmap_hash']) : pick(r, ['HASH', 'bogus', '', 'lru_hash']);
        const nums: Record<string, Tok> = { key: size(), value: size(), entries: size(), flags: r() < 0.8 ? { tok: '0', v: 0n } : size() };
        let pairs: string[][] = [['type', type], ['key', nums.key!.tok], ['value', nums.value!.tok], ['entries', nums.entries!.tok]];
        if (r() < 0.3) pairs.push(['flags', nums.flags!.tok]);
        pairs = pairs.map((p) => [p, r()] as const).sort((a, b) => a[1] - b[1]).map(([p]) => p);
        const mut = r() < 0.15 ? int(r, 4) : -1;
        if (mut === 0) pairs.splice(int(r, pairs.length), 1);
        if (mut === 1) pairs.splice(int(r, pairs.length), 0, pick(r, pairs));
        if (mut === 2) pairs.splice(int(r, pairs.length), 0, ['entires', '4']);
        const args = ['create', cname, ...pairs.flat()];
        if (mut === 3) args.push(pick(r, ['type', 'key', 'value', 'entries', 'flags']));
        let err: string | null = null;
        const seen = new Set<string>();
        for (let i = 2; i < args.length && err === null; i += 2) {
          const kw = args[i]!;
          if (!['type', 'key', 'value', 'entries', 'flags'].includes(kw)) err = `create: unknown argument ${q(kw)} (type, key, value, entries, flags)`;
          else if (args[i + 1] === undefined) err = `create: '${kw}' needs a value`;
          else if (seen.has(kw)) err = `create: '${kw}' given twice`;
          seen.add(kw);
        }
        for (const kw of ['type', 'key', 'value', 'entries']) if (err === null && !seen.has(kw)) err = `create: missing '${kw} ${kw === 'type' ? 'TYPE' : 'N'}'`;
        if (err === null && !['hash', 'array', 'percpu_hash', 'percpu_array', 'devmap', 'devmap_hash'].includes(type)) err = `create: type ${q(type)}: one of hash, array, percpu_hash, percpu_array, devmap, devmap_hash`;
        const got: Record<string, number> = {};
        for (const [kw, what] of [['key', 'key size'], ['value', 'value size'], ['entries', 'entries'], ['flags', 'flags']] as const) {
          if (err !== null || !seen.has(kw)) continue;
          const tk = nums[kw]!;
          if (tk.v === null) err = `${what}: ${q(cut(tk.tok))} ${NAN}`;
          else if (tk.v > max(4)) err = `${what}: ${cut(tk.tok)} does not fit the 4-byte field (0..4294967295)`;
          else got[kw] = Number(tk.v);
        }
        if (err !== null) return { args, e: { error: err } };
        return {
          args, e: {
            okOrError: new RegExp(`^E[A-Z0-9]+: map '${cname}' create: `),
            check: (o) => {
              if (!o.ok) return null;
              const c = handle(cname);
              const want = { keySize: got.key, valueSize: got.value, maxEntries: got.entries, flags: got.flags ?? 0 };
              const have = { keySize: c.keySize, valueSize: c.valueSize, maxEntries: c.maxEntries, flags: got.flags ?? 0 };
              return JSON.stringify(want) === JSON.stringify(have) ? null : `created ${JSON.stringify(have)}, asked ${JSON.stringify(want)}`;
            },
          },
        };
      }
      if (x < 0.93) {
        /* dump, show */
        const junk = r() < 0.2 ? pick(r, ['x', 'name', '1']) : null;
        if (r() < 0.3) return { args: ['show', ...(junk ? [junk] : [])], e: junk ? { error: `show: unexpected ${q(junk)}` } : { lines: (l) => (l.length === rt.mapsByName().size ? null : `${l.length} lines`) } };
        const args = ['dump', 'name', name, ...(junk ? [junk] : [])];
        if (junk) return { args, e: { error: `dump: unexpected ${q(junk)}` } };
        if (m === null) return { args, e: { lines: (l) => (/^Found \d+ elements?$/.test(l.at(-1) ?? '') ? null : `last line ${l.at(-1)}`) } };
        const want = modelLines(m);
        return { args, e: { lines: (l) => (JSON.stringify([...l.slice(0, -1)].sort()) === JSON.stringify(want) && l.at(-1) === `Found ${want.length} element${want.length === 1 ? '' : 's'}` ? null : `dumped ${JSON.stringify(l)}, the model has ${JSON.stringify(want)}`) } };
      }
      /* words where commands and their keywords belong */
      const g: [string[], string | RegExp][] = [
        [['frob'], "unknown map command 'frob' (create, update, lookup, delete, getnext, dump, show)"],
        [['UPDATE', 'name', name], "unknown map command 'UPDATE' (create, update, lookup, delete, getnext, dump, show)"],
        [[], "unknown map command '' (create, update, lookup, delete, getnext, dump, show)"],
        [['update'], "update: expected 'name NAME', got nothing"],
        [['update', 'name'], "update: expected 'name NAME', got 'name'"],
        [['lookup', 'id', '3'], "lookup: expected 'name NAME', got 'id 3'"],
        [['lookup', 'name', 'nope', 'key', '1'], /^no map named 'nope' \(maps: [a-z0-9_, ]+\)$/],
        [['lookup', 'name', name], "lookup: expected 'key KEY'"],
        [['delete', 'name', name, 'value', '1'], "delete: expected 'key KEY'"],
        [['update', 'name', name, 'value', '1', 'key', '1'], "update: expected 'key KEY'"],
        [['getnext', 'name', name, 'foo'], "getnext: expected 'key KEY' or nothing, got 'foo'"],
        [['create'], 'create NAME type TYPE key N value N entries N [flags N]'],
      ];
      const kf = field(r, rt, ks, 'key');
      g.push([['update', 'name', name, 'key', ...kf.toks], kf.err ?? "update: expected 'value VALUE' after the key"]);
      const [args, error] = pick(r, g);
      return { args, e: { error } };
    };

    /* 1200 commands took 2.6 s on 2 cores under a load of 4; a machine so loaded that they would take over 10 s runs fewer */
    const N = 1200;
    const t0 = performance.now();
    const deadline = t0 + 10_000;
    let client = await ControlClient.connect(sock);
    let onClient = 0;
    let n = 0;
    const routes = { direct: 0, socket: 0, cli: 0 };
    const updated: Record<string, number> = Object.fromEntries(models.map((m) => [m.name, 0]));
    const errorsSeen = new Set<string>();
    for (; n < N && performance.now() < deadline; n++) {
      const { args, e } = command();
      const y = r();
      /* no words at all only in this process: the socket's request schema wants 1..256 of them, and xdpsim map --socket none */
      const route = y < 0.6 || args.length === 0 ? 'direct' : y < 0.88 ? 'socket' : 'cli';
      routes[route]++;
      const where = `seed ${seed} (XDPSIM_FUZZ_SEED), command #${n} through ${route}: ${JSON.stringify(args)}`;
      let o: Outcome;
      if (route === 'direct') {
        const lines: string[] = [];
        try {
          runMapCommand({ rt, maps: rt.mapsByName(), progs: rt.progsByName() }, args, false, (l) => lines.push(l));
          o = { ok: true, lines };
        } catch (x) {
          assert.ok(x instanceof MapCmdError || x instanceof XdpsimError, `${where}: threw ${(x as Error).constructor.name}: ${(x as Error).message}`);
          o = { ok: false, error: x.message };
        }
      } else if (route === 'socket') {
        if (++onClient > 8) {
          client.close();
          client = await ControlClient.connect(sock);
          onClient = 1;
        }
        const res = await client.request('map', { args });
        o = res.ok ? { ok: true, lines: res.result as string[] } : { ok: false, error: res.error! };
      } else {
        const c = await xdpsimMap('--socket', sock, ...args);
        if (c.status === 0) {
          assert.deepEqual(c.err, [], where);
          o = { ok: true, lines: c.out };
        } else {
          assert.equal(c.status, 1, where);
          assert.deepEqual(c.out, [], where);
          assert.equal(c.err.length, 1, `${where}: ${JSON.stringify(c.err)}`);
          assert.match(c.err[0]!, /^Error: /, where);
          o = { ok: false, error: c.err[0]!.slice('Error: '.length) };
        }
      }
      if (!o.ok) {
        assert.ok(!o.error.includes('\n') && o.error.length < 300, `${where}: not a one-line error: ${JSON.stringify(o.error)}`);
        errorsSeen.add(o.error.replace(/\d+/g, 'N').slice(0, 30));
      }
      if (e.error !== undefined) {
        assert.ok(!o.ok, `${where}: succeeded (${JSON.stringify(o.ok && o.lines)}), expected: ${e.error}`);
        if (typeof e.error === 'string') assert.equal(o.error, e.error, where);
        else assert.match(o.error, e.error, where);
      } else if (e.okOrError !== undefined) {
        if (!o.ok) assert.match(o.error, e.okOrError, where);
      } else {
        assert.ok(o.ok, `${where}: failed: ${!o.ok && o.error}`);
        if (typeof e.lines === 'function') assert.equal(e.lines(o.lines), null, where);
        else assert.deepEqual(o.lines, e.lines, where);
        e.apply?.();
      }
      if (e.check) assert.equal(e.check(o), null, where);
      if (e.apply !== undefined && args[0] === 'update') updated[args[2]!]!++;
      /* nothing else changed: the map holds exactly what the model says, and every 20 commands every map does */
      for (const m of models) if (m.name === args[2] || n % 20 === 0) assert.deepEqual(actualLines(m), modelLines(m), `${where}: map ${m.name}`);
    }
    for (const m of models) assert.deepEqual(actualLines(m), modelLines(m), `at the end: map ${m.name}`);
    client.close();
    t.diagnostic(`seed ${seed}: ${n} commands in ${Math.round(performance.now() - t0)} ms (${JSON.stringify(routes)}), updates that succeeded ${JSON.stringify(updated)}, ${errorsSeen.size} kinds of error`);
    assert.ok(n >= 200, `only ${n} commands before the deadline`);
    assert.ok(errorsSeen.size > 30, `kinds of error: ${[...errorsSeen].join(' | ')}`);
    assert.ok(Object.values(updated).reduce((a, b) => a + b) >= 20, `updates that succeeded: ${JSON.stringify(updated)}`);

    /* good commands still work, through both paths, and the traffic follows them */
    await gen.stop();
    const good = await xdpsimMap('--socket', sock,
      'update', 'name', 'cfg', 'key', '0', 'value', '3', '--',
      'update', 'name', 'tx_ports', 'key', '0', 'value', 'dev', 'out0', '--',
      'update', 'name', 'tx_ports', 'key', '1', 'value', 'dev', 'out1', '--',
      'update', 'name', 'tx_ports', 'key', '2', 'value', 'dev', 'out2', '--',
      'create', 'fin', 'type', 'hash', 'key', '4', 'value', '8', 'entries', '1', '--',
      'update', 'name', 'fin', 'key', '4294967295', 'value', '18446744073709551615', 'noexist', '--',
      'lookup', 'name', 'fin', 'key', '0xffffffff');
    assert.deepEqual(good, { status: 0, out: ['key: ff ff ff ff  value: ff ff ff ff ff ff ff ff'], err: [] });
    const lines: string[] = [];
    runMapCommand({ rt, maps: rt.mapsByName(), progs: rt.progsByName() }, ['lookup', 'name', 'tx_ports', 'key', '2'], false, (l) => lines.push(l));
    assert.deepEqual(lines, [`key: 02 00 00 00  value: ${plain(le(BigInt(rt.device('out2').ifindex), 4))}`]);
    assert.ok(await rt.quiesce(5000), 'the data path went idle');
    const rx = (): number => ['outp0', 'outp1', 'outp2'].reduce((s, d) => s + rt.stats().devices.find((x) => x.name === d)!.rx_packets, 0);
    const before = rx();
    await rt.inject('in0', { count: 300, flows: 30 });
    assert.ok(await rt.quiesce(5000), 'the data path went idle');
    assert.equal(rx() - before, 300, 'every frame went through tx_ports to a peer');
    const s = await rt.stop();
    stopped = true;
    assert.deepEqual(cpuErrors, [], 'no CPU died');
    assert.equal(s.conserved, true, JSON.stringify(s.totals));
    assert.ok(s.totals.injected > 300, `frames in: ${s.totals.injected}`);
    assert.ok(s.cpus.every((c) => c.polls > 0 && c.gp_violations === 0), JSON.stringify(s.cpus.map((c) => [c.polls, c.gp_violations])));
  } finally {
    if (!stopped) await rt.stop();
  }
});
