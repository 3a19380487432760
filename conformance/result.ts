/*
 * One run of a case, as each half saw it (RawRun: ifindexes, program and map
 * ids, raw bytes), and the normalised result both halves are compared by
 * (CaseResult: device, program and map names only, so a kernel run and an
 * xdpsim run of the same case are equal exactly when they behaved the same).
 *
 *   load       'ok', or the errno name the load failed with
 *   setup      attach and map updates that failed: 'update tx key 1: EINVAL'
 *   delivered  per device, the frames it handed to its stack (XDP_PASS, or
 *              received without a program), in order, as hex
 *   maps       per compared map, its entries as 'key: value' lines in
 *              get_next_key order (HASH maps sorted): verdict maps by action
 *              name with zero counts left out, devmap values as the device
 *              name (and ' prog=NAME'), 8-byte ARRAY values as signed decimals
 *   trace      per xdp:* tracepoint, records counted by what they say
 *              ('in0 -> out0 map=tx index=1 prog=xdp_redir err=-100 ENETDOWN');
 *              xdp_devmap_xmit and xdp_bulk_tx as 'events=N sent=N drops=N'
 */
import {
  BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_HASH, errnoName,
} from '../src/index.ts';

export const TRACEPOINTS = ['xdp_redirect', 'xdp_redirect_err', 'xdp_devmap_xmit', 'xdp_exception', 'xdp_bulk_tx'] as const;
export type Tracepoint = (typeof TRACEPOINTS)[number];

export interface RawMap {
  type: number;
  keySize: number;
  valueSize: number;
  entries: Array<[Uint8Array, Uint8Array]>;
}

export interface RawTrace {
  event: Tracepoint;
  fields: Record<string, number>;
}

export interface RawRun {
  /** null: loaded; else the errno name */
  loadError: string | null;
  setupErrors: string[];
  ifnames: Map<number, string>;
  progNames: Map<number, string>;
  mapNames: Map<number, string>;
  maps: Map<string, RawMap>;
  delivered: Map<string, Uint8Array[]>;
  trace: RawTrace[];
}

export interface CaseResult {
  load: string;
  setup: string[];
  delivered: Record<string, string[]>;
  maps: Record<string, string[]>;
  trace: Partial<Record<Tracepoint, Record<string, string>>>;
}

export interface Expectation {
  case: string;
  recorded: { kernel: string; date: string };
  result: CaseResult;
}

const INT_MAX = 0x7fffffff;
const ACTIONS = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'];

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const u32 = (b: Uint8Array, off = 0): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
const s64 = (b: Uint8Array): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigInt64(0, true);

export const actName = (a: number): string => ACTIONS[a] ?? `${a}`;
export const errName = (err: number): string => (err === 0 ? '0' : `${err} ${errnoName(-err)}`);

/** `ifindexKeys`: maps whose keys are ifindexes, shown as device names. */
export function normalize(raw: RawRun, ifindexKeys: string[] = []): CaseResult {
  const dev = (i: number): string => (i === 0 ? '-' : raw.ifnames.get(i) ?? `#${i}`);
  const prog = (id: number): string => raw.progNames.get(id) ?? `#${id}`;
  const map = (id: number): string => (id === INT_MAX ? 'ifindex' : id === 0 ? '-' : raw.mapNames.get(id) ?? `#${id}`);

  const delivered: Record<string, string[]> = {};
  for (const [d, frames] of [...raw.delivered].sort(([a], [b]) => a.localeCompare(b))) {
    if (frames.length > 0) delivered[d] = frames.map(hex);
  }

  const maps: Record<string, string[]> = {};
  for (const [name, m] of raw.maps) {
    let lines: string[];
    if (m.type === BPF_MAP_TYPE_DEVMAP || m.type === BPF_MAP_TYPE_DEVMAP_HASH) {
      lines = m.entries.map(([k, v]) => {
        const p = m.valueSize >= 8 ? u32(v, 4) : 0;
        return `${ifindexKeys.includes(name) ? dev(u32(k)) : u32(k)}: ${dev(u32(v))}${p !== 0 ? ` prog=${prog(p)}` : ''}`;
      });
    } else if (m.type === BPF_MAP_TYPE_ARRAY && m.keySize === 4) {
      const verdictMap = name.endsWith('verdicts') && m.valueSize === 8;
      lines = [];
      for (const [k, v] of m.entries) {
        const key = u32(k);
        const label = ifindexKeys.includes(name) ? dev(key) : `${key}`;
        const val = m.valueSize === 8 ? `${s64(v)}` : m.valueSize === 4 ? `${u32(v)}` : hex(v);
        if (verdictMap) {
          if (val !== '0') lines.push(`${key < 7 ? actName(key) : 'other'}: ${val}`);
        } else {
          lines.push(`${label}: ${val}`);
        }
      }
    } else {
      lines = m.entries.map(([k, v]) => `${hex(k)}: ${hex(v)}`);
      if (m.type === BPF_MAP_TYPE_HASH) lines.sort();
    }
    maps[name] = lines;
  }

  const trace: CaseResult['trace'] = {};
  const sums = new Map<string, { events: number; sent: number; drops: number }>();
  for (const t of raw.trace) {
    const f = t.fields;
    let key: string;
    switch (t.event) {
      case 'xdp_redirect':
      case 'xdp_redirect_err':
        key = `${dev(f.ifindex!)} -> ${dev(f.to_ifindex!)} map=${map(f.map_id!)} ` +
          `index=${ifindexKeys.includes(map(f.map_id!)) ? dev(f.map_index!) : f.map_index} prog=${prog(f.prog_id!)}`;
        if (t.event === 'xdp_redirect_err' || f.err !== 0) key += ` err=${errName(f.err!)}`;
        break;
      case 'xdp_exception':
        key = `${dev(f.ifindex!)} prog=${prog(f.prog_id!)} act=${actName(f.act!)}`;
        break;
      case 'xdp_devmap_xmit':
        key = `${dev(f.from_ifindex!)} -> ${dev(f.to_ifindex!)} err=${errName(f.err!)}`;
        break;
      case 'xdp_bulk_tx':
        key = `${dev(f.ifindex!)} err=${errName(f.err!)}`;
        break;
    }
    const byKey = (trace[t.event] ??= {});
    if (t.event === 'xdp_devmap_xmit' || t.event === 'xdp_bulk_tx') {
      const sk = `${t.event} ${key}`;
      const s = sums.get(sk) ?? { events: 0, sent: 0, drops: 0 };
      s.events++;
      s.sent += f.sent!;
      s.drops += f.drops!;
      sums.set(sk, s);
      byKey[key] = `events=${s.events} sent=${s.sent} drops=${s.drops}`;
    } else {
      byKey[key] = `${Number(byKey[key] ?? 0) + 1}`;
    }
  }
  const sortedTrace: CaseResult['trace'] = {};
  for (const tp of TRACEPOINTS) {
    const o = trace[tp];
    if (o) sortedTrace[tp] = Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  }

  return { load: raw.loadError ?? 'ok', setup: [...raw.setupErrors], delivered, maps, trace: sortedTrace };
}

/**
 * What differs between two results, one readable line each ('' if nothing):
 * `a` and `b` are named by `an` and `bn` (e.g. 'kernel', 'xdpsim').
 */
export function diffResults(a: CaseResult, b: CaseResult, an: string, bn: string): string[] {
  const out: string[] = [];
  const w = Math.max(an.length, bn.length);
  const pad = (s: string): string => s.padEnd(w);
  if (a.load !== b.load) out.push(`load: ${an} ${a.load}, ${bn} ${b.load}`);
  diffLines('setup', a.setup, b.setup, an, bn, out);
  for (const d of union(Object.keys(a.delivered), Object.keys(b.delivered))) {
    const fa = a.delivered[d] ?? [];
    const fb = b.delivered[d] ?? [];
    if (fa.length !== fb.length) out.push(`delivered on ${d}: ${an} ${frameList(fa)}, ${bn} ${frameList(fb)}`);
    for (let i = 0; i < Math.min(fa.length, fb.length); i++) {
      const x = fa[i]!, y = fb[i]!;
      if (x === y) continue;
      let off = 0;
      while (off * 2 < Math.min(x.length, y.length) && x.slice(off * 2, off * 2 + 2) === y.slice(off * 2, off * 2 + 2)) off++;
      out.push(`delivered on ${d}, frame ${i}: ${an} ${x.length / 2} bytes, ${bn} ${y.length / 2} bytes; first difference at byte ${off}:`);
      out.push(`    ${pad(an)} ${x.slice(off * 2, off * 2 + 32) || '(end)'}`);
      out.push(`    ${pad(bn)} ${y.slice(off * 2, off * 2 + 32) || '(end)'}`);
    }
  }
  for (const m of union(Object.keys(a.maps), Object.keys(b.maps))) {
    if (!(m in a.maps) || !(m in b.maps)) {
      out.push(`map ${m}: ${m in a.maps ? `${bn} has no such map` : `${an} has no such map`}`);
      continue;
    }
    diffLines(`map ${m}`, a.maps[m]!, b.maps[m]!, an, bn, out);
  }
  for (const tp of TRACEPOINTS) {
    const ta = a.trace[tp] ?? {};
    const tb = b.trace[tp] ?? {};
    for (const k of union(Object.keys(ta), Object.keys(tb))) {
      if (ta[k] === tb[k]) continue;
      out.push(`trace ${tp} ${k}: ${an} ${ta[k] ?? 'none'}, ${bn} ${tb[k] ?? 'none'}`);
    }
  }
  return out;
}

function frameList(f: string[]): string {
  if (f.length === 0) return 'no frames';
  return `${f.length} frame${f.length > 1 ? 's' : ''} (${f.map((x) => x.length / 2).join(', ')} bytes)`;
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])].sort();
}

function diffLines(what: string, a: string[], b: string[], an: string, bn: string, out: string[]): void {
  if (a.length === b.length && a.every((x, i) => x === b[i])) return;
  const sa = new Set(a), sb = new Set(b);
  const onlyA = a.filter((x) => !sb.has(x));
  const onlyB = b.filter((x) => !sa.has(x));
  if (onlyA.length === 0 && onlyB.length === 0) {
    out.push(`${what}: same entries, other order: ${an} [${a.join(', ')}], ${bn} [${b.join(', ')}]`);
    return;
  }
  for (const x of onlyA) out.push(`${what}: only ${an}: ${x}`);
  for (const x of onlyB) out.push(`${what}: only ${bn}: ${x}`);
}
