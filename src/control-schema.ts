/*
 * The control socket's requests, checked against a schema before anything
 * acts on them: each command's fields, their types and bounds, nothing
 * missing, nothing extra. A request that fails gets an EINVAL error reply
 * naming the field; nothing of it reaches the runtime (a trace filter of
 * the wrong type once threw for every record, silencing every other
 * subscriber).
 *
 * A schema is data (a dozen lines of validator, no dependency): strings
 * with a length bound and an optional set of values, integers in a range,
 * booleans, arrays with a length bound, objects with known fields.
 */
import { MAIN_EVENTS, TP_NAMES } from './shared/trace.ts';

type Schema =
  | { t: 'string'; max: number; of?: readonly string[]; what?: string }
  | { t: 'int'; min: number; max: number }
  | { t: 'bool' }
  | { t: 'array'; of: Schema; min: number; max: number; what: string }
  | { t: 'object'; fields: Record<string, { s: Schema; optional?: true; nullable?: true }> };

const str = (max: number): Schema => ({ t: 'string', max });
const int = (min: number, max: number): Schema => ({ t: 'int', min, max });
const bool: Schema = { t: 'bool' };

export const TRACE_EVENT_NAMES: readonly string[] = [...TP_NAMES, ...MAIN_EVENTS, 'bpf_trace_printk'];
export const CAPTURE_POINTS = ['entry', 'exit', 'xmit'] as const;

/** Every command and its fields besides id and cmd. */
const COMMANDS: Record<string, Record<string, { s: Schema; optional?: true; nullable?: true }>> = {
  stats: {},
  devices: {},
  drops: {},
  map: {
    args: { s: { t: 'array', of: str(4096), min: 1, max: 256, what: 'an array of strings (a bpftool map command)' } },
    json: { s: bool, optional: true },
  },
  trace: {
    filter: {
      optional: true, nullable: true,
      s: {
        t: 'object', fields: {
          events: { s: { t: 'array', of: { t: 'string', max: 64, of: TRACE_EVENT_NAMES, what: 'an event name' }, min: 0, max: 64, what: `an array of event names (${TRACE_EVENT_NAMES.join(', ')})` }, optional: true },
          ifindex: { s: int(1, 0x7fffffff), optional: true },
          err: { s: int(-4095, 0), optional: true },
        },
      },
    },
  },
  capture: {
    devices: { s: { t: 'array', of: str(64), min: 1, max: 64, what: 'an array of device names' } },
    file: { s: { t: 'string', max: 4096, what: 'a file name' } },
    points: { s: { t: 'array', of: { t: 'string', max: 8, of: CAPTURE_POINTS, what: 'a capture point' }, min: 1, max: 3, what: 'an array of capture points (entry, exit, xmit)' }, optional: true },
    snapLen: { s: int(1, 262144), optional: true },
    count: { s: int(1, 1e9), optional: true },
    overwrite: { s: bool, optional: true },
  },
};
export const COMMAND_NAMES = Object.keys(COMMANDS);

export interface TraceFilterReq { events?: string[]; ifindex?: number; err?: number }
export type Request =
  | { id: RequestId; cmd: 'stats' | 'devices' | 'drops' }
  | { id: RequestId; cmd: 'map'; args: string[]; json?: boolean }
  | { id: RequestId; cmd: 'trace'; filter?: TraceFilterReq | null }
  | { id: RequestId; cmd: 'capture'; devices: string[]; file: string; points?: Array<(typeof CAPTURE_POINTS)[number]>; snapLen?: number; count?: number; overwrite?: boolean };
/** A request's id, echoed in its answer: an integer or a short string (null when absent). */
export type RequestId = number | string | null;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the number ${String(v)}`;
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : `the string ${JSON.stringify(v)}`;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/* the first thing wrong with v against s (at `at`), or null */
function check(s: Schema, v: unknown, at: string): string | null {
  switch (s.t) {
    case 'string':
      if (typeof v !== 'string') return `${at}: ${s.what ?? 'a string'}, not ${typeName(v)}`;
      if (v.length > s.max) return `${at}: at most ${s.max} characters, not ${v.length}`;
      if (v.includes('\0')) return `${at}: a NUL character`;
      if (s.of !== undefined && !s.of.includes(v)) return `${at}: ${JSON.stringify(v.slice(0, 64))} is not ${s.what ?? 'known'} (${s.of.join(', ')})`;
      return null;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) return `${at}: an integer, not ${typeName(v)}`;
      if (v < s.min || v > s.max) return `${at}: ${v} outside ${s.min}..${s.max}`;
      return null;
    case 'bool':
      return typeof v === 'boolean' ? null : `${at}: true or false, not ${typeName(v)}`;
    case 'array': {
      if (!Array.isArray(v)) return `${at}: ${s.what}, not ${typeName(v)}`;
      if (v.length < s.min || v.length > s.max) return `${at}: ${s.min}..${s.max} items, not ${v.length}`;
      for (let i = 0; i < v.length; i++) {
        const e = check(s.of, v[i], `${at}[${i}]`);
        if (e !== null) return e;
      }
      return null;
    }
    case 'object':
      return checkFields(s.fields, v, at);
  }
}

function checkFields(fields: Record<string, { s: Schema; optional?: true; nullable?: true }>, v: unknown, at: string, also: readonly string[] = []): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return `${at}: an object, not ${typeName(v)}`;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!Object.hasOwn(fields, k) && !also.includes(k)) {
      return `${at === '' ? '' : `${at}: `}unknown field ${JSON.stringify(k.slice(0, 64))} (known: ${[...also, ...Object.keys(fields)].join(', ') || 'none'})`;
    }
  }
  for (const [k, f] of Object.entries(fields)) {
    const name = at === '' ? k : `${at}.${k}`;
    if (!Object.hasOwn(o, k)) {
      if (f.optional) continue;
      return `${name}: missing`;
    }
    if (o[k] === null && f.nullable) continue;
    const e = check(f.s, o[k], name);
    if (e !== null) return e;
  }
  return null;
}

/**
 * Check a parsed request line. Returns the request, or the id to answer
 * (when one could be read) and what is wrong.
 */
export function parseRequest(v: unknown): { ok: true; req: Request } | { ok: false; id: RequestId; why: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, id: null, why: `a request is a JSON object, not ${typeName(v)}` };
  const o = v as Record<string, unknown>;
  let id: RequestId = null;
  if (Object.hasOwn(o, 'id') && o.id !== null) {
    const rid = o.id;
    if (typeof rid === 'number' && Number.isSafeInteger(rid)) id = rid;
    else if (typeof rid === 'string' && rid.length <= 64) id = rid;
    else return { ok: false, id: null, why: `id: an integer or a string of up to 64 characters, not ${typeName(rid)}` };
  }
  if (!Object.hasOwn(o, 'cmd')) return { ok: false, id, why: `cmd: missing (${COMMAND_NAMES.join(', ')})` };
  if (typeof o.cmd !== 'string' || !Object.hasOwn(COMMANDS, o.cmd)) {
    return { ok: false, id, why: `cmd: ${typeof o.cmd === 'string' ? JSON.stringify(o.cmd.slice(0, 64)) : typeName(o.cmd)} is not a command (${COMMAND_NAMES.join(', ')})` };
  }
  const e = checkFields(COMMANDS[o.cmd]!, o, '', ['id', 'cmd']);
  if (e !== null) return { ok: false, id, why: `${o.cmd}: ${e}` };
  return { ok: true, req: { ...o, id } as Request };
}
