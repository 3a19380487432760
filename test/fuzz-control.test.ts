/*
 * Fuzz of the control socket's requests (issue 15, point 5): seeded
 * sequences of valid, mutated and hostile requests against a running
 * runtime with traffic and trace records streaming. Valid requests are
 * answered correctly; a request of the wrong shape (wrong types, huge
 * numbers, deep nesting, unicode, extra or missing fields, unknown
 * commands) gets one EINVAL error reply and the connection goes on; what
 * is not a stream of JSON lines (garbage, binary, a line over 64 KiB, 64
 * bad requests in a row) gets one error line and the connection closed.
 * Requests go pipelined and split at random into partial writes.
 * Afterwards: the server answers, no CPU died, every capture that started
 * wrote its packets, and stop() reports conservation.
 *
 * Deterministic: XDPSIM_FUZZ_SEED=N explores another sequence; every
 * failure names the seed and the case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { connect, type Socket } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Runtime, XDP_ABORTED } from '../src/index.ts';
import { ControlClient } from '../src/control.ts';
import { parseCapture } from '../src/gen/pcap.ts';
import { TP_NAMES } from '../src/shared/trace.ts';
import { fixture } from './helpers.ts';
import { prng } from '../src/shared/prng.ts';

const SEED = Number(process.env.XDPSIM_FUZZ_SEED ?? 0x15c5);
const CASES = 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Msg = { id?: unknown; ok?: boolean; result?: unknown; error?: string; code?: string; trace?: unknown; lost?: number; done?: boolean };

/* a connection: its replies in order (trace records, lost counts and capture ends apart), closed or not */
class Conn {
  readonly replies: Msg[] = [];
  readonly dones: Msg[] = [];
  traces = 0;
  lost = 0;
  closed = false;
  bad: string | null = null;
  private buf = '';
  private constructor(readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('close', () => { this.closed = true; });
    sock.on('error', () => {});
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        let m: Msg;
        try {
          m = JSON.parse(line) as Msg;
        } catch {
          this.bad = line;
          continue;
        }
        if (m.trace !== undefined) this.traces++;
        else if (typeof m.lost === 'number') this.lost += m.lost;
        else if (m.done === true) this.dones.push(m);
        else this.replies.push(m);
      }
    });
  }
  static open(path: string): Promise<Conn> {
    return new Promise((res, rej) => {
      const s = connect(path, () => res(new Conn(s)));
      s.once('error', rej);
    });
  }
  /* write `data` in up to `parts` random pieces, yielding between them */
  async send(data: Buffer, r: () => number, parts: number): Promise<void> {
    let at = 0;
    for (let i = 0; i < parts && at < data.length; i++) {
      const end = i === parts - 1 ? data.length : Math.min(data.length, at + 1 + Math.floor(r() * Math.max(1, data.length / parts * 2)));
      this.sock.write(data.subarray(at, end));
      at = end;
      await new Promise((res) => setImmediate(res));
    }
    if (at < data.length) this.sock.write(data.subarray(at));
  }
  async until(what: string, pred: () => boolean, ms = 10_000): Promise<void> {
    const end = performance.now() + ms;
    while (!pred()) {
      if (performance.now() > end) throw new Error(`${what}: not within ${ms} ms (${this.replies.length} replies, closed ${this.closed})`);
      await sleep(2);
    }
  }
}

/* what one request line must get */
type Expect =
  | { t: 'ok'; what: string; check: (m: Msg) => string | null }
  | { t: 'okOr'; what: string; codes: string[]; check: (m: Msg) => string | null; onOk?: (m: Msg) => void; onErr?: (m: Msg) => string | null }
  | { t: 'einval'; what: string; id: unknown }
  | { t: 'map'; what: string };

const EVENTS = [...TP_NAMES, 'xdpsim_rcu_gp', 'bpf_trace_printk'];
const UNICODE = ['ü', '☃', '𝔵𝔡𝔭', '\u202e', '\ufeff', 'e\u0301', '\ud83d\ude00'];

/* raw JSON literals JSON.stringify cannot write: stand-ins replaced in the line */
const RAW = ['1e400', '-1e400', '123456789012345678901234567890', '1E+999', '0.0000001'];

class Gen {
  n = 0;
  files = 0;
  constructor(readonly r: () => number) {}
  int(lo: number, hi: number): number { return lo + Math.floor(this.r() * (hi - lo + 1)); }
  pick<T>(a: readonly T[]): T { return a[Math.floor(this.r() * a.length)]!; }
  chance(p: number): boolean { return this.r() < p; }
  raw(): string { return `\u0000RAW${this.int(0, RAW.length - 1)}\u0000`; }
  /* nesting `depth` deep: arrays, objects or both (a stand-in, written out by line()) */
  deep(depth: number): string { return `\u0000DEEP${depth}${this.pick(['a', 'o', 'm'])}\u0000`; }
  /* a value of no type the field takes (kind: what the field is) */
  wrong(kind: 'int' | 'bool' | 'str' | 'array' | 'object'): unknown {
    const pool: unknown[] = [0, -1, 7, 1.5, 1e308, -1e308, 2 ** 53 + 2, 'x', '', this.pick(UNICODE), true, false, null, [], [1, 'a'], {}, { k: 1 }, this.deep(this.int(2, 400))];
    for (;;) {
      const v = this.chance(0.15) ? this.raw() : this.pick(pool);
      const isRaw = typeof v === 'string' && v.startsWith('\u0000');
      if (kind === 'int' && (typeof v === 'number' || isRaw)) continue;
      if (kind === 'bool' && typeof v === 'boolean') continue;
      if (kind === 'str' && typeof v === 'string' && !isRaw) continue;
      if (kind === 'array' && Array.isArray(v)) continue;
      if (kind === 'object' && typeof v === 'object' && v !== null && !Array.isArray(v)) continue;
      return v;
    }
  }
  /* an integer field's invalid value: not an integer, or out of range */
  badInt(lo: number, hi: number): unknown {
    return this.pick([this.wrong('int'), 1.5, lo - 1, hi + 1, -1e300, 1e300, this.raw()]);
  }
}

function deepText(depth: number, how: string): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    const arr = how === 'a' || (how === 'm' && i % 2 === 0);
    open += arr ? '[' : '{"a":';
    close += arr ? ']' : '}';
  }
  return `${open}1${[...close].reverse().join('')}`;
}

/* `{"id":..., "cmd":..., ...}` with the stand-ins written out */
function line(o: unknown): string {
  return JSON.stringify(o)
    .replace(/"\\u0000RAW(\d+)\\u0000"/g, (_, i: string) => RAW[Number(i)]!)
    .replace(/"\\u0000DEEP(\d+)([aom])\\u0000"/g, (_, d: string, how: string) => deepText(Number(d), how));
}

const oneLine = (s: unknown): boolean => typeof s === 'string' && s.length > 0 && !s.includes('\n');

test(`fuzz: seeded control socket requests, valid, mutated and hostile, beside traffic (seed ${SEED})`, async (t) => {
  const logged: string[] = [];
  const sink = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n')) if (l) logged.push((JSON.parse(l) as { msg: string }).msg); cb(); } });
  const rt = await Runtime.start({ cpus: 2, logger: pino({ level: 'warn', base: null }, sink) });
  const died: string[] = [];
  rt.on('cpu-error', (cpu: number, err: Error) => died.push(`cpu ${cpu}: ${err?.message}`));
  const dir = mkdtempSync(join(tmpdir(), 'xdpsim-fuzz-ctl-'));
  const caps = join(dir, 'caps');
  mkdirSync(caps);
  writeFileSync(join(caps, 'exists.pcapng'), 'keep');
  let stopped = false;
  try {
    const [a0] = rt.createVeth('a0', 'a1', { rxQueues: 2 });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, XDP_ABORTED); /* an xdp_exception record per frame: trace records stream throughout */
    a0.attachXdp(obj.progs.verdict!);
    const srv = await rt.listen(join(dir, 'c.sock'), { captureDir: caps });
    const gen = await a0.generate({ traffic: { flows: 8 }, rate: 20_000, durationMs: 120_000 });
    const g = new Gen(prng(SEED));
    const where = (i: number, what: string): string => `seed ${SEED} (XDPSIM_FUZZ_SEED), case ${i}: ${what}`;
    /* captures that started on a0 (they end at their count while traffic runs) */
    const started = new Map<string, { file: string; count: number }>();

    /* one request: its line and what it must get */
    const valid = (idIn: unknown, captures = true): { l: string; e: Expect; id: unknown } => {
      const k = g.int(0, captures ? 6 : 4);
      /* a capture's id is a number of its own: its second reply (the end) is matched by it */
      const id = k >= 5 ? 1e6 + g.n : idIn;
      const base = id === undefined ? {} : { id };
      return { ...validOf(k, id, base), id };
    };
    const validOf = (k: number, id: unknown, base: object): { l: string; e: Expect } => {
      switch (k) {
        case 0: return {
          l: line({ ...base, cmd: 'stats' }),
          e: { t: 'ok', what: 'stats', check: (m) => {
            const s = m.result as { cpus?: unknown[]; devices?: Array<{ name: string }>; conserved?: unknown };
            return s?.cpus?.length === 2 && s.devices?.some((d) => d.name === 'a0') && typeof s.conserved === 'boolean' ? null : `stats: ${JSON.stringify(m).slice(0, 200)}`;
          } },
        };
        case 1: return {
          l: line({ ...base, cmd: 'devices' }),
          e: { t: 'ok', what: 'devices', check: (m) => (Array.isArray(m.result) && ['a0', 'a1'].every((n) => (m.result as Array<{ name: string }>).some((d) => d.name === n)) ? null : `devices: ${JSON.stringify(m.result)}`) },
        };
        case 2: return { l: line({ ...base, cmd: 'drops' }), e: { t: 'ok', what: 'drops', check: (m) => (Array.isArray(m.result) ? null : 'drops: not an array') } };
        case 3: {
          const filter: Record<string, unknown> = {};
          if (g.chance(0.7)) filter.events = Array.from({ length: g.int(0, 3) }, () => g.pick(EVENTS));
          if (g.chance(0.3)) filter.ifindex = g.pick([a0.ifindex, 1, 0x7fffffff]);
          if (g.chance(0.3)) filter.err = g.pick([0, -95, -4095]);
          const f = g.chance(0.1) ? null : g.chance(0.1) ? undefined : filter;
          return { l: line({ ...base, cmd: 'trace', ...(f !== undefined ? { filter: f } : {}) }), e: { t: 'ok', what: 'trace', check: (m) => (m.result === 'subscribed' ? null : 'trace: not subscribed') } };
        }
        case 4: {
          const verbs = ['show', 'dump', 'lookup', 'getnext', 'name', 'key', ''];
          const toks = ['name', 'id', 'key', 'value', 'seen', 'config', '0', '1', '-1', '0x10', 'hex', '4294967296', '18446744073709551616', ...UNICODE];
          const args = [g.pick(verbs), ...Array.from({ length: g.int(0, 5) }, () => g.pick(toks))];
          return { l: line({ ...base, cmd: 'map', args, ...(g.chance(0.5) ? { json: g.chance(0.5) } : {}) }), e: { t: 'map', what: `map ${JSON.stringify(args)}` } };
        }
        default: {
          /* a capture: a new file (started, or EBUSY while another captures a0, and then no file is left), or a name it may not write */
          const kind = g.int(0, 9);
          const count = g.int(1, 3);
          const fields: Record<string, unknown> = { devices: ['a0'], count };
          if (g.chance(0.3)) fields.points = g.pick([['entry'], ['exit'], ['entry', 'exit']]);
          if (g.chance(0.3)) fields.snapLen = g.pick([1, 64, 262144]);
          if (g.chance(0.2)) fields.overwrite = g.chance(0.5);
          if (kind <= 5) {
            const name = `f${g.files++}${g.chance(0.3) ? g.pick(UNICODE) : ''}.pcapng`;
            fields.file = g.chance(0.5) ? name : join(caps, name);
            return {
              l: line({ ...base, cmd: 'capture', ...fields }),
              e: { t: 'okOr', what: `capture ${name}`, codes: ['EBUSY'], check: (m) => (m.result === 'capturing' ? null : 'capture: not capturing'),
                onOk: () => started.set(JSON.stringify(id), { file: join(caps, name), count }),
                onErr: () => (existsSync(join(caps, name)) ? `capture refused with EBUSY left ${name} behind` : null) },
            };
          }
          const [file, code] = g.pick<[string, string]>([['exists.pcapng', 'EEXIST'], ['../escape.pcapng', 'EACCES'], [join(dir, 'out.pcapng'), 'EACCES'], ['no/such/x.pcapng', 'ENOENT'], ['.', 'EISDIR']]);
          const devs = g.chance(0.2) ? { devices: [g.pick(['nope', ...UNICODE])] } : {};
          /* a device that does not exist is found by the runtime after the file check: either error */
          return { l: line({ ...base, cmd: 'capture', ...fields, ...devs, file }), e: { t: 'okOr', what: `capture ${file}`, codes: devs.devices ? [code, 'ENODEV'] : [code], check: () => 'must be refused' } };
        }
      }
    };

    /* a request of a wrong shape, answered with EINVAL */
    const invalid = (id: unknown): { l: string; e: Expect; id: unknown } => ({ ...invalidOf(id), id });
    const invalidOf = (id: unknown): { l: string; e: Expect } => {
      const good = id === undefined ? {} : { id };
      const want = id ?? null;
      const kind = g.int(0, 9);
      const fieldBad = (): [string, Record<string, unknown>] => {
        switch (g.int(0, 13)) {
          case 0: return ['map args', { cmd: 'map', args: g.pick([g.wrong('array'), [], [g.wrong('str')], Array.from({ length: 257 }, () => 'x'), ['a'.repeat(4097)], ['x\u0000']]) }];
          case 1: return ['map json', { cmd: 'map', args: ['show'], json: g.wrong('bool') }];
          case 2: return ['trace filter', { cmd: 'trace', filter: g.pick([[], 'events', 5, -1.5, true, false, [{}], g.raw()]) }];
          case 3: return ['trace events', { cmd: 'trace', filter: { events: g.pick([g.wrong('array'), [g.wrong('str')], ['xdp_nope'], ['XDP_EXCEPTION'], [g.pick(UNICODE)], Array.from({ length: 65 }, () => 'xdp_exception')]) } }];
          case 4: return ['trace ifindex', { cmd: 'trace', filter: { ifindex: g.badInt(1, 0x7fffffff) } }];
          case 5: return ['trace err', { cmd: 'trace', filter: { err: g.badInt(-4095, 0) } }];
          case 6: return ['trace filter field', { cmd: 'trace', filter: { [g.pick(['event', 'Events', 'cpu', '__proto__', 'constructor', g.pick(UNICODE)])]: 1 } }];
          case 7: return ['capture devices', { cmd: 'capture', file: 'x.pcapng', devices: g.pick([g.wrong('array'), [], [g.wrong('str')], ['a'.repeat(65)], Array.from({ length: 65 }, () => 'a0')]) }];
          case 8: return ['capture file', { cmd: 'capture', devices: ['a0'], file: g.pick([g.wrong('str'), 'a'.repeat(4097), 'x\u0000y']) }];
          case 9: return ['capture points', { cmd: 'capture', devices: ['a0'], file: 'x.pcapng', points: g.pick([g.wrong('array'), [], ['bogus'], ['entry', 'exit', 'xmit', 'entry'], [g.wrong('str')]]) }];
          case 10: return ['capture snapLen', { cmd: 'capture', devices: ['a0'], file: 'x.pcapng', snapLen: g.badInt(1, 262144) }];
          case 11: return ['capture count', { cmd: 'capture', devices: ['a0'], file: 'x.pcapng', count: g.badInt(1, 1e9) }];
          case 12: return ['capture overwrite', { cmd: 'capture', devices: ['a0'], file: 'x.pcapng', overwrite: g.wrong('bool') }];
          default: return ['missing field', g.pick([{ cmd: 'map' }, { cmd: 'capture', devices: ['a0'] }, { cmd: 'capture', file: 'x.pcapng' }])];
        }
      };
      switch (kind) {
        case 0: case 1: case 2: case 3: {
          const [what, o] = fieldBad();
          return { l: line({ ...good, ...o }), e: { t: 'einval', what, id: want } };
        }
        case 4: {
          const cmd = g.pick(['stats', 'devices', 'drops', 'trace']);
          const key = g.pick(['x', 'ID', 'args', 'file', '__proto__', 'constructor', 'toString', g.pick(UNICODE), '']);
          return { l: line({ ...good, cmd, [key]: g.pick([1, 'y', null, g.deep(g.int(1, 2000))]) }), e: { t: 'einval', what: `extra field ${JSON.stringify(key)}`, id: want } };
        }
        case 5: return { l: line({ ...good, cmd: g.pick(['STATS', 'stats ', 'stat', 'help', 'shutdown', '', 'hasOwnProperty', '__proto__', g.pick(UNICODE)]) }), e: { t: 'einval', what: 'unknown command', id: want } };
        case 6: return { l: line({ ...good, cmd: g.wrong('str') }), e: { t: 'einval', what: 'cmd of a wrong type', id: want } };
        case 7: {
          /* an id that is not one: the reply has id null */
          const bad = g.pick([1.5, true, [], {}, 'i'.repeat(65), g.raw(), 2 ** 53 + 2]);
          return { l: line({ id: bad, cmd: 'stats' }), e: { t: 'einval', what: `id ${JSON.stringify(bad)}`, id: null } };
        }
        case 8: return { l: g.pick(['[]', '5', '"stats"', 'null', 'true', '[{"cmd":"stats"}]', line(g.deep(g.int(100, 8000)))]), e: { t: 'einval', what: 'not an object', id: null } };
        default: return { l: line({ ...good }), e: { t: 'einval', what: 'no cmd', id: want } };
      }
    };

    /* check reply m against e; null if right */
    const judge = (e: Expect, m: Msg | undefined, sentId: unknown): string | null => {
      if (m === undefined) return `${e.what}: no reply`;
      if (e.t !== 'einval' && m.id !== (sentId === undefined ? null : sentId)) return `${e.what}: reply id ${JSON.stringify(m.id)}, sent ${JSON.stringify(sentId)}`;
      switch (e.t) {
        case 'ok':
          return m.ok === true ? e.check(m) : `${e.what}: ${JSON.stringify(m)}`;
        case 'okOr':
          if (m.ok === true) {
            const why = e.check(m);
            if (why === null) e.onOk?.(m);
            return why === null ? null : `${e.what}: ${why} (${JSON.stringify(m)})`;
          }
          if (!e.codes.includes(m.code ?? '') || !oneLine(m.error) || !m.error!.startsWith(`${m.code}: `)) return `${e.what}: ${JSON.stringify(m)}, want ${e.codes.join(' or ')}`;
          return e.onErr?.(m) ?? null;
        case 'einval':
          if (m.ok !== false || m.code !== 'EINVAL' || !oneLine(m.error) || !m.error!.startsWith('EINVAL: ')) return `${e.what}: ${JSON.stringify(m).slice(0, 300)}`;
          return m.id === e.id ? null : `${e.what}: reply id ${JSON.stringify(m.id)}, want ${JSON.stringify(e.id)}`;
        case 'map':
          if (m.ok === true) return Array.isArray(m.result) && (m.result as unknown[]).every((x) => typeof x === 'string') ? null : `${e.what}: ${JSON.stringify(m.result)}`;
          return m.ok === false && oneLine(m.error) && typeof m.code === 'string' ? null : `${e.what}: ${JSON.stringify(m)}`;
      }
    };

    let main = await Conn.open(srv.path);
    const dones: Msg[] = [];
    const tally: Record<string, number> = {};
    let drops = 0;
    let badRun = 0;
    let i = 0;
    const deadline = performance.now() + 10_000;
    for (; i < CASES && performance.now() < deadline;) {
      const roll = g.r();
      /* hostile now and then, and each kind by five sixths of the way */
      if (roll < 0.06 || (drops < 5 && i >= ((drops + 1) * CASES) / 6)) {
        /* hostile, on a connection of its own: what comes before it is answered, then one error line and the close */
        const c = await Conn.open(srv.path);
        const pre = Array.from({ length: g.int(0, 2) }, () => valid(g.n++, false));
        const hk = drops % 5; /* each kind in turn */
        let payload: Buffer;
        let why: RegExp;
        let bads = 0;
        if (hk === 0) {
          payload = Buffer.from(`${g.pick(['this is not json', '{"id":1,"cmd":', '{cmd:stats}', "{'id':1}", 'stats', '{"id":1}}', '\u0000', `x${g.pick(UNICODE)}`])}\n`);
          why = /^not JSON: /;
        } else if (hk === 1) {
          /* bytes: ones that happen to decode to JSON are requests, which this case avoids by a leading '#' */
          const b = Buffer.alloc(g.int(1, 300));
          for (let k = 0; k < b.length; k++) b[k] = g.int(0, 255);
          payload = Buffer.concat([Buffer.from('#'), b.map((x) => (x === 10 ? 11 : x)), Buffer.from('\n')]);
          why = /^not JSON: /;
        } else if (hk === 2) {
          payload = Buffer.from(g.chance(0.5) ? 'x'.repeat(70_000) : `{"id":1,"cmd":"map","args":["${'a'.repeat(66_000)}"]}\n`);
          why = /^a request line over 65536 characters$/;
        } else if (hk === 3) {
          /* deep nesting past the line bound */
          payload = Buffer.from('['.repeat(70_000));
          why = /^a request line over 65536 characters$/;
        } else {
          bads = 64;
          payload = Buffer.from(Array.from({ length: 64 }, (_, k) => line({ id: k, cmd: 'nope' })).join('\n') + '\n');
          why = /^64 bad requests in a row$/;
        }
        await c.send(Buffer.from(pre.map((p) => p.l + '\n').join('')), g.r, g.int(1, 3));
        await c.send(payload, g.r, g.int(1, 4));
        const ctx = where(i, `hostile ${hk} after ${pre.length} requests`);
        await c.until(ctx, () => c.closed, 10_000);
        assert.equal(c.bad, null, ctx);
        const replies = c.replies;
        assert.equal(replies.length, pre.length + bads + 1, `${ctx}: ${JSON.stringify(replies.slice(-2))}`);
        pre.forEach((p, k) => assert.equal(judge(p.e, replies[k], p.id), null, ctx));
        const last = replies.at(-1)!;
        assert.equal(last.ok, false, ctx);
        assert.equal(last.code, 'EPROTO', ctx);
        assert.match(last.error!, why, ctx);
        drops++;
        tally[`hostile ${hk}`] = (tally[`hostile ${hk}`] ?? 0) + 1;
        i++;
        continue;
      }
      /* a batch of requests on the main connection, pipelined, split at random */
      const batch: Array<{ l: string; e: Expect; id: unknown }> = [];
      for (let k = g.int(1, 24); k > 0 && i < CASES; k--, i++) {
        const id = g.chance(0.1) ? g.pick([undefined, null, `s${g.n}`, -g.n]) : g.n;
        g.n++;
        const isBad = badRun < 20 && g.chance(0.55);
        badRun = isBad ? badRun + 1 : 0;
        const req = isBad ? invalid(id) : valid(id);
        batch.push(req);
        tally[req.e.t] = (tally[req.e.t] ?? 0) + 1;
      }
      const from = main.replies.length;
      const data = Buffer.from(batch.map((b) => b.l + '\n').join(''));
      await main.send(data, g.r, g.int(1, 6));
      const ctx = where(i, `batch of ${batch.length}`);
      await main.until(ctx, () => main.replies.length >= from + batch.length || main.closed, 15_000);
      assert.equal(main.closed, false, `${ctx}: the connection closed: ${JSON.stringify(main.replies.slice(-2))}`);
      batch.forEach((b, k) => {
        const why = judge(b.e, main.replies[from + k], b.id);
        assert.equal(why, null, `${where(i - batch.length + k, b.l.slice(0, 300))}: ${why}`);
      });
      assert.equal(main.bad, null);
      for (const m of main.dones.splice(0)) {
        started.delete(JSON.stringify(m.id));
        dones.push(m);
      }
      /* now and then a fresh main connection (not while its captures run: they would stop with it) */
      if (g.chance(0.05) && started.size === 0) {
        main.sock.destroy();
        main = await Conn.open(srv.path);
      }
    }
    assert.ok(i >= 300, `only ${i} cases before the deadline`);
    assert.ok(drops >= 5, `seed ${SEED}: every hostile kind once at least (${drops})`);
    /* a good request still works, on the old connection and a new client */
    main.sock.write('{"id":"last","cmd":"stats"}\n');
    await main.until('last stats', () => main.replies.at(-1)?.id === 'last');
    assert.equal(main.replies.at(-1)!.ok, true);
    const c = await ControlClient.connect(srv.path);
    const st = await c.request('stats');
    assert.equal(st.ok, true);
    c.close();
    /* every capture that started on a0 ended at its count, into its file */
    const t0 = performance.now();
    while (started.size > 0 && performance.now() - t0 < 10_000) {
      for (const m of main.dones.splice(0)) {
        started.delete(JSON.stringify(m.id));
        dones.push(m);
      }
      await sleep(10);
    }
    assert.deepEqual([...started.keys()], [], `seed ${SEED}: captures that never ended`);
    for (const m of dones) {
      const r = m.result as { file: string; packets: number };
      assert.equal(parseCapture(readFileSync(r.file)).packets.length, r.packets, `seed ${SEED}: ${r.file}`);
    }
    assert.equal(readFileSync(join(caps, 'exists.pcapng'), 'utf8'), 'keep');
    assert.equal(existsSync(join(dir, 'escape.pcapng')) || existsSync(join(dir, 'out.pcapng')), false);
    main.sock.destroy();
    await gen.stop();
    assert.deepEqual(died, [], `seed ${SEED}: no CPU died`);
    for (const cs of rt.stats().cpus) assert.equal((cs as { dead?: unknown }).dead ?? null, null, `seed ${SEED}: cpu ${cs.cpu}`);
    assert.deepEqual(logged.filter((l) => !l.startsWith('control client dropped: ')), [], `seed ${SEED}: no internal error`);
    /* every dropped client was logged, once */
    assert.equal(logged.filter((l) => l.startsWith('control client dropped: ')).length, drops, `seed ${SEED}: ${JSON.stringify(logged.slice(0, 5))}`);
    const final = await rt.stop();
    stopped = true;
    assert.equal(final.conserved, true, `seed ${SEED}: ${JSON.stringify(final.totals)}`);
    t.diagnostic(`seed ${SEED}: ${i} cases ${JSON.stringify(tally)}, ${drops} clients dropped, ${main.traces} trace records on the last main connection, ${dones.length} captures written`);
  } finally {
    if (!stopped) await rt.stop().catch(() => {});
  }
});
