/*
 * `xdpsim map`: bpftool-style map commands, run in order against a
 * scenario (a runtime with the redirect demo's devices, and the maps of
 * any --prog objects). A command that fails prints `Error: ...` as bpftool
 * does and stops the sequence (exit 1).
 *
 *   create NAME type TYPE key N value N entries N [flags N]
 *   update name NAME key KEY value VALUE [any|noexist|exist]
 *   lookup name NAME key KEY
 *   delete name NAME key KEY
 *   getnext name NAME [key KEY]
 *   dump name NAME
 *   show
 *
 * KEY and VALUE are a number (a u32 for 4-byte fields, a u64 for 8-byte
 * ones), `dev NAME` (the device's ifindex), `hex XX XX ..` or a list of
 * byte values, as bpftool takes them; a DEVMAP value may add
 * `prog NAME` (a loaded xdp/devmap program).
 */
import { BPF_ANY, BPF_EXIST, BPF_NOEXIST } from './shared/uapi.ts';
import { mapTypeName } from './maps/map.ts';
import type { MapHandle } from './maps/handle.ts';
import type { ProgHandle, Runtime } from './runtime.ts';

type Out = (s: string) => void;

const TYPES: Record<string, number> = {
  hash: 1, array: 2, percpu_hash: 5, percpu_array: 6, devmap: 14, devmap_hash: 25,
};

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

/** Parse a KEY or VALUE of `size` bytes starting at args[i]; returns the bytes and the next index. */
function parseBytes(s: MapScene, args: string[], i: number, size: number, what: string): [Uint8Array, number] {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  const tok = args[i];
  if (tok === undefined) throw new MapCmdError(`${what}: missing`);
  if (tok === 'dev') {
    const name = args[i + 1];
    if (name === undefined) throw new MapCmdError(`${what}: dev needs a device name`);
    if (size < 4) throw new MapCmdError(`${what}: an ifindex needs 4 bytes, the field has ${size}`);
    dv.setUint32(0, s.rt.device(name).ifindex, true);
    return [b, i + 2];
  }
  if (tok === 'hex') {
    for (let k = 0; k < size; k++) {
      const h = args[i + 1 + k];
      if (h === undefined || !/^[0-9a-fA-F]{1,2}$/.test(h)) throw new MapCmdError(`${what}: expected ${size} hex bytes`);
      b[k] = parseInt(h, 16);
    }
    return [b, i + 1 + size];
  }
  /* a list of `size` byte values, or one number for the whole field */
  const next = args.slice(i, i + size);
  if (size > 1 && next.length === size && next.every((x) => /^\d+$/.test(x) && Number(x) < 256) && /^\d+$/.test(args[i + 1] ?? '')) {
    next.forEach((x, k) => (b[k] = Number(x)));
    return [b, i + size];
  }
  const n = Number(tok);
  if (!Number.isInteger(n) || n < 0) throw new MapCmdError(`${what}: '${tok}' is not a number, 'dev NAME' or 'hex ..'`);
  if (size === 4) dv.setUint32(0, n, true);
  else if (size === 8) dv.setBigUint64(0, BigInt(n), true);
  else if (size === 1) b[0] = n;
  else throw new MapCmdError(`${what}: give ${size} bytes ('hex ..' or ${size} byte values)`);
  return [b, i + 1];
}

function mapOf(s: MapScene, args: string[], i: number): MapHandle {
  if (args[i] !== 'name') throw new MapCmdError(`expected 'name NAME', got '${args[i] ?? ''}'`);
  const m = s.maps.get(args[i + 1] ?? '');
  if (!m) throw new MapCmdError(`no map named '${args[i + 1]}' (maps: ${[...s.maps.keys()].join(', ') || 'none'})`);
  return m;
}

function keyOf(m: MapHandle, b: Uint8Array): number | Uint8Array {
  return m.keySize === 4 ? new DataView(b.buffer, b.byteOffset).getUint32(0, true) : b;
}

/** Run one command (args after `map`); prints its result. */
export function runMapCommand(s: MapScene, args: string[], json: boolean, out: Out): void {
  const [cmd] = args;
  switch (cmd) {
    case 'create': {
      const name = args[1];
      if (!name) throw new MapCmdError('create NAME type TYPE key N value N entries N [flags N]');
      const o: Record<string, string> = {};
      for (let i = 2; i + 1 < args.length; i += 2) o[args[i]!] = args[i + 1]!;
      const type = TYPES[o.type ?? ''];
      if (type === undefined) throw new MapCmdError(`type '${o.type}': one of ${Object.keys(TYPES).join(', ')}`);
      const m = s.rt.createMap({ type, keySize: Number(o.key), valueSize: Number(o.value), maxEntries: Number(o.entries), mapFlags: Number(o.flags ?? 0), name });
      s.maps.set(name, m);
      if (json) out(JSON.stringify({ id: m.id, name, type: mapTypeName(type) }));
      return;
    }
    case 'update': {
      const m = mapOf(s, args, 1);
      if (args[3] !== 'key') throw new MapCmdError(`update: expected 'key KEY'`);
      const [k, i] = parseBytes(s, args, 4, m.keySize, 'key');
      if (args[i] !== 'value') throw new MapCmdError(`update: expected 'value VALUE'`);
      let [v, j] = parseBytes(s, args, i + 1, m.valueSize === 8 && args[i + 1] === 'dev' ? 4 : m.valueSize, 'value');
      if (v.length < m.valueSize) {
        const full = new Uint8Array(m.valueSize);
        full.set(v);
        v = full;
      }
      if (args[j] === 'prog') {
        const p = s.progs.get(args[j + 1] ?? '');
        if (!p) throw new MapCmdError(`no program named '${args[j + 1]}'`);
        new DataView(v.buffer).setInt32(4, p.id, true);
        j += 2;
      }
      const flag = args[j] === undefined ? BPF_ANY : { any: BPF_ANY, noexist: BPF_NOEXIST, exist: BPF_EXIST }[args[j]!];
      if (flag === undefined) throw new MapCmdError(`update: flag '${args[j]}': any, noexist or exist`);
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
      const [k] = parseBytes(s, args, 4, m.keySize, 'key');
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
      if (args[3] === 'key') [k] = parseBytes(s, args, 4, m.keySize, 'key');
      const n = m.getNextKey(k === null ? null : keyOf(m, k));
      if (n === null) throw new MapCmdError('getnext failed: ENOENT: no next key');
      out(json ? JSON.stringify({ key: k ? hex(k) : null, next_key: hex(n) }) : `key: ${k ? plain(k) : '(none)'}\nnext key: ${plain(n)}`);
      return;
    }
    case 'dump': {
      const m = mapOf(s, args, 1);
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
      const list = [...s.maps.entries()].map(([name, m]) => ({ id: m.id, name, type: mapTypeName(m.type), key: m.keySize, value: m.valueSize, max_entries: m.maxEntries }));
      if (json) out(JSON.stringify(list));
      else for (const l of list) out(`${l.id}: ${l.type}  name ${l.name}  key ${l.key}B  value ${l.value}B  max_entries ${l.max_entries}`);
      return;
    }
    default:
      throw new MapCmdError(`unknown map command '${cmd ?? ''}' (create, update, lookup, delete, getnext, dump, show)`);
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

