/*
 * SIGINT and SIGTERM (issue 15, point 6): every long-running command stops
 * its traffic, drains, prints its summary (and its --json object) as at a
 * normal end with the time actually run, removes its control socket, and
 * exits 0 when every frame was accounted for; a second signal exits at
 * once (130 for SIGINT, 143 for SIGTERM), still removing the socket.
 *
 * Each case spawns the real CLI and waits for what it printed (or, with
 * --json, for traffic seen through its control socket) before signalling:
 * no fixed sleeps, generous deadlines for a loaded machine.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../src/control.ts';
import type { Stats } from '../src/runtime.ts';

const bin = fileURLToPath(new URL('../bin/xdpsim.mjs', import.meta.url));
const example = (name: string): string => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const WAIT_MS = 60_000;

class Proc {
  readonly child: ChildProcess;
  out = '';
  err = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  done = false;
  constructor(args: string[]) {
    this.child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.out += d; });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.err += d; });
    this.exited = new Promise((res) => this.child.on('exit', (code, signal) => {
      this.done = true;
      res({ code, signal, at: performance.now() });
    }));
  }
  get pid(): number { return this.child.pid!; }
  /** wait until pred() holds (checked every 50 ms); fails if the process exits first or the deadline passes */
  async until(pred: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    const end = performance.now() + ms;
    while (!pred()) {
      if (this.done) throw new Error(`exited before ${what}:\n${this.out}\n${this.err}`);
      if (performance.now() > end) throw new Error(`no ${what} within ${ms} ms:\n${this.out}\n${this.err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  /** the control socket's path, once it is printed (stderr, or stdout) */
  async socket(): Promise<string> {
    const re = /^control socket: (.+)$/m;
    await this.until(() => re.test(this.err) || re.test(this.out), 'control socket line');
    return (re.exec(this.err) ?? re.exec(this.out))![1]!;
  }
  /** wait, through the control socket, until pred(stats) holds */
  async stats(path: string, pred: (s: Stats) => boolean, what: string): Promise<void> {
    const c = await ControlClient.connect(path);
    try {
      const end = performance.now() + WAIT_MS;
      for (;;) {
        const r = await c.request('stats');
        if (r.ok && pred(r.result as Stats)) return;
        if (this.done || performance.now() > end) throw new Error(`no ${what}:\n${this.out}\n${this.err}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    } finally {
      c.close();
    }
  }
  json(): Record<string, unknown> {
    return JSON.parse(this.out.trim().split('\n').at(-1)!) as Record<string, unknown>;
  }
  kill(sig: NodeJS.Signals): void {
    if (!this.done) this.child.kill(sig);
  }
}

/* run one case; the child never outlives it */
async function withProc(args: string[], fn: (p: Proc) => Promise<void>): Promise<void> {
  const p = new Proc(args);
  try {
    await fn(p);
  } finally {
    if (!p.done) {
      p.child.kill('SIGKILL');
      await p.exited;
      /* a failed case leaves no socket behind either */
      const m = /^control socket: (.+)$/m.exec(p.err) ?? /^control socket: (.+)$/m.exec(p.out);
      if (m) {
        rmSync(m[1]!, { force: true });
        if (basename(dirname(m[1]!)).startsWith(`xdpsim-${p.pid}-`)) rmSync(dirname(m[1]!), { recursive: true, force: true });
      }
    }
  }
}

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const sockIn = (name: string): string => {
  dirs.push(mkdtempSync(join(tmpdir(), 'xdpsim-sig-')));
  return join(dirs.at(-1)!, name);
};
/* the default path (--listen without --socket): in the temp directory, named by the pid (or in a directory of its own so named) */
function assertDefaultSock(path: string, pid: number): void {
  const ok = path === join(tmpdir(), `xdpsim-${pid}.sock`) || (dirname(dirname(path)) === tmpdir() && basename(dirname(path)).startsWith(`xdpsim-${pid}-`));
  assert.ok(ok, `default socket path of ${pid}: ${path}`);
}
/* the socket is gone, and so is the default path's own directory */
function assertGone(path: string): void {
  assert.equal(existsSync(path), false, `the socket file ${path} is removed`);
  if (dirname(path) !== tmpdir() && basename(dirname(path)).startsWith('xdpsim-') && !basename(dirname(path)).startsWith('xdpsim-sig-')) {
    assert.equal(existsSync(dirname(path)), false, `the socket's directory ${dirname(path)} is removed`);
  }
}
const trafficSeen = (s: Stats): boolean => s.totals.injected > 0;

test('demo, Ctrl-C: the rates so far, the summary over the time run, conserved, exit 0', async () => {
  await withProc(['demo', '--duration', '30', '--cpus', '1'], async (p) => {
    await p.until(() => /^\[1s\] veth0: rx /m.test(p.out), 'first rate line');
    p.kill('SIGINT');
    const e = await p.exited;
    assert.equal(e.code, 0, p.out + p.err);
    const m = /^summary: ([\d,]+) frames in (\d+\.\d\d) s/m.exec(p.out);
    assert.ok(m, p.out);
    assert.ok(Number(m[1]!.replace(/,/g, '')) > 0 && Number(m[2]) < 30, m[0]);
    assert.match(p.out, /^interrupted by SIGINT after \d+\.\d\d s of 30 s: traffic stopped and drained$/m);
    assert.match(p.out, /: conserved$/m);
    assert.match(p.out, /xdp_count's per-CPU map counted [\d,]+ packets/);
  });
});

test('demo --json --listen (the default socket path), SIGTERM: the JSON object, conserved, the socket gone, exit 0', async () => {
  await withProc(['demo', '--duration', '30', '--cpus', '1', '--json', '--listen'], async (p) => {
    const path = await p.socket();
    assertDefaultSock(path, p.pid);
    await p.stats(path, trafficSeen, 'traffic');
    p.kill('SIGTERM');
    const e = await p.exited;
    assert.equal(e.code, 0, p.out + p.err);
    const j = p.json();
    assert.equal(j.conserved, true);
    assert.equal(j.interrupted, 'SIGTERM');
    assert.ok((j.frames_in as number) > 0 && (j.duration_s as number) < 30, JSON.stringify(j));
    assertGone(path);
  });
});

test('demo --scenario redirect --listen --socket PATH, Ctrl-C: summary, socket gone, exit 0', async () => {
  const path = sockIn('d.sock');
  await withProc(['demo', '--scenario', 'redirect', '--duration', '30', '--cpus', '1', '--listen', '--socket', path], async (p) => {
    await p.until(() => /^\[1s\] in0: rx /m.test(p.out), 'first rate line');
    p.kill('SIGINT');
    const e = await p.exited;
    assert.equal(e.code, 0, p.out + p.err);
    assert.match(p.out, /^summary: [\d,]+ frames in \d+\.\d\d s/m);
    assert.match(p.out, /^interrupted by SIGINT after /m);
    assert.match(p.out, /: conserved$/m);
    assertGone(path);
  });
});

test('bench, Ctrl-C: the rows so far, the summary over the time run with a note, conserved, exit 0', async () => {
  await withProc(['bench', 'drop', '--duration', '30', '--interval', '0.3'], async (p) => {
    await p.until(() => /^Summary +[\d,]+ rx\/s/m.test(p.out), 'first row');
    p.kill('SIGINT');
    const e = await p.exited;
    assert.equal(e.code, 0, p.out + p.err);
    const m = /^drop \(no-touch\): 1 CPU, 64-byte frames, 64 flows, bulk 16, (\d+\.\d\d) s$/m.exec(p.out);
    assert.ok(m, p.out);
    assert.ok(Number(m[1]) < 30);
    assert.match(p.out, /^ {2}frames: in [\d,]+ out [\d,]+ leaked 0: conserved$/m);
    assert.match(p.out, /^interrupted by SIGINT after \d+\.\d\d s of 30 s: the figures are over the time run$/m);
  });
});

test('bench --json --listen --socket PATH, SIGTERM: the JSON object, conserved, the socket gone, exit 0', async () => {
  const path = sockIn('b.sock');
  await withProc(['bench', 'redirect-map', '--duration', '30', '--json', '--listen', '--socket', path], async (p) => {
    assert.equal(await p.socket(), path);
    await p.stats(path, trafficSeen, 'traffic');
    p.kill('SIGTERM');
    const e = await p.exited;
    assert.equal(e.code, 0, p.out + p.err);
    const j = p.json();
    assert.equal(j.conserved, true);
    assert.equal(j.leaked_frames, 0);
    assert.equal(j.interrupted, 'SIGTERM');
    assert.ok((j.frames_in as number) > 0 && (j.duration_s as number) < 30, JSON.stringify(j));
    assertGone(path);
  });
});

test('torture, Ctrl-C: the trial stops, its report so far (OK), exit 0', async () => {
  await withProc(['torture', '--duration', '30', '--seed', '7', '--interval', '0.5'], async (p) => {
    await p.until(() => /^\[\d+s\] gps \d+/m.test(p.out), 'first status line');
    p.kill('SIGINT');
    const e = await p.exited;
    assert.equal(e.code, 0, p.out + p.err);
    const m = /^summary: OK {2}seed 7 {2}(\d+\.\d\d) s$/m.exec(p.out);
    assert.ok(m, p.out);
    assert.ok(Number(m[1]) < 30);
    assert.match(p.out, /^interrupted by SIGINT after \d+\.\d\d s of 30 s$/m);
    assert.match(p.out, /leaked 0 /);
  });
});

test('torture --json --listen (the default socket path), SIGTERM: the JSON object, ok, the socket gone, exit 0', async () => {
  await withProc(['torture', '--duration', '30', '--seed', '7', '--json', '--listen'], async (p) => {
    const path = await p.socket();
    assertDefaultSock(path, p.pid);
    await p.stats(path, (s) => s.totals.injected > 0 && s.rcu.gracePeriods > 0, 'traffic and grace periods');
    p.kill('SIGTERM');
    const e = await p.exited;
    assert.equal(e.code, 0, p.out + p.err);
    const j = p.json();
    assert.equal(j.ok, true, JSON.stringify(j.failures));
    assert.equal(j.interrupted, 'SIGTERM');
    assert.equal(j.leaked_frames, 0);
    assert.ok((j.duration_s as number) < 30);
    assertGone(path);
  });
});

test('run --prog --duration, Ctrl-C: the summary over the time run, conserved, exit 0', async () => {
  await withProc(['run', '--prog', example('xdp_drop.ts'), '--duration', '30', '--cpus', '1'], async (p) => {
    await p.until(() => /^\[1s\] veth0: rx /m.test(p.out), 'first rate line');
    p.kill('SIGINT');
    const e = await p.exited;
    assert.equal(e.code, 0, p.out + p.err);
    const m = /^summary: ([\d,]+) frames in (\d+\.\d\d) s/m.exec(p.out);
    assert.ok(m, p.out);
    assert.ok(Number(m[2]) < 30);
    assert.match(p.out, /^interrupted by SIGINT after /m);
    assert.match(p.out, /: conserved$/m);
  });
});

test('run --prog --count --json --listen --socket PATH, SIGTERM: the injection stops, the stats object, the socket gone, exit 0', async () => {
  const path = sockIn('r.sock');
  await withProc(['run', '--prog', example('xdp_drop.ts'), '--count', '1000000000', '--cpus', '1', '--json', '--listen', '--socket', path], async (p) => {
    assert.equal(await p.socket(), path);
    await p.stats(path, trafficSeen, 'traffic');
    p.kill('SIGTERM');
    const e = await p.exited;
    assert.equal(e.code, 0, p.out + p.err);
    const j = p.json() as unknown as Stats & { interrupted: string };
    assert.equal(j.conserved, true);
    assert.equal(j.interrupted, 'SIGTERM');
    assert.ok(j.totals.injected > 0 && j.totals.injected < 1e9);
    assertGone(path);
  });
});

test('run SCENARIO --json --listen (the default socket path), SIGTERM: ended interrupted, the socket gone, exit 0', async () => {
  await withProc(['run', example('scenarios/redirect_drops.ts'), '--cpus', '1', '--json', '--listen'], async (p) => {
    const path = await p.socket();
    assertDefaultSock(path, p.pid);
    await p.stats(path, trafficSeen, 'traffic');
    p.kill('SIGTERM');
    const e = await p.exited;
    assert.equal(e.code, 0, p.out + p.err);
    const j = p.json() as { ended: string; stats: Stats };
    assert.equal(j.ended, 'interrupted');
    assert.equal(j.stats.conserved, true);
    assertGone(path);
  });
});

/*
 * A second signal exits at once. The program spins 300 ms per frame, so the
 * drain the first signal starts takes seconds (the CPU is stopped after its
 * poll, or terminated after 5 s): the second signal arrives well inside it.
 */
for (const [sig, code, where] of [['SIGINT', 130, 'a --socket PATH'], ['SIGTERM', 143, 'the default path']] as const) {
  test(`a second ${sig} while draining exits at once with ${code}, the socket at ${where} removed`, async () => {
    const given = sig === 'SIGINT' ? sockIn('s.sock') : undefined;
    await withProc(['run', '--prog', fixture('prog-spin.ts'), '--count', '100', '--cpus', '1', '--listen', ...(given !== undefined ? ['--socket', given] : [])], async (p) => {
      const path = await p.socket();
      if (given !== undefined) assert.equal(path, given);
      else assertDefaultSock(path, p.pid);
      await p.stats(path, (s) => s.totals.injected > 0 && s.devices.some((d) => d.xdp_drop > 0), 'a frame through the spinning program');
      p.kill(sig);
      await p.until(() => new RegExp(`^xdpsim run: ${sig}: stopping`, 'm').test(p.err), 'the first signal\'s note');
      const t = performance.now();
      p.kill(sig);
      const e = await p.exited;
      assert.equal(e.code, code, p.out + p.err);
      assert.ok(e.at - t < 3000, `exited ${Math.round(e.at - t)} ms after the second signal`);
      assert.equal(p.out, '', 'no summary: it did not finish');
      assertGone(path);
    });
  });
}

test('monitor, Ctrl-C: detaches, exit 0; the xdpsim it watched goes on', async () => {
  const path = sockIn('m.sock');
  await withProc(['demo', '--duration', '30', '--cpus', '1', '--listen', '--socket', path], async (d) => {
    assert.equal(await d.socket(), path);
    await withProc(['monitor', '--socket', path, '--interval', '0.2', '--json'], async (m) => {
      await m.until(() => /^\{"t":1,/m.test(m.out), 'first interval');
      m.kill('SIGINT');
      const e = await m.exited;
      assert.equal(e.code, 0, m.out + m.err);
      assert.match(m.err, /^xdpsim monitor: SIGINT: detaching/m);
    });
    assert.equal(d.done, false, 'the demo still runs');
    d.kill('SIGINT');
    assert.equal((await d.exited).code, 0, d.out + d.err);
    assertGone(path);
  });
});
