/*
 * The bench modes of issue 7: redirect-cpu (CPUMAP, remote actions) and
 * redirect-xsk (AF_XDP sockets with rxdrop and echo consumer threads):
 * their accounting, and the demo scenarios that run them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { runBench } from '../src/bench/bench.ts';

const BIN = new URL('../bin/xdpsim.mjs', import.meta.url).pathname;

test('redirect-cpu: every frame reaches a remote kthread, whose action counts', async () => {
  for (const remoteAction of ['disabled', 'drop', 'pass'] as const) {
    const s = await runBench({ mode: 'redirect-cpu', cpus: 2, duration: 0.4, interval: 0, remoteAction });
    assert.equal(s.conserved, true, remoteAction);
    assert.equal(s.leaked_frames, 0, remoteAction);
    assert.ok(s.rx_pps > 0 && s.redirect_pps === s.rx_pps, remoteAction);
    /* what the kthreads took is what was redirected (queue-full drops aside) */
    const full = s.errors_by_reason.CPUMAP_FULL ?? 0;
    assert.equal(Math.round(s.xmit_pps * s.duration_s) + full, Math.round(s.redirect_pps * s.duration_s), remoteAction);
    if (remoteAction === 'drop') assert.ok(s.drop_pps > 0 && s.errors === full);
    else assert.equal(s.drop_pps, 0, remoteAction);
  }
});

test('redirect-xsk: rxdrop and echo consumers, conserved', async () => {
  for (const xskMode of ['rxdrop', 'echo'] as const) {
    const s = await runBench({ mode: 'redirect-xsk', cpus: 1, duration: 0.4, interval: 0, xskMode });
    assert.equal(s.conserved, true, xskMode);
    assert.equal(s.leaked_frames, 0, xskMode);
    assert.ok(s.xmit_pps > 0, xskMode);
    /* frames the sockets did not take were refused in xdp_do_redirect (fill ring empty, RX ring full) */
    assert.equal(Math.round((s.redirect_pps - s.xmit_pps) * s.duration_s), s.errors_by_reason.REDIRECT_ERR ?? 0, xskMode);
  }
});

test('demo --scenario cpumap and xsk', () => {
  for (const sc of ['cpumap', 'xsk']) {
    const r = spawnSync(process.execPath, [BIN, 'demo', '--scenario', sc, '--duration', '0.5', '--cpus', '1', '--json'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(j.scenario, sc);
    assert.equal(j.conserved, true);
    assert.ok(j.frames_in > 0);
  }
});

test('xdpsim monitor shows cpumap enqueues and kthreads of a running xdpsim', async () => {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const sock = join(mkdtempSync(join(tmpdir(), 'xdpsim-mon-')), 'x.sock');
  const child = spawn(process.execPath, [BIN, 'demo', '--scenario', 'cpumap', '--cpus', '2', '--duration', '6', '--listen', '--socket', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  try {
    const t0 = performance.now();
    while (!err.includes(sock) && performance.now() - t0 < 20000) await new Promise((r) => setTimeout(r, 50));
    const r = spawnSync(process.execPath, [BIN, 'monitor', '--socket', sock, '--count', '1', '--interval', '0.5', '--json'], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, r.stderr + err);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const cpus = (j.cpumap as Array<{ cpu: number; enqueue_pps: number; kthread_pps: number; pass_pps: number }>);
    assert.deepEqual(cpus.map((c) => c.cpu), [0, 1]);
    assert.ok(cpus.every((c) => c.enqueue_pps > 1000 && c.kthread_pps > 1000 && c.pass_pps > 1000), r.stdout);
  } finally {
    child.kill('SIGINT');
    await exited;
  }
});
