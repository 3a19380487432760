/*
 * The control socket against other users and hostile clients (issue 15,
 * point 5), one test per defect: the socket open to everyone between bind
 * and chmod; a capture request overwriting any file; --socket PATH deleting
 * whatever is at PATH; a trace filter that throws for every record; a
 * client that never reads; pipelined requests starving the trace
 * collector; clients that print stack traces or wait forever.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { connect, createServer, Server, type Socket } from 'node:net';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XDP_ABORTED, type Runtime } from '../src/index.ts';
import { ControlClient, type ControlServer } from '../src/control.ts';
import { XdpsimError } from '../src/shared/errno.ts';
import { parseCapture } from '../src/gen/pcap.ts';
import { fixture, withRuntime } from './helpers.ts';

const bin = fileURLToPath(new URL('../bin/xdpsim.mjs', import.meta.url));
const scratch = (): string => mkdtempSync(join(tmpdir(), 'xdpsim-sec-'));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/* a runtime with one veth a0 whose program aborts: one xdp_exception record per frame */
async function withAborting<T>(o: { traceRingSize?: number }, fn: (rt: Runtime, inject: (n: number) => Promise<void>) => Promise<T>): Promise<T> {
  return withRuntime({ cpus: 1, ...o }, async (rt) => {
    const [a0] = rt.createVeth('a0', 'a1', { rxQueues: 1 });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, XDP_ABORTED);
    a0.attachXdp(obj.progs.verdict!);
    return fn(rt, async (n) => {
      await a0.inject({ count: n });
      assert.equal(await rt.quiesce(), true);
      rt.collect();
    });
  });
}

type Msg = { id?: unknown; ok?: boolean; result?: unknown; error?: string; code?: string; trace?: { event: string }; lost?: number; done?: boolean };

/* a raw newline-delimited JSON client: what it sent, every message it got */
class Raw {
  readonly msgs: Msg[] = [];
  closed = false;
  private buf = '';
  private constructor(readonly sock: Socket, read: boolean) {
    sock.setEncoding('utf8');
    sock.on('close', () => { this.closed = true; });
    sock.on('error', () => {});
    if (read) this.read();
    else sock.pause();
  }
  static open(path: string, read = true): Promise<Raw> {
    return new Promise((res, rej) => {
      const s = connect(path, () => res(new Raw(s, read)));
      s.once('error', rej);
    });
  }
  read(): void {
    this.sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.msgs.push(JSON.parse(this.buf.slice(0, nl)) as Msg);
        this.buf = this.buf.slice(nl + 1);
      }
    });
    this.sock.resume();
  }
  send(x: object | string): void {
    this.sock.write(typeof x === 'string' ? x : JSON.stringify(x) + '\n');
  }
  async until(what: string, pred: (m: Msg) => boolean, ms = 10_000): Promise<Msg> {
    const end = performance.now() + ms;
    for (;;) {
      const m = this.msgs.find(pred);
      if (m) return m;
      if (performance.now() > end || this.closed) throw new Error(`${what}: not seen in ${ms} ms (closed: ${this.closed}); got ${JSON.stringify(this.msgs.slice(-3))}`);
      await sleep(5);
    }
  }
  traces(): number { return this.msgs.filter((m) => m.trace !== undefined).length; }
  lost(): number { return this.msgs.reduce((s, m) => s + (m.lost ?? 0), 0); }
  close(): void { this.sock.destroy(); }
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<XdpsimError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof XdpsimError, `an XdpsimError, not ${String((e as Error)?.stack ?? e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), `one line: ${JSON.stringify(e.message)}`);
    return e;
  }
  assert.fail(`expected ${code}`);
}

test('the socket is never open to others: bound inside a private directory, mode 0600 before it appears at PATH', async () => {
  const pub = scratch();
  chmodSync(pub, 0o1777); /* like /tmp */
  const path = join(pub, 'c.sock');
  await withRuntime({ cpus: 1 }, async (rt) => {
    /* the state of the socket right after bind(): listen() binds synchronously */
    const seen: Array<{ bind: string; mode: number; dirMode: number; dirUid: number }> = [];
    const orig = Server.prototype.listen;
    Server.prototype.listen = function (this: Server, ...a: unknown[]) {
      const r = orig.apply(this, a as Parameters<typeof orig>);
      if (typeof a[0] === 'string') {
        const st = lstatSync(a[0]);
        const d = lstatSync(dirname(a[0]));
        seen.push({ bind: a[0], mode: st.mode & 0o7777, dirMode: d.mode & 0o7777, dirUid: d.uid });
      }
      return r;
    } as typeof orig;
    const umask = process.umask(0); /* the reproduction: under umask 000 */
    let srv: ControlServer;
    try {
      srv = await rt.listen(path);
    } finally {
      process.umask(umask);
      Server.prototype.listen = orig;
    }
    assert.equal(seen.length, 1, JSON.stringify(seen));
    const b = seen[0]!;
    /* another user reaches a socket only through a directory it may search and a socket it may write */
    const othersReach = (b.dirMode & 0o011) !== 0 && (b.mode & 0o022) !== 0;
    assert.ok(!othersReach, `at bind: socket ${b.mode.toString(8)} in a directory ${b.dirMode.toString(8)} (${b.bind})`);
    if ((b.dirMode & 0o077) === 0) assert.equal(b.dirUid, process.getuid!(), 'the private directory is ours');
    assert.equal(srv.path, path);
    const st = lstatSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    /* nothing left beside it */
    assert.equal(existsSync(b.bind) && b.bind !== path, false, `the bind path ${b.bind} is gone`);
    const c = await ControlClient.connect(path);
    assert.equal((await c.request('stats')).ok, true);
    c.close();
    /* as root: a process of another user is refused */
    if (process.getuid!() === 0) {
      const r = spawnSync(process.execPath, ['-e', `require('net').connect(${JSON.stringify(path)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`],
        { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 10_000 });
      if (r.status === 0) assert.equal(r.stdout.trim(), 'EACCES', 'nobody may not connect');
    }
  });
  /* the default path: in a directory of its own, mode 0700 */
  await withRuntime({ cpus: 1 }, async (rt) => {
    const srv = await rt.listen();
    const d = lstatSync(dirname(srv.path));
    assert.ok(d.isDirectory());
    assert.equal(d.mode & 0o777, 0o700, srv.path);
    assert.equal(d.uid, process.getuid!());
    assert.equal(lstatSync(srv.path).mode & 0o777, 0o600);
    const dir = dirname(srv.path);
    await rt.stop();
    assert.equal(existsSync(dir), false, 'stop() removes the socket and its directory');
  });
});

test('capture over the socket writes only a new file, under the capture directory when there is one', async () => {
  const d = scratch();
  const capDir = join(d, 'caps');
  mkdirSync(capDir);
  const outside = join(d, 'victim');
  writeFileSync(outside, 'precious');
  symlinkSync(outside, join(capDir, 'link.pcapng'));
  symlinkSync(d, join(capDir, 'up'));
  writeFileSync(join(capDir, 'old.pcapng'), 'old');
  await withAborting({}, async (rt, inject) => {
    const srv = await rt.listen(join(d, 'c.sock'), { captureDir: capDir });
    const c = await Raw.open(srv.path);
    const cap = (id: number, file: string, extra: object = {}): Promise<Msg> => {
      c.send({ id, cmd: 'capture', devices: ['a0'], file, count: 2, ...extra });
      return c.until(`reply ${id}`, (m) => m.id === id);
    };
    const refused: Array<[string, string, RegExp]> = [
      [outside, 'EACCES', /outside the capture directory/],
      [join(capDir, '..', 'victim'), 'EACCES', /outside the capture directory/],
      ['../victim', 'EACCES', /outside the capture directory/],
      ['up/victim', 'EACCES', /outside the capture directory/],
      ['link.pcapng', 'ELOOP', /symbolic link/],
      ['old.pcapng', 'EEXIST', /exists/],
      ['.', 'EISDIR', /not a regular file|directory/],
    ];
    let id = 1;
    for (const [file, code, re] of refused) {
      const r = await cap(id++, file);
      assert.equal(r.ok, false, `${file}: ${JSON.stringify(r)}`);
      assert.equal(r.code, code, `${file}: ${r.error}`);
      assert.match(r.error!, re);
    }
    /* overwrite: asked for, but this server does not allow it */
    const o = await cap(id++, 'old.pcapng', { overwrite: true });
    assert.equal(o.code, 'EEXIST', o.error);
    assert.equal(readFileSync(outside, 'utf8'), 'precious');
    assert.equal(readFileSync(join(capDir, 'old.pcapng'), 'utf8'), 'old');
    assert.equal(readlinkSync(join(capDir, 'link.pcapng')), outside);
    /* the connection survived every refusal; a new file under the directory is written */
    const ok = await cap(id, 'new.pcapng');
    assert.equal(ok.ok, true, ok.error);
    await inject(4);
    const done = await c.until('capture done', (m) => m.id === id && m.done === true);
    assert.equal((done.result as { packets: number }).packets, 2);
    assert.equal((done.result as { file: string }).file, join(capDir, 'new.pcapng'));
    assert.equal(parseCapture(readFileSync(join(capDir, 'new.pcapng'))).packets.length, 2);
    assert.equal(statSync(join(capDir, 'new.pcapng')).mode & 0o077, 0, 'the capture is its owner\'s only');
    c.close();
  });
  /* without a capture directory: any absolute path, but never an existing file (unless the server allows overwrite and the client asks) */
  writeFileSync(join(d, 'existing'), 'keep');
  await withAborting({}, async (rt) => {
    const srv = await rt.listen(join(d, 'c2.sock'));
    const c = await Raw.open(srv.path);
    c.send({ id: 1, cmd: 'capture', devices: ['a0'], file: join(d, 'existing'), count: 1 });
    assert.equal((await c.until('reply 1', (m) => m.id === 1)).code, 'EEXIST');
    c.send({ id: 2, cmd: 'capture', devices: ['a0'], file: join(d, 'existing'), count: 1, overwrite: true });
    assert.equal((await c.until('reply 2', (m) => m.id === 2)).code, 'EEXIST');
    c.send({ id: 3, cmd: 'capture', devices: ['a0'], file: 'relative.pcapng', count: 1 });
    assert.equal((await c.until('reply 3', (m) => m.id === 3)).code, 'EINVAL');
    assert.equal(readFileSync(join(d, 'existing'), 'utf8'), 'keep');
    assert.equal(readFileSync(outside, 'utf8'), 'precious');
    c.close();
  });
  /* a server that allows overwrite: the client must still ask */
  await withAborting({}, async (rt, inject) => {
    const srv = await rt.listen(join(d, 'c3.sock'), { allowOverwrite: true });
    const c = await Raw.open(srv.path);
    c.send({ id: 1, cmd: 'capture', devices: ['a0'], file: join(d, 'existing'), count: 1 });
    assert.equal((await c.until('reply 1', (m) => m.id === 1)).code, 'EEXIST');
    c.send({ id: 2, cmd: 'capture', devices: ['a0'], file: join(d, 'existing'), count: 1, overwrite: true });
    assert.equal((await c.until('reply 2', (m) => m.id === 2)).ok, true);
    await inject(1);
    await c.until('capture done', (m) => m.id === 2 && m.done === true);
    assert.equal(parseCapture(readFileSync(join(d, 'existing'))).packets.length, 1);
    c.close();
  });
});

test('--socket PATH removes only a stale socket; a file, directory or symlink is refused in one line and left alone', async () => {
  const d = scratch();
  const file = join(d, 'file');
  writeFileSync(file, 'precious');
  mkdirSync(join(d, 'dir'));
  symlinkSync(join(d, 'nowhere'), join(d, 'dangling'));
  /* a stale socket: its process was killed */
  const stale = join(d, 'stale.sock');
  const k = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`], { timeout: 10_000 });
  assert.equal(k.signal, 'SIGKILL');
  assert.ok(lstatSync(stale).isSocket());
  /* a live one */
  const live = join(d, 'live.sock');
  const other = createServer((s) => { s.on('error', () => {}); s.end('{"live":true}\n'); });
  await new Promise<void>((r) => other.listen(live, r));
  symlinkSync(live, join(d, 'link-to-live'));
  try {
    await withRuntime({ cpus: 1 }, async (rt) => {
      await rejectsWith(rt.listen(file), 'EEXIST', /is a regular file.*not removing it/);
      assert.equal(readFileSync(file, 'utf8'), 'precious');
      await rejectsWith(rt.listen(join(d, 'dir')), 'EISDIR', /is a directory.*not removing it/);
      assert.ok(statSync(join(d, 'dir')).isDirectory());
      await rejectsWith(rt.listen(join(d, 'dangling')), 'EEXIST', /is a symbolic link.*not removing it/);
      await rejectsWith(rt.listen(join(d, 'link-to-live')), 'EEXIST', /is a symbolic link.*not removing it/);
      assert.equal(readlinkSync(join(d, 'dangling')), join(d, 'nowhere'));
      await rejectsWith(rt.listen(live), 'EADDRINUSE', /another process is listening at/);
      assert.ok(lstatSync(live).isSocket());
      await rejectsWith(rt.listen(join(d, 'no', 'such', 'dir', 'x.sock')), 'ENOENT', /no\/such\/dir/);
      /* the stale socket is replaced */
      const srv = await rt.listen(stale);
      const c = await ControlClient.connect(stale);
      assert.equal((await c.request('stats')).ok, true);
      c.close();
      /* close() removes its own socket only: not a file put in its place */
      unlinkSync(stale);
      writeFileSync(stale, 'not yours');
      await srv.close();
      assert.equal(readFileSync(stale, 'utf8'), 'not yours');
    });
    /* the live server was not disturbed */
    const got = await new Promise<string>((res, rej) => {
      const s = connect(live);
      let b = '';
      s.setEncoding('utf8').on('data', (x: string) => { b += x; }).on('end', () => res(b)).on('error', rej);
    });
    assert.equal(got, '{"live":true}\n');
  } finally {
    other.close();
  }
});

test('a trace filter of the wrong type is refused with EINVAL and silences no other subscriber', async () => {
  const d = scratch();
  await withAborting({}, async (rt, inject) => {
    const srv = await rt.listen(join(d, 'c.sock'));
    const warnings: string[] = [];
    const onWarn = (w: Error): void => { warnings.push(w.message); };
    process.on('warning', onWarn);
    try {
      const bad = await Raw.open(srv.path);
      bad.send({ id: 1, cmd: 'trace', filter: { events: 5 } });
      const r = await bad.until('reply', (m) => m.id === 1);
      assert.equal(r.ok, false);
      assert.equal(r.code, 'EINVAL');
      assert.match(r.error!, /^EINVAL: trace: filter\.events: an array of event names/);
      /* the connection survives a bad request: its next one is answered */
      bad.send({ id: 2, cmd: 'devices' });
      assert.equal((await bad.until('devices', (m) => m.id === 2)).ok, true);
      const good = await Raw.open(srv.path);
      good.send({ id: 1, cmd: 'trace', filter: { events: ['xdp_exception'] } });
      assert.equal((await good.until('subscribed', (m) => m.id === 1)).ok, true);
      await inject(50);
      await good.until('50 records', () => good.traces() === 50);
      assert.equal(bad.traces(), 0);
      assert.deepEqual(warnings, []);
      bad.close();
      good.close();
    } finally {
      process.off('warning', onWarn);
    }
  });
});

test('a client that never reads: the server holds at most its bound for it, drops its records and tells it how many', async () => {
  const d = scratch();
  const bound = 64 * 1024;
  await withAborting({}, async (rt) => {
    const srv = await rt.listen(join(d, 'c.sock'), { maxClientBuffer: bound });
    let delivered = 0;
    rt.on('trace', (e: { event: string }) => { if (e.event === 'xdp_exception') delivered++; });
    const c = await Raw.open(srv.path, false);
    c.send({ id: 1, cmd: 'trace', filter: { events: ['xdp_exception'] } });
    const t0 = performance.now();
    while (!srv.clientStats().some((s) => s.tracing)) {
      if (performance.now() - t0 > 10_000) assert.fail('never subscribed');
      await sleep(5);
    }
    const gen = await rt.device('a0').generate({ count: 300_000 });
    let maxBuffered = 0;
    const sample = setInterval(() => { for (const s of srv.clientStats()) maxBuffered = Math.max(maxBuffered, s.buffered); }, 2);
    await gen.done;
    assert.equal(await rt.quiesce(), true);
    rt.collect();
    clearInterval(sample);
    for (const s of srv.clientStats()) maxBuffered = Math.max(maxBuffered, s.buffered);
    const st = srv.clientStats()[0]!;
    assert.ok(delivered > 0);
    assert.ok(st.lost > 0, `records dropped for the client: ${JSON.stringify(st)} of ${delivered}`);
    /* the bound, plus the one record line that crossed it and the lost record before it */
    assert.ok(maxBuffered <= bound + 1024, `buffered for a client that never reads: ${maxBuffered} > ${bound} + 1024`);
    /* it reads at last: every record is either received or counted in a {"lost": N} it is told */
    c.read();
    const t1 = performance.now();
    while (c.traces() + c.lost() < delivered) {
      if (performance.now() - t1 > 20_000) assert.fail(`received ${c.traces()} + lost ${c.lost()} < ${delivered}`);
      await sleep(10);
    }
    assert.equal(c.traces() + c.lost(), delivered);
    assert.ok(c.lost() > 0 && c.traces() > 0, `lost ${c.lost()}, received ${c.traces()}`);
    c.close();
  });
});

test('10,000 pipelined stats requests are all answered, and a reading subscriber loses no trace record meanwhile', async () => {
  const d = scratch();
  /* a ring of 1024 records at 1,000 records/s: the collector may not stall for a second */
  await withAborting({ traceRingSize: 1024 }, async (rt) => {
    const srv = await rt.listen(join(d, 'c.sock'));
    let delivered = 0;
    rt.on('trace', (e: { event: string }) => { if (e.event === 'xdp_exception') delivered++; });
    const sub = await Raw.open(srv.path);
    sub.send({ id: 1, cmd: 'trace', filter: { events: ['xdp_exception'] } });
    await sub.until('subscribed', (m) => m.id === 1);
    const lost0 = rt.stats().cpus[0]!.trace_lost;
    const gen = await rt.device('a0').generate({ rate: 1000, durationMs: 60_000 });
    await sleep(200);
    const n = 10_000;
    const c = await Raw.open(srv.path);
    c.send(Array.from({ length: n }, (_, i) => JSON.stringify({ id: i, cmd: 'stats' })).join('\n') + '\n');
    const t0 = performance.now();
    while (c.msgs.length < n) {
      if (performance.now() - t0 > 60_000) assert.fail(`${c.msgs.length} of ${n} answered`);
      await sleep(10);
    }
    await sleep(200);
    await gen.stop();
    assert.equal(await rt.quiesce(), true);
    rt.collect();
    assert.deepEqual(c.msgs.map((m) => m.id), Array.from({ length: n }, (_, i) => i), 'every answer, in order');
    assert.ok(c.msgs.every((m) => m.ok === true && Array.isArray((m.result as { cpus: unknown[] }).cpus)));
    assert.equal(rt.stats().cpus[0]!.trace_lost - lost0, 0, 'no trace record lost to a full ring while the requests were answered');
    const t1 = performance.now();
    while (sub.traces() < delivered && performance.now() - t1 < 10_000) await sleep(10);
    assert.ok(delivered > 200, `records: ${delivered}`);
    assert.equal(sub.traces(), delivered);
    assert.equal(sub.lost(), 0);
    c.close();
    sub.close();
  });
});

test('ControlClient: a missing socket, a directory, a dangling symlink, a stale socket and a server that never answers are one-line XdpsimErrors', async () => {
  const d = scratch();
  mkdirSync(join(d, 'dir'));
  writeFileSync(join(d, 'file'), 'x');
  symlinkSync(join(d, 'nowhere'), join(d, 'dangling'));
  const stale = join(d, 'stale.sock');
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`], { timeout: 10_000 });
  await rejectsWith(ControlClient.connect(join(d, 'missing')), 'ENOENT', /^ENOENT: no xdpsim control socket at \/.*missing$/);
  await rejectsWith(ControlClient.connect(join(d, 'dir')), 'EISDIR', /is a directory, not an xdpsim control socket/);
  await rejectsWith(ControlClient.connect(join(d, 'file')), 'ENOTSOCK', /is a regular file, not an xdpsim control socket/);
  await rejectsWith(ControlClient.connect(join(d, 'dangling')), 'ENOENT', /is a symbolic link to nothing/);
  await rejectsWith(ControlClient.connect(stale), 'ECONNREFUSED', /nothing listens at .*stale\.sock/);
  /* a server that accepts and never answers */
  const silent = join(d, 'silent.sock');
  const held: Socket[] = [];
  const s = createServer((c) => { held.push(c); });
  await new Promise<void>((r) => s.listen(silent, r));
  try {
    const c = await ControlClient.connect(silent, { timeoutMs: 300 });
    const t0 = performance.now();
    await rejectsWith(c.request('stats'), 'ETIMEDOUT', /no answer to stats from .*silent\.sock in 0\.3 s/);
    assert.ok(performance.now() - t0 < 5000);
    c.close();
    /* one that answers garbage */
    const g = createServer((c) => { c.on('data', () => c.write('garbage\n')); });
    const gpath = join(d, 'garbage.sock');
    await new Promise<void>((r) => g.listen(gpath, r));
    const gc = await ControlClient.connect(gpath, { timeoutMs: 2000 });
    await rejectsWith(gc.request('stats'), 'EPROTO', /not an xdpsim control socket/);
    gc.close();
    g.close();
    /* the CLI clients: one line on stderr, exit 1, within the timeout (XDPSIM_CONTROL_TIMEOUT_MS) */
    const run = (args: string[]): Promise<{ status: number | null; stderr: string; stdout: string }> => new Promise((res) => {
      const ch = spawn(process.execPath, [bin, ...args], { env: { ...process.env, XDPSIM_CONTROL_TIMEOUT_MS: '500' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let stdout = '';
      ch.stderr.setEncoding('utf8').on('data', (x: string) => { stderr += x; });
      ch.stdout.setEncoding('utf8').on('data', (x: string) => { stdout += x; });
      const kill = setTimeout(() => ch.kill('SIGKILL'), 30_000);
      ch.on('exit', (status) => { clearTimeout(kill); res({ status, stderr, stdout }); });
    });
    const clients: Array<[string, string[]]> = [
      ['map', ['lookup', 'name', 'm', 'key', '0']], ['monitor', ['--count', '1']], ['trace', ['--count', '1']], ['dump', ['-i', 'a0', '-w', join(d, 'x.pcapng')]],
    ];
    /* each client: no socket, and a server that never answers its first request; one of them: a directory */
    const results = await Promise.all(clients.flatMap(([cmd, rest]) => [
      run([cmd, '--socket', join(d, 'missing'), ...rest]).then((r) => ({ cmd, what: 'missing', r })),
      ...(cmd === 'monitor' ? [run([cmd, '--socket', join(d, 'dir'), ...rest]).then((r) => ({ cmd, what: 'dir', r }))] : []),
      run([cmd, '--socket', silent, ...rest]).then((r) => ({ cmd, what: 'silent', r })),
    ]));
    for (const { cmd, what, r } of results) {
      const want = what === 'missing' ? /ENOENT: no xdpsim control socket at/ : what === 'dir' ? /EISDIR: .* is a directory/ : /ETIMEDOUT: no answer to \w+ from /;
      assert.equal(r.status, 1, `${cmd} ${what}: ${r.stderr}`);
      assert.equal(r.stdout, '', `${cmd} ${what}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `${cmd} ${what}: one line: ${r.stderr}`);
      assert.match(lines[0]!, new RegExp(`^xdpsim ${cmd}: ${want.source}`), `${cmd} ${what}`);
    }
  } finally {
    for (const h of held) h.destroy();
    s.close();
  }
});
