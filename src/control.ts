/*
 * The control socket: other processes attach to a running xdpsim the way
 * bpftool, xdp-monitor and xdpdump attach to a kernel. A Unix domain
 * socket, readable and writable by its owner only (mode 0600), speaking
 * newline-delimited JSON:
 *
 *   request  {"id": 1, "cmd": "stats"}
 *            {"id": 2, "cmd": "map", "args": ["lookup", "name", "tx_ports", "key", "0"], "json": true}
 *            {"id": 3, "cmd": "trace", "filter": {"events": [...], "ifindex": 2, "err": -95}}
 *            {"id": 4, "cmd": "devices"}
 *   response {"id": 1, "ok": true, "result": ...} | {"id": 1, "ok": false, "error": "..."}
 *   stream   {"trace": {...a trace record...}}  (after a trace request, until the client goes)
 *
 * A client that sends something that is not a JSON request (or a line over
 * 1 MiB) gets an error response and is disconnected, with a logged error;
 * one that vanishes mid-stream is forgotten. The runtime keeps running.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Runtime, TraceFilter } from './runtime.ts';
import { traceFilterPasses } from './runtime.ts';
import type { TraceEvent } from './shared/trace.ts';
import { MapCmdError, runMapCommand } from './cli-map.ts';
import { XdpsimError } from './shared/errno.ts';
import type { CapturePoint } from './capture.ts';

const MAX_LINE = 1 << 20;

export function defaultSocketPath(): string {
  return join(tmpdir(), `xdpsim-${process.pid}.sock`);
}

/**
 * The commands' --listen [--socket PATH]: open the runtime's control socket
 * (at `where`, or the default path for true) and say where, on stderr
 * unless told otherwise (stdout may be one JSON object).
 */
export async function openControlSocket(rt: Runtime, where: string | true, say: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<ControlServer> {
  const c = await rt.listen(where === true ? undefined : where);
  say(`control socket: ${c.path}`);
  return c;
}

export class ControlServer {
  readonly path: string;
  private readonly server: Server;
  private readonly clients = new Set<Socket>();
  /** errors from clients (bad input), for tests and stats */
  clientErrors = 0;

  private constructor(private readonly rt: Runtime, path: string, private readonly logger?: Logger) {
    this.path = path;
    this.server = createServer((sock) => this.accept(sock));
  }

  static async listen(rt: Runtime, path = defaultSocketPath(), logger?: Logger): Promise<ControlServer> {
    if (existsSync(path)) unlinkSync(path);
    const s = new ControlServer(rt, path, logger);
    await new Promise<void>((res, rej) => {
      s.server.once('error', rej);
      s.server.listen(path, () => {
        s.server.off('error', rej);
        res();
      });
    });
    chmodSync(path, 0o600);
    s.server.unref();
    return s;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    await new Promise<void>((res) => this.server.close(() => res()));
    if (existsSync(this.path)) unlinkSync(this.path);
  }

  private fail(sock: Socket, why: string): void {
    this.clientErrors++;
    if (this.logger) this.logger.error({ socket: this.path }, `control client dropped: ${why}`);
    else process.stderr.write(`xdpsim: control client dropped: ${why}\n`);
    if (!sock.destroyed) sock.end(JSON.stringify({ ok: false, error: why }) + '\n');
    sock.destroy();
  }

  private accept(sock: Socket): void {
    this.clients.add(sock);
    let buf = '';
    let unsubscribe: (() => void) | null = null;
    const gone = (): void => {
      this.clients.delete(sock);
      unsubscribe?.();
      unsubscribe = null;
    };
    sock.on('close', gone);
    sock.on('error', gone);
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) return this.fail(sock, `a request line over ${MAX_LINE} bytes`);
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        let req: { id?: unknown; cmd?: unknown; args?: unknown; json?: unknown; filter?: unknown };
        try {
          req = JSON.parse(line) as typeof req;
        } catch {
          return this.fail(sock, `not JSON: ${JSON.stringify(line.slice(0, 80))}`);
        }
        if (typeof req !== 'object' || req === null || typeof req.cmd !== 'string') return this.fail(sock, `not a request (no "cmd"): ${JSON.stringify(line.slice(0, 80))}`);
        const id = req.id ?? null;
        const reply = (o: object): void => {
          if (!sock.destroyed) sock.write(JSON.stringify({ id, ...o }) + '\n');
        };
        try {
          switch (req.cmd) {
            case 'stats':
              reply({ ok: true, result: this.rt.stats() });
              break;
            case 'devices':
              reply({ ok: true, result: this.rt.listDevices().map((d) => ({ ifindex: d.ifindex, name: d.name, kind: d.kind, up: d.isUp, xdp_prog_id: d.xdpProgId })) });
              break;
            case 'drops':
              reply({ ok: true, result: this.rt.lastDrops() });
              break;
            case 'map': {
              if (!Array.isArray(req.args) || !req.args.every((a) => typeof a === 'string')) return this.fail(sock, 'map: "args" must be an array of strings');
              const lines: string[] = [];
              try {
                runMapCommand({ rt: this.rt, maps: this.rt.mapsByName(), progs: this.rt.progsByName() }, req.args as string[], req.json === true, (l) => lines.push(l));
                reply({ ok: true, result: lines });
              } catch (e) {
                if (e instanceof MapCmdError || e instanceof XdpsimError) reply({ ok: false, error: e.message });
                else throw e;
              }
              break;
            }
            case 'trace': {
              const filter = (req.filter ?? null) as TraceFilter | null;
              if (filter !== null && typeof filter !== 'object') return this.fail(sock, 'trace: "filter" must be an object');
              unsubscribe?.();
              const fn = (e: TraceEvent): void => {
                if (filter !== null && !traceFilterPasses(filter, e)) return;
                if (!sock.destroyed) sock.write(JSON.stringify({ trace: e }) + '\n');
              };
              this.rt.on('trace', fn);
              unsubscribe = () => this.rt.off('trace', fn);
              reply({ ok: true, result: 'subscribed' });
              break;
            }
            case 'capture': {
              /* xdpsim dump: a capture into the client's file (same user: the socket is owner-only), answered when it ends */
              const r = req as { devices?: unknown; file?: unknown; points?: unknown; snapLen?: unknown; count?: unknown };
              if (!Array.isArray(r.devices) || typeof r.file !== 'string') return this.fail(sock, 'capture: "devices" (names) and "file" are required');
              const cap = this.rt.startCapture(r.devices as string[], {
                file: r.file, ...(Array.isArray(r.points) ? { points: r.points as CapturePoint[] } : {}),
                ...(typeof r.snapLen === 'number' ? { snapLen: r.snapLen } : {}), ...(typeof r.count === 'number' ? { count: r.count } : {}),
              });
              /* a client that goes away stops its capture */
              const stop = (): void => { void this.rt.stopCapture(cap); };
              sock.once('close', stop);
              reply({ ok: true, result: 'capturing' });
              void cap.done.then((res) => {
                sock.off('close', stop);
                reply({ ok: true, result: res, done: true });
              });
              break;
            }
            default:
              return this.fail(sock, `unknown command ${JSON.stringify(req.cmd)} (stats, devices, drops, map, trace, capture)`);
          }
        } catch (e) {
          reply({ ok: false, error: (e as Error).message });
        }
      }
    });
  }
}

/** The client side: one request, one response (the `xdpsim map/monitor --socket` commands). */
export class ControlClient {
  private buf = '';
  private nextId = 1;
  private readonly waiting = new Map<number, (r: { ok: boolean; result?: unknown; error?: string }) => void>();
  onTrace: ((e: TraceEvent) => void) | null = null;
  /** a second response to a request (a capture's end) */
  onLate: ((m: { id?: number; ok: boolean; result?: unknown; error?: string }) => void) | null = null;
  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const m = JSON.parse(line) as { id?: number; trace?: TraceEvent; ok: boolean; result?: unknown; error?: string };
        if (m.trace) this.onTrace?.(m.trace);
        else if (m.id !== undefined && this.waiting.has(m.id)) {
          this.waiting.get(m.id)!(m);
          this.waiting.delete(m.id);
        } else if (m.id !== undefined) this.onLate?.(m);
      }
    });
  }
  static connect(path: string): Promise<ControlClient> {
    return new Promise((res, rej) => {
      import('node:net').then(({ connect }) => {
        const s = connect(path, () => res(new ControlClient(s)));
        s.once('error', rej);
      }, rej);
    });
  }
  request(cmd: string, fields: object = {}): Promise<{ ok: boolean; result?: unknown; error?: string }> {
    const id = this.nextId++;
    return new Promise((res, rej) => {
      this.waiting.set(id, res);
      this.sock.once('close', () => rej(new Error('the xdpsim process closed the control socket')));
      this.sock.write(JSON.stringify({ id, cmd, ...fields }) + '\n');
    });
  }
  close(): void {
    this.sock.end();
  }
  onClose(fn: () => void): void {
    this.sock.once('close', fn);
  }
}
