/*
 * `xdpsim map`: bpftool-style map commands, run in order against a
 * scenario (a runtime with the redirect demo's devices, and the maps of
 * any --prog objects). A command that fails prints `Error: ...` as bpftool
 * does and stops the sequence (exit 1). The control socket's `map` request
 * runs the same commands (src/control.ts).
 *
 *   create NAME type TYPE key N value N entries N [flags N]
 *   update name NAME key KEY value VALUE [prog PROG] [any|noexist|exist]
 *   lookup name NAME key KEY
 *   delete name NAME key KEY
 *   getnext name NAME [key KEY]
 *   dump name NAME
 *   show
 *
 * Numbers. A number is what strtoul(s, &end, 0) reads with nothing left
 * over (bpftool's parse_bytes() per byte, and parse_u32_arg() for create's
 * sizes, src/map.c and src/common.c), less what strtoul also lets through:
 *   decimal  0 | [1-9][0-9]*
 *   hex      0[xX][0-9a-fA-F]+
 *   octal    0[0-7]+          (so 017 is 15, and 08 is not a number)
 * with no sign, space, point, exponent, separator or suffix: '', '+5',
 * '-1', ' 5', '5.0', '1e3', '0x', '1_000', 'Infinity' and 'NaN' are
 * errors. Values are exact (BigInt), and a number must fit its field:
 * strtoul's silent wrap (bpftool takes 256 as byte 0, -1 as 255, 2^32 as a
 * key size of 0) is an error naming the field and its size, e.g.
 * `value: 18446744073709551616 does not fit the 8-byte field (0..18446744073709551615)`.
 * create's key, value, entries and flags are u32s (0..4294967295); the
 * map's own checks then refuse what the kernel refuses (a key_size 0, ...).
 *
 * KEY and VALUE are, for a field of N bytes:
 *   - N numbers, one per byte, each 0..255 (bpftool's DATA);
 *   - `hex` and N hex bytes, each 1 or 2 hex digits, 0x optional
 *     (bpftool's `hex`, strtoul base 16);
 *   - one number for the whole field, little-endian, when N is 1, 4 or 8
 *     (a u8, u32 or u64: an xdpsim extension bpftool does not have);
 *   - `dev NAME`: the device's ifindex as a u32 in the first 4 bytes, the
 *     rest 0 (N >= 4).
 * A KEY's tokens run to `value` (update) or to the end; a VALUE's to
 * `prog`, a flag or the end; their count must be N ("key: expected 4
 * bytes, got 5"). `prog PROG` (a loaded xdp/devmap program) fills bytes
 * 4..7 of an 8-byte DEVMAP value (struct bpf_devmap_val); the VALUE before
 * it is then the 4-byte ifindex. A word left over is an error.
 */
import { BPF_ANY, BPF_EXIST, BPF_NOEXIST } from './shared/uapi.ts';
import { XdpsimError } from './shared/errno.ts';
import { mapTypeName } from './maps/map.ts';
import type { MapHandle } from './maps/handle.ts';
import type { ProgHandle, Runtime } from './runtime.ts';

type Out = (s: string) => void;

const TYPES: Record<string, number> = {
  hash: 1, array: 2, percpu_hash: 5, percpu_array: 6, devmap: 14, devmap_hash: 25,
};
const FLAGS: Record<string, number> = { any: BPF_ANY, noexist: BPF_NOEXIST, exist: BPF_EXIST };

export class MapCmdError extends Error {}

export interface MapScene {
  rt: Runtime;
  maps: Map<string, MapHandle>;
  progs: Map<string, ProgHandle>;
}

function hex(b: Uint8Array): string[] {
  return [...b].map((x) => `0x${x.toString(16).padStart(2, '0')}`);
}
function plain(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** A token as an error message shows it: quoted, escaped (one line whatever it holds), cut at 40 characters. */
function q(tok: string): string {
  return `'${JSON.stringify(tok.length > 40 ? `${tok.slice(0, 40)}...` : tok).slice(1, -1)}'`;
}
/** A number that did not fit, as given (cut at 40 characters). */
function shown(tok: string): string {
  return tok.length > 40 ? `${tok.slice(0, 40)}...` : tok;
}

const NUMBER = /^(?:0[xX]([0-9a-fA-F]+)|0([0-7]*)|([1-9][0-9]*))$/;
const NOT_A_NUMBER = 'is not a number (decimal, 0x hex or 0 octal: no sign, space, point, exponent or separator)';
const HEX_BYTE = /^(?:0[xX])?([0-9a-fA-F]{1,2})$/;
/** More than a u64 (a stand-in for numbers with more significant digits than any u64 has, not parsed). */
const HUGE = 1n << 72n;

/** The value of a number (see the header), or null if `tok` is not one. */
function parseNumber(tok: string): bigint | null {
  const m = NUMBER.exec(tok);
  if (m === null) return null;
  const [digits, prefix] = m[1] !== undefined ? [m[1], '0x'] : m[2] !== undefined ? [m[2], '0o'] : [m[3]!, ''];
  const sig = digits.replace(/^0+/, '');
  if (sig === '') return 0n;
  /* a u64 has at most 16 hex, 20 decimal or 22 octal digits: do not parse a megabyte of them */
  if (sig.length > 24) return HUGE;
  return BigInt(prefix + sig);
}

/** A number that fits an unsigned field of `size` bytes (0..2^(8 size)-1). */
function fieldNumber(tok: string, size: number, what: string): bigint {
  const v = parseNumber(tok);
  if (v === null) throw new MapCmdError(`${what}: ${q(tok)} ${NOT_A_NUMBER}`);
  const max = (1n << BigInt(8 * size)) - 1n;
  if (v > max) throw new MapCmdError(`${what}: ${shown(tok)} does not fit the ${size}-byte field (0..${max})`);
  return v;
}

/** The n bytes of toks, each a byte (bpftool's parse_bytes(): each one first, then their count). */
function byteList(toks: string[], size: number, what: string, hexOnly: boolean): Uint8Array {
  const b = new Uint8Array(size);
  for (let k = 0; k < Math.min(toks.length, size); k++) {
    const t = toks[k]!;
    const at = `${what}: byte ${k + 1} of ${size}`;
    if (hexOnly) {
      const m = HEX_BYTE.exec(t);
      if (m === null) throw new MapCmdError(`${at}: ${q(t)} is not a hex byte (1 or 2 hex digits, 0x optional)`);
      b[k] = parseInt(m[1]!, 16);
      continue;
    }
    const v = parseNumber(t);
    if (v === null) throw new MapCmdError(`${at}: ${q(t)} ${NOT_A_NUMBER}`);
    if (v > 255n) throw new MapCmdError(`${at}: ${shown(t)} does not fit a byte (0..255)`);
    b[k] = Number(v);
  }
  if (toks.length !== size) {
    const why = !hexOnly && toks.length === 1 ? ' (one number fills only a 1-, 4- or 8-byte field)' : '';
    throw new MapCmdError(`${what}: expected ${size} byte${size === 1 ? '' : 's'}, got ${toks.length}${why}`);
  }
  return b;
}

/** A KEY or VALUE of `size` bytes from its own tokens (see the header). */
function parseField(s: MapScene, toks: string[], size: number, what: string): Uint8Array {
  if (toks.length === 0) throw new MapCmdError(`${what}: missing (${size} byte values, 'hex XX ..', ${[1, 4, 8].includes(size) ? 'a number, ' : ''}or 'dev DEVICE')`);
  if (toks[0] === 'dev') {
    if (toks.length !== 2) throw new MapCmdError(`${what}: 'dev' takes one device name, got ${toks.length - 1} words`);
    if (size < 4) throw new MapCmdError(`${what}: an ifindex (dev NAME) needs 4 bytes, the field has ${size}`);
    let ifindex: number;
    try {
      ifindex = s.rt.device(toks[1]!).ifindex;
    } catch (e) {
      if (e instanceof XdpsimError) throw new MapCmdError(`${what}: dev ${q(toks[1]!)}: ${e.message}`);
      throw e;
    }
    const b = new Uint8Array(size);
    new DataView(b.buffer).setUint32(0, ifindex, true);
    return b;
  }
  if (toks[0] === 'hex') return byteList(toks.slice(1), size, what, true);
  if (toks.length === 1 && (size === 1 || size === 4 || size === 8)) {
    const v = fieldNumber(toks[0]!, size, what);
    const b = new Uint8Array(size);
    const dv = new DataView(b.buffer);
    if (size === 8) dv.setBigUint64(0, v, true);
    else if (size === 4) dv.setUint32(0, Number(v), true);
    else b[0] = Number(v);
    return b;
  }
  return byteList(toks, size, what, false);
}

/** The tokens from args[i] up to (not including) the first of `stops`, or the end. */
function until(args: string[], i: number, stops: readonly string[]): string[] {
  let j = i;
  while (j < args.length && !stops.includes(args[j]!)) j++;
  return args.slice(i, j);
}

function nothingAfter(args: string[], i: number, what: string): void {
  if (i < args.length) throw new MapCmdError(`${what}: unexpected ${q(args[i]!)}`);
}

function mapOf(s: MapScene, args: string[], i: number): MapHandle {
  if (args[i] !== 'name' || args[i + 1] === undefined) throw new MapCmdError(`${args[0]}: expected 'name NAME', got ${args[i] === undefined ? 'nothing' : q(args.slice(i, i + 2).join(' '))}`);
  const m = s.maps.get(args[i + 1]!);
  if (!m) throw new MapCmdError(`no map named ${q(args[i + 1]!)} (maps: ${[...s.maps.keys()].join(', ') || 'none'})`);
  return m;
}

function keyOf(m: MapHandle, b: Uint8Array): number | Uint8Array {
  return m.keySize === 4 ? new DataView(b.buffer, b.byteOffset).getUint32(0, true) : b;
}

/** create's arguments: each once, each a u32 but the type. */
function createSpec(args: string[]): { type: number; keySize: number; valueSize: number; maxEntries: number; mapFlags: number } {
  const o: Record<string, string> = {};
  for (let i = 2; i < args.length; i += 2) {
    const kw = args[i]!;
    if (!['type', 'key', 'value', 'entries', 'flags'].includes(kw)) throw new MapCmdError(`create: unknown argument ${q(kw)} (type, key, value, entries, flags)`);
    if (args[i + 1] === undefined) throw new MapCmdError(`create: '${kw}' needs a value`);
    if (o[kw] !== undefined) throw new MapCmdError(`create: '${kw}' given twice`);
    o[kw] = args[i + 1]!;
  }
  for (const kw of ['type', 'key', 'value', 'entries']) if (o[kw] === undefined) throw new MapCmdError(`create: missing '${kw} ${kw === 'type' ? 'TYPE' : 'N'}'`);
  const type = TYPES[o.type!];
  if (type === undefined) throw new MapCmdError(`create: type ${q(o.type!)}: one of ${Object.keys(TYPES).join(', ')}`);
  const u32 = (tok: string | undefined, what: string): number => (tok === undefined ? 0 : Number(fieldNumber(tok, 4, what)));
  return { type, keySize: u32(o.key, 'key size'), valueSize: u32(o.value, 'value size'), maxEntries: u32(o.entries, 'entries'), mapFlags: u32(o.flags, 'flags') };
}

/** Run one command (args after `map`); prints its result. */
export function runMapCommand(s: MapScene, args: string[], json: boolean, out: Out): void {
  const [cmd] = args;
  switch (cmd) {
    case 'create': {
      const name = args[1];
      if (!name) throw new MapCmdError('create NAME type TYPE key N value N entries N [flags N]');
      const m = s.rt.createMap({ ...createSpec(args), name });
      s.maps.set(name, m);
      if (json) out(JSON.stringify({ id: m.id, name, type: mapTypeName(m.type) }));
      return;
    }
    case 'update': {
      const m = mapOf(s, args, 1);
      if (args[3] !== 'key') throw new MapCmdError(`update: expected 'key KEY'`);
      const kt = until(args, 4, ['value']);
      const k = parseField(s, kt, m.keySize, 'key');
      let j = 4 + kt.length;
      if (args[j] !== 'value') throw new MapCmdError(`update: expected 'value VALUE' after the key`);
      const vt = until(args, j + 1, ['prog', ...Object.keys(FLAGS)]);
      j += 1 + vt.length;
      let v: Uint8Array;
      if (args[j] === 'prog') {
        if (m.valueSize !== 8) throw new MapCmdError(`value: 'prog PROG' needs an 8-byte value (struct bpf_devmap_val), this map's is ${m.valueSize} bytes`);
        const ifindex = parseField(s, vt, 4, 'value (the ifindex before prog)');
        const p = s.progs.get(args[j + 1] ?? '');
        if (!p) throw new MapCmdError(`update: no program named ${q(args[j + 1] ?? '')}`);
        v = new Uint8Array(8);
        v.set(ifindex);
        new DataView(v.buffer).setUint32(4, p.id, true);
        j += 2;
      } else {
        v = parseField(s, vt, m.valueSize, 'value');
      }
      let flag = BPF_ANY;
      if (args[j] !== undefined) {
        const f = FLAGS[args[j]!];
        if (f === undefined) throw new MapCmdError(`update: flag ${q(args[j]!)}: any, noexist or exist`);
        flag = f;
        j++;
        if (j < args.length) throw new MapCmdError(`update: unexpected ${q(args[j]!)} after the flag`);
      }
      try {
        m.update(keyOf(m, k), v, flag);
      } catch (e) {
        throw new MapCmdError(`update failed: ${(e as Error).message}`);
      }
      if (json) out('null');
      return;
    }
    case 'lookup':
    case 'delete': {
      const m = mapOf(s, args, 1);
      if (args[3] !== 'key') throw new MapCmdError(`${cmd}: expected 'key KEY'`);
      const k = parseField(s, args.slice(4), m.keySize, 'key');
      if (cmd === 'delete') {
        try {
          m.delete(keyOf(m, k));
        } catch (e) {
          throw new MapCmdError(`delete failed: ${(e as Error).message}`);
        }
        if (json) out('null');
        return;
      }
      const v = m.lookup(keyOf(m, k));
      if (v === null) throw new MapCmdError(`lookup failed: ENOENT: no entry with key ${plain(k)}`);
      out(json ? JSON.stringify({ key: hex(k), value: hex(v) }) : `key: ${plain(k)}  value: ${plain(v)}`);
      return;
    }
    case 'getnext': {
      const m = mapOf(s, args, 1);
      let k: Uint8Array | null = null;
      if (args[3] === 'key') k = parseField(s, args.slice(4), m.keySize, 'key');
      else if (args[3] !== undefined) throw new MapCmdError(`getnext: expected 'key KEY' or nothing, got ${q(args[3])}`);
      const n = m.getNextKey(k === null ? null : keyOf(m, k));
      if (n === null) throw new MapCmdError('getnext failed: ENOENT: no next key');
      out(json ? JSON.stringify({ key: k ? hex(k) : null, next_key: hex(n) }) : `key: ${k ? plain(k) : '(none)'}\nnext key: ${plain(n)}`);
      return;
    }
    case 'dump': {
      const m = mapOf(s, args, 1);
      nothingAfter(args, 3, 'dump');
      const rows: { key: string[]; value: string[] }[] = [];
      for (const k of m.keys()) {
        const v = m.lookup(keyOf(m, k));
        if (v === null) {
          if (!json) out(`key: ${plain(k)}  <no entry>`);
          continue;
        }
        rows.push({ key: hex(k), value: hex(v) });
        if (!json) out(`key: ${plain(k)}  value: ${plain(v)}`);
      }
      if (json) out(JSON.stringify(rows));
      else out(`Found ${rows.length} element${rows.length === 1 ? '' : 's'}`);
      return;
    }
    case 'show': {
      nothingAfter(args, 1, 'show');
      const list = [...s.maps.entries()].map(([name, m]) => ({ id: m.id, name, type: mapTypeName(m.type), key: m.keySize, value: m.valueSize, max_entries: m.maxEntries }));
      if (json) out(JSON.stringify(list));
      else for (const l of list) out(`${l.id}: ${l.type}  name ${l.name}  key ${l.key}B  value ${l.value}B  max_entries ${l.max_entries}`);
      return;
    }
    default:
      throw new MapCmdError(`unknown map command ${q(cmd ?? '')} (create, update, lookup, delete, getnext, dump, show)`);
  }
}

/** Split `a b -- c d` into command lists. */
export function splitCommands(args: string[]): string[][] {
  const out: string[][] = [[]];
  for (const a of args) {
    if (a === '--' || a === ';') out.push([]);
    else out[out.length - 1]!.push(a);
  }
  return out.filter((c) => c.length > 0);
}
