/*
 * The control socket: other processes attach to a running xdpsim the way
 * bpftool, xdp-monitor and xdpdump attach to a kernel. A Unix domain
 * socket of its owner only (mode 0600, bound inside a directory of mode
 * 0700: see src/control-fs.ts), speaking newline-delimited JSON:
 *
 *   request  {"id": 1, "cmd": "stats"}
 *            {"id": 2, "cmd": "map", "args": ["lookup", "name", "tx_ports", "key", "0"], "json": true}
 *            {"id": 3, "cmd": "trace", "filter": {"events": [...], "ifindex": 2, "err": -95}}
 *            {"id": 4, "cmd": "devices"} | {"id": 5, "cmd": "drops"}
 *            {"id": 6, "cmd": "capture", "devices": ["in0"], "file": "/abs/x.pcapng", "points": ["entry"], "snapLen": 128, "count": 10, "overwrite": false}
 *   response {"id": 1, "ok": true, "result": ...} | {"id": 1, "ok": false, "error": "EINVAL: ...", "code": "EINVAL"}
 *   stream   {"trace": {...a trace record...}}  (after a trace request, until the client goes)
 *            {"lost": N}  (N records not sent: the client did not read fast enough; like PERF_RECORD_LOST)
 *
 * Every request is checked against its command's schema
 * (src/control-schema.ts) before it is acted on; one that fails gets an
 * error response and the connection goes on. A client is dropped (an
 * error line, then the connection closed, and a logged error) when what
 * it sends is not a stream of JSON lines: a line that is not JSON, a line
 * over 64 KiB, or 64 bad requests in a row (what it sends after that is
 * read and discarded for up to a second, so that it gets to read the line).
 *
 * Fairness and memory: a client's requests are answered at most 64 per
 * turn of the event loop (and within about 4 ms), so the trace collector
 * and other clients run between batches; the stats of one turn are
 * computed once. A client whose socket holds more than maxClientBuffer
 * bytes unsent is read no further until it drains, and its trace records
 * are dropped and counted; it is sent {"lost": N} once it has room again.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, readlinkSync, rmdirSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Runtime, TraceFilter } from './runtime.ts';
import { traceFilterPasses } from './runtime.ts';
import type { TraceEvent } from './shared/trace.ts';
import { MapCmdError, runMapCommand } from './cli-map.ts';
import { EACCES, ECONNREFUSED, ECONNRESET, EINVAL, EISDIR, ENOENT, ENOTDIR, ENOTSOCK, EPROTO, ETIMEDOUT, XdpsimError } from './shared/errno.ts';
import type { Capture } from './capture.ts';
import { parseRequest, type Request, type RequestId } from './control-schema.ts';
import {
  captureDirOf, checkSocketPathLength, clearStaleSocket, defaultSocketDir, errnoOf, fileKind, identity, openCaptureTarget, privateDir,
  publishSocket, removeIfOurs, removeTarget, stillTarget, SUN_PATH_MAX, type CapturePolicy,
} from './control-fs.ts';

/** The longest request line (characters); a client that sends a longer one is dropped. */
export const MAX_LINE = 64 * 1024;
/** Requests of one client answered per turn of the event loop, and the time they may take. */
const BATCH = 64;
const BATCH_MS = 4;
/** Bad requests in a row after which a client is dropped. */
const MAX_BAD = 64;
const DEFAULT_CLIENT_BUFFER = 1 << 20;
const MIN_CLIENT_BUFFER = 64 * 1024;

/** What the server of `rt.listen(path, options)` allows. */
export interface ControlOptions {
  /** capture requests write only under this directory (a relative name is taken in it); default: any absolute path */
  captureDir?: string;
  /** a capture request with overwrite: true may replace an existing regular file of ours (default false: existing files are refused) */
  allowOverwrite?: boolean;
  /** bytes a client's socket may hold unsent before its trace records are dropped (counted, and told) and its requests wait (default 1 MiB, at least 64 KiB) */
  maxClientBuffer?: number;
}
export interface ControlServerOptions extends ControlOptions {
  logger?: Logger | undefined;
}

/** One client, as clientStats() shows it. */
export interface ControlClientStats {
  /** bytes its socket holds unsent (in the server) */
  buffered: number;
  /** subscribed to trace records */
  tracing: boolean;
  /** trace records dropped since it was last told, and in all */
  lost: number;
  lostTotal: number;
  /** requests answered, and bad requests */
  requests: number;
  errors: number;
}

/**
 * The commands' --listen [--socket PATH]: open the runtime's control socket
 * (at `where`, or the default path for true) and say where, on stderr
 * unless told otherwise (stdout may be one JSON object).
 */
export async function openControlSocket(rt: Runtime, where: string | true, say: (line: string) => void = (l) => process.stderr.write(`${l}\n`), o: ControlOptions = {}): Promise<ControlServer> {
  const c = await rt.listen(where === true ? undefined : where, o);
  say(`control socket: ${c.path}`);
  return c;
}

class Conn {
  /* the partial line after the last newline; the complete lines not answered yet */
  buf = '';
  lines: string[] = [];
  next = 0;
  scheduled = false;
  waitingDrain = false;
  dead = false;
  /* undefined: not subscribed */
  filter: TraceFilter | null | undefined = undefined;
  lost = 0;
  lostTotal = 0;
  requests = 0;
  errors = 0;
  badRun = 0;
  readonly captures = new Set<Capture>();
  constructor(readonly sock: Socket) {}
}

export class ControlServer {
  readonly path: string;
  private readonly server: Server;
  private readonly conns = new Set<Conn>();
  private readonly subs = new Set<Conn>();
  /* dropped clients, closing */
  private readonly dying = new Set<Socket>();
  private readonly logger: Logger | undefined;
  private readonly maxBuf: number;
  private readonly policy: CapturePolicy;
  /* the socket at `path` (removed by close() only if still this one), and the directory of the default path */
  private ident: { dev: number; ino: number } | null = null;
  private ownDir: string | null = null;
  /* this turn's stats, as JSON */
  private statsJson: string | null = null;
  private closed = false;
  /** bad requests and dropped clients so far */
  clientErrors = 0;

  private constructor(private readonly rt: Runtime, path: string, o: ControlServerOptions, policy: CapturePolicy) {
    this.path = path;
    this.logger = o.logger;
    this.maxBuf = o.maxClientBuffer ?? DEFAULT_CLIENT_BUFFER;
    this.policy = policy;
    this.server = createServer((sock) => this.accept(sock));
  }

  /**
   * Listen at `path` (default: a new directory of mode 0700 in the temp
   * directory). What is at `path` already is removed only if it is a stale
   * socket of ours; anything else is an XdpsimError saying what it is.
   */
  static async listen(rt: Runtime, path?: string, o: ControlServerOptions = {}): Promise<ControlServer> {
    /* at least a socket's high-water mark (16 KiB): a client over the bound is waited for with 'drain', which only a full socket emits */
    if (o.maxClientBuffer !== undefined && !(Number.isInteger(o.maxClientBuffer) && o.maxClientBuffer >= MIN_CLIENT_BUFFER)) {
      throw new XdpsimError(EINVAL, `control socket: maxClientBuffer ${o.maxClientBuffer}: an integer of at least ${MIN_CLIENT_BUFFER} bytes`);
    }
    const policy: CapturePolicy = { dir: o.captureDir !== undefined ? captureDirOf(o.captureDir) : null, allowOverwrite: o.allowOverwrite === true };
    const note = (l: string): void => {
      if (o.logger) o.logger.warn(l);
      else process.stderr.write(`xdpsim: ${l}\n`);
    };
    let final: string;
    let bound: string;
    let dir: string | null;
    let umask = false;
    if (path === undefined) {
      dir = defaultSocketDir();
      final = bound = join(dir, 'control.sock');
      try {
        checkSocketPathLength(final);
      } catch (e) {
        rmdirSync(dir);
        throw e;
      }
    } else {
      final = resolve(path);
      checkSocketPathLength(final);
      await clearStaleSocket(final, note);
      dir = privateDir(dirname(final));
      bound = join(dir, 's');
      if (Buffer.byteLength(bound) > SUN_PATH_MAX) {
        /*
         * The private name does not fit in sun_path: bind at PATH itself
         * under umask 077 (a socket others cannot write). Then Node's own
         * close() unlinks PATH, whatever is there by then.
         */
        rmdirSync(dir);
        dir = null;
        bound = final;
        umask = true;
      }
    }
    const s = new ControlServer(rt, final, o, policy);
    try {
      await new Promise<void>((res, rej) => {
        const fail = (e: Error): void => rej(new XdpsimError(errnoOf(e), `cannot listen at ${final}: ${(e as { code?: string }).code ?? e.message}`));
        s.server.once('error', fail);
        /* bind() is done within listen(): the umask covers it and nothing else */
        const old = umask ? process.umask(0o077) : 0;
        try {
          s.server.listen(bound, () => {
            s.server.off('error', fail);
            res();
          });
        } finally {
          if (umask) process.umask(old);
        }
      });
      chmodSync(bound, 0o600);
      const st = lstatSync(bound);
      if (!st.isSocket() || (st.mode & 0o077) !== 0) throw new XdpsimError(EACCES, `control socket ${bound}: mode ${(st.mode & 0o777).toString(8)} after chmod 0600`);
      if (bound !== final) publishSocket(bound, final);
      s.ident = identity(final);
      if (path === undefined) s.ownDir = dir;
    } catch (e) {
      await new Promise<void>((r) => s.server.close(() => r()));
      try { if (bound !== final) unlinkSync(bound); } catch { /* not made */ }
      try { if (dir !== null) rmdirSync(dir); } catch { /* not empty or gone */ }
      throw e instanceof XdpsimError ? e : new XdpsimError(errnoOf(e), `control socket ${final}: ${(e as Error).message}`);
    }
    s.server.unref();
    return s;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.subs.size > 0) this.rt.off('trace', this.onTrace);
    this.subs.clear();
    for (const c of this.conns) {
      c.dead = true;
      c.sock.destroy();
    }
    for (const s of this.dying) s.destroy();
    /* our socket only: not whatever was put at the path since */
    if (this.ident !== null) removeIfOurs(this.path, this.ident);
    await new Promise<void>((res) => this.server.close(() => res()));
    if (this.ownDir !== null) {
      try { rmdirSync(this.ownDir); } catch { /* something else was put in it */ }
    }
  }

  /** Every connected client: what the server holds for it, records lost, requests. */
  clientStats(): ControlClientStats[] {
    return [...this.conns].map((c) => ({
      buffered: c.sock.writableLength, tracing: c.filter !== undefined, lost: c.lost, lostTotal: c.lostTotal, requests: c.requests, errors: c.errors,
    }));
  }

  /* a client that does not speak the protocol: an error line, the connection closed, logged */
  private drop(c: Conn, why: string): void {
    if (c.dead) return;
    this.clientErrors++;
    if (this.logger) this.logger.error({ socket: this.path }, `control client dropped: ${why}`);
    else process.stderr.write(`xdpsim: control client dropped: ${why}\n`);
    c.dead = true;
    this.gone(c);
    const sock = c.sock;
    if (sock.destroyed) return;
    /*
     * The error line, then our end of the connection. What the client still
     * sends is read and thrown away for a moment, so that its writes do not
     * fail (EPIPE) before it has read the line; then it is gone.
     */
    sock.removeAllListeners('data');
    sock.on('data', () => {});
    sock.resume();
    sock.end(JSON.stringify({ ok: false, error: why, code: 'EPROTO' }) + '\n');
    this.dying.add(sock);
    const t = setTimeout(() => sock.destroy(), 1000);
    t.unref();
    sock.once('close', () => {
      clearTimeout(t);
      this.dying.delete(sock);
    });
  }

  private gone(c: Conn): void {
    c.dead = true;
    this.conns.delete(c);
    this.unsubscribe(c);
    /* a client that goes away stops its captures */
    for (const cap of c.captures) this.rt.stopCapture(cap).catch(() => {});
    c.captures.clear();
    c.lines = [];
  }

  private accept(sock: Socket): void {
    const c = new Conn(sock);
    if (this.closed) {
      sock.destroy();
      return;
    }
    this.conns.add(c);
    sock.on('close', () => this.gone(c));
    sock.on('error', () => this.gone(c));
    /* room again: tell it what it lost; answer what waits */
    sock.on('drain', () => {
      if (c.lost > 0 && !c.dead) this.sendLost(c);
      if (c.waitingDrain) {
        c.waitingDrain = false;
        this.schedule(c);
      }
    });
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(c, chunk));
  }

  private onData(c: Conn, chunk: string): void {
    if (c.dead) return;
    const s = c.buf + chunk;
    let start = 0;
    let nl: number;
    while ((nl = s.indexOf('\n', start)) >= 0) {
      if (nl - start > MAX_LINE) return this.drop(c, `a request line over ${MAX_LINE} characters`);
      c.lines.push(s.slice(start, nl));
      start = nl + 1;
    }
    c.buf = s.slice(start);
    if (c.buf.length > MAX_LINE) return this.drop(c, `a request line over ${MAX_LINE} characters`);
    if (c.next < c.lines.length) {
      /* what it sends next waits in the kernel until these are answered */
      c.sock.pause();
      this.schedule(c);
    }
  }

  private schedule(c: Conn): void {
    if (c.scheduled || c.dead) return;
    c.scheduled = true;
    setImmediate(() => this.run(c));
  }

  /* answer up to BATCH of a client's requests (BATCH_MS), then let the event loop run */
  private run(c: Conn): void {
    c.scheduled = false;
    if (c.dead) return;
    const t0 = performance.now();
    let n = 0;
    while (c.next < c.lines.length) {
      if (n >= BATCH || (n > 0 && performance.now() - t0 > BATCH_MS)) return this.schedule(c);
      if (c.sock.writableLength >= this.maxBuf) {
        c.waitingDrain = true;
        return;
      }
      const line = c.lines[c.next++]!;
      n++;
      this.handle(c, line);
      if (c.dead) return;
    }
    c.lines = [];
    c.next = 0;
    c.sock.resume();
  }

  private send(c: Conn, line: string): void {
    if (!c.dead && !c.sock.destroyed) c.sock.write(line);
  }

  private replyError(c: Conn, id: RequestId, e: unknown): void {
    let code: string;
    let error: string;
    if (e instanceof XdpsimError) {
      code = e.code;
      error = e.message;
    } else if (e instanceof MapCmdError) {
      /* bpftool's own words (xdpsim map prints them after "Error: ") */
      code = 'EINVAL';
      error = e.message;
    } else {
      code = 'EINVAL';
      error = `internal error: ${(e as Error)?.message ?? String(e)}`;
      this.logger?.error({ err: e }, 'control request failed');
    }
    this.send(c, JSON.stringify({ id, ok: false, error, code }) + '\n');
  }

  private handle(c: Conn, raw: string): void {
    const line = raw.trim();
    if (line === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return this.drop(c, `not JSON: ${JSON.stringify(line.slice(0, 80))}`);
    }
    const p = parseRequest(v);
    if (!p.ok) {
      c.errors++;
      this.clientErrors++;
      this.replyError(c, p.id, new XdpsimError(EINVAL, p.why));
      if (++c.badRun >= MAX_BAD) this.drop(c, `${MAX_BAD} bad requests in a row`);
      return;
    }
    c.badRun = 0;
    c.requests++;
    const req = p.req;
    if (req.cmd !== 'stats') this.statsJson = null;
    try {
      this.exec(c, req);
    } catch (e) {
      this.replyError(c, req.id, e);
    }
  }

  private exec(c: Conn, req: Request): void {
    const ok = (result: unknown, extra = ''): void => this.send(c, `{"id":${JSON.stringify(req.id)},"ok":true,"result":${JSON.stringify(result)}${extra}}\n`);
    switch (req.cmd) {
      case 'stats': {
        /* pipelined stats of one turn share one snapshot: they arrived together */
        if (this.statsJson === null) {
          this.statsJson = JSON.stringify(this.rt.stats());
          setImmediate(() => { this.statsJson = null; });
        }
        this.send(c, `{"id":${JSON.stringify(req.id)},"ok":true,"result":${this.statsJson}}\n`);
        return;
      }
      case 'devices':
        return ok(this.rt.listDevices().map((d) => ({ ifindex: d.ifindex, name: d.name, kind: d.kind, up: d.isUp, xdp_prog_id: d.xdpProgId })));
      case 'drops':
        return ok(this.rt.lastDrops());
      case 'map': {
        const lines: string[] = [];
        runMapCommand({ rt: this.rt, maps: this.rt.mapsByName(), progs: this.rt.progsByName() }, req.args, req.json === true, (l) => lines.push(l));
        return ok(lines);
      }
      case 'trace': {
        const f = req.filter ?? null;
        c.filter = f === null ? null : { ...(f.events !== undefined ? { events: [...f.events] } : {}), ...(f.ifindex !== undefined ? { ifindex: f.ifindex } : {}), ...(f.err !== undefined ? { err: f.err } : {}) };
        if (!this.subs.has(c)) {
          if (this.subs.size === 0) this.rt.on('trace', this.onTrace);
          this.subs.add(c);
        }
        return ok('subscribed');
      }
      case 'capture': {
        /* xdpsim dump: a capture into a file the server's user allows (see control-fs.ts), answered again when it ends */
        const t = openCaptureTarget(req.file, req.overwrite === true, this.policy);
        let cap: Capture;
        try {
          cap = this.rt.startCapture(req.devices, {
            file: t.path, ...(req.points !== undefined ? { points: req.points } : {}),
            ...(req.snapLen !== undefined ? { snapLen: req.snapLen } : {}), ...(req.count !== undefined ? { count: req.count } : {}),
          });
        } catch (e) {
          removeTarget(t);
          throw e;
        }
        if (!stillTarget(t)) {
          this.rt.stopCapture(cap).catch(() => {});
          throw new XdpsimError(EACCES, `capture: ${t.path} was replaced while it was opened`);
        }
        c.captures.add(cap);
        ok('capturing');
        void cap.done.then((res) => {
          c.captures.delete(cap);
          this.send(c, `{"id":${JSON.stringify(req.id)},"ok":true,"result":${JSON.stringify(res)},"done":true}\n`);
        });
        return;
      }
    }
  }

  private unsubscribe(c: Conn): void {
    c.filter = undefined;
    if (this.subs.delete(c) && this.subs.size === 0) this.rt.off('trace', this.onTrace);
  }

  private sendLost(c: Conn): void {
    this.send(c, `{"lost":${c.lost}}\n`);
    c.lost = 0;
  }

  /* the one runtime listener for every subscriber: it never throws, a slow client loses only its own records */
  private readonly onTrace = (e: TraceEvent): void => {
    let line: string | null = null;
    for (const c of this.subs) {
      try {
        if (c.filter !== null && c.filter !== undefined && !traceFilterPasses(c.filter, e)) continue;
        if (c.sock.destroyed) continue;
        if (c.sock.writableLength >= this.maxBuf) {
          c.lost++;
          c.lostTotal++;
          continue;
        }
        if (c.lost > 0) this.sendLost(c);
        line ??= `{"trace":${JSON.stringify(e)}}\n`;
        c.sock.write(line);
      } catch (err) {
        this.drop(c, `trace: ${(err as Error)?.message ?? String(err)}`);
      }
    }
  };
}

/** A response, as ControlClient.request() resolves it. */
export interface ControlReply {
  id?: RequestId;
  ok: boolean;
  result?: unknown;
  error?: string;
  code?: string;
  done?: boolean;
}

export interface ControlClientOptions {
  /** how long connect() and each request wait (ms; default XDPSIM_CONTROL_TIMEOUT_MS or 5000) */
  timeoutMs?: number;
}

/** The default timeout of a client: XDPSIM_CONTROL_TIMEOUT_MS, else 5 s. */
export function defaultClientTimeoutMs(): number {
  const v = Number(process.env.XDPSIM_CONTROL_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 5000;
}

/* one line saying why a connect to `path` failed, and what is there */
function connectError(path: string, e: NodeJS.ErrnoException): XdpsimError {
  let st: ReturnType<typeof lstatSync> | null = null;
  try {
    st = lstatSync(path);
  } catch { /* nothing there */ }
  switch (e.code) {
    case 'ENOENT':
      if (st?.isSymbolicLink()) {
        let to = '?';
        try { to = readlinkSync(path); } catch { /* gone */ }
        return new XdpsimError(ENOENT, `${path} is a symbolic link to nothing (${to}), not an xdpsim control socket`);
      }
      return new XdpsimError(ENOENT, `no xdpsim control socket at ${path}`);
    case 'ECONNREFUSED':
      if (st?.isDirectory()) return new XdpsimError(EISDIR, `${path} is a directory, not an xdpsim control socket`);
      if (st !== null && !st.isSocket() && !st.isSymbolicLink()) return new XdpsimError(ENOTSOCK, `${path} is ${fileKind(st)}, not an xdpsim control socket`);
      return new XdpsimError(ECONNREFUSED, `nothing listens at ${path} (a stale socket: the xdpsim that made it has exited)`);
    case 'EACCES':
    case 'EPERM':
      return new XdpsimError(EACCES, `permission denied connecting to ${path} (a control socket is its owner's only)`);
    case 'ENOTDIR':
      return new XdpsimError(ENOTDIR, `no xdpsim control socket at ${path} (a part of the path is not a directory)`);
    default:
      return new XdpsimError(errnoOf(e), `cannot connect to ${path}: ${e.code ?? e.message}`);
  }
}

type ServerLine = ControlReply & { trace?: TraceEvent; lost?: unknown };
function parseLine(line: string): ServerLine | null {
  try {
    const m = JSON.parse(line) as unknown;
    return typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as ServerLine) : null;
  } catch {
    return null;
  }
}

const secs = (ms: number): string => `${Math.round(ms) / 1000}`;

/**
 * The client side (the `xdpsim map/monitor/trace/dump --socket` commands).
 * Every failure is an XdpsimError of one line: no socket, nothing
 * listening, not an xdpsim, no answer within the timeout (then the
 * connection is given up), the connection closed.
 */
export class ControlClient {
  private buf = '';
  private nextId = 1;
  private readonly waiting = new Map<number, { res: (r: ControlReply) => void; rej: (e: Error) => void; timer: NodeJS.Timeout }>();
  private failed: XdpsimError | null = null;
  onTrace: ((e: TraceEvent) => void) | null = null;
  /** a second response to a request (a capture's end) */
  onLate: ((m: ControlReply) => void) | null = null;
  /** records the server dropped for this client (it did not read fast enough) */
  onLost: ((n: number) => void) | null = null;
  /** records lost so far */
  lost = 0;

  private constructor(private readonly sock: Socket, private readonly path: string, private readonly timeoutMs: number) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', (e: NodeJS.ErrnoException) => this.fail(new XdpsimError(errnoOf(e), `control socket ${path}: ${e.code ?? e.message}`)));
    sock.on('close', () => this.fail(new XdpsimError(ECONNRESET, 'the xdpsim process closed the control socket')));
  }

  static connect(path: string, o: ControlClientOptions = {}): Promise<ControlClient> {
    const ms = o.timeoutMs ?? defaultClientTimeoutMs();
    try {
      checkSocketPathLength(path);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return new Promise((res, rej) => {
      const s = netConnect(path);
      const t = setTimeout(() => {
        s.destroy();
        rej(new XdpsimError(ETIMEDOUT, `no connection to ${path} in ${secs(ms)} s`));
      }, ms);
      const onErr = (e: NodeJS.ErrnoException): void => {
        clearTimeout(t);
        s.destroy();
        rej(connectError(path, e));
      };
      s.once('error', onErr);
      s.once('connect', () => {
        clearTimeout(t);
        s.off('error', onErr);
        res(new ControlClient(s, path, ms));
      });
    });
  }

  private fail(e: XdpsimError): void {
    if (this.failed === null) this.failed = e;
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.rej(this.failed);
    }
    this.waiting.clear();
  }

  /* give the connection up: every waiting request fails with e */
  private abandon(e: XdpsimError): void {
    this.fail(e);
    this.sock.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const m = parseLine(line);
      if (m === null) {
        return this.abandon(new XdpsimError(EPROTO, `${this.path} answered ${JSON.stringify(line.slice(0, 40))}: not an xdpsim control socket`));
      }
      if (m.trace !== undefined) this.onTrace?.(m.trace);
      else if (typeof m.lost === 'number') {
        this.lost += m.lost;
        this.onLost?.(m.lost);
      } else if (typeof m.id === 'number' && this.waiting.has(m.id)) {
        const w = this.waiting.get(m.id)!;
        this.waiting.delete(m.id);
        clearTimeout(w.timer);
        w.res(m);
      } else if (m.id === null || m.id === undefined) {
        /* the server dropped this client (what it sent was not a request) */
        if (m.ok === false) return this.abandon(new XdpsimError(EPROTO, `the xdpsim at ${this.path} dropped this client: ${m.error ?? '?'}`));
      } else this.onLate?.(m);
    }
  }

  /** Send a request; resolves with its response, rejects (XdpsimError) on no answer within the timeout or a closed connection. */
  request(cmd: string, fields: object = {}, o: ControlClientOptions = {}): Promise<ControlReply> {
    if (this.failed !== null) return Promise.reject(this.failed);
    const id = this.nextId++;
    const ms = o.timeoutMs ?? this.timeoutMs;
    return new Promise((res, rej) => {
      const timer = setTimeout(() => this.abandon(new XdpsimError(ETIMEDOUT, `no answer to ${cmd} from ${this.path} in ${secs(ms)} s`)), ms);
      this.waiting.set(id, { res, rej, timer });
      this.sock.write(JSON.stringify({ id, cmd, ...fields }) + '\n');
    });
  }

  close(): void {
    /* what was written goes out, then the connection is gone (a server that never closes its side does not keep this process) */
    this.sock.end(() => this.sock.destroy());
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }

  onClose(fn: () => void): void {
    this.sock.once('close', fn);
  }
}
