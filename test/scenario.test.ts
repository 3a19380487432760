/*
 * xdpsim run FILE: a scenario module runs until it returns or is
 * interrupted, with progress lines, then the summary and the drop table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/xdpsim.mjs', import.meta.url));
const scenario = fileURLToPath(new URL('../examples/scenarios/redirect_drops.ts', import.meta.url));

test('a scenario that ends by itself: progress, summary, why frames were dropped', () => {
  const r = spawnSync(process.execPath, [bin, 'run', scenario, '600', '--cpus', '1', '--interval', '0.2'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^in0 -> tx_ports: 0 -> out0/m);
  assert.ok((r.stdout.match(/^\[\d+\.\ds\] .*in0: rx [\d,]+ tx [\d,]+ drop [\d,]+/gm) ?? []).length >= 2, r.stdout);
  assert.match(r.stdout, /^generated \d+ frames \(done\)$/m);
  assert.match(r.stdout, /redirect_drops\.ts: done$/m);
  assert.match(r.stdout, /frames: injected [\d,]+ = .* conserved$/m);
  /* the three ways frames vanish here, each with its last frame */
  assert.match(r.stdout, /^ {2}REDIRECT_ERR +[\d,]+ {2}on in0 [\d,]+\n.*xdp_do_redirect\(\).*\n +last: 64 bytes on in0, cpu 0: 10\.0\.0\.1:\d+ -> 10\.0\.0\.2:9 udp$/m);
  assert.match(r.stdout, /^ {2}XDP_DROP +[\d,]+ {2}on in0 [\d,]+$/m);
});

test('Ctrl-C ends a scenario cleanly: the runtime stops and the summary is printed', async () => {
  const child = spawn(process.execPath, [bin, 'run', scenario, '--cpus', '1', '--interval', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((res) => child.on('exit', res));
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  await new Promise<void>((res, rej) => {
    const t = setInterval(() => {
      if (out.includes('in0 -> tx_ports')) {
        clearInterval(t);
        setTimeout(() => { child.kill('SIGINT'); res(); }, 500);
      }
    }, 50);
    void exited.then(() => { clearInterval(t); rej(new Error(`exited before it was interrupted:\n${out}`)); });
  });
  const code = await exited;
  assert.equal(code, 0, out);
  assert.match(out, /^generated \d+ frames \(stopped\)$/m);
  assert.match(out, /redirect_drops\.ts: interrupted$/m);
  assert.match(out, /conserved$/m);
});

test('run: a file without a default function is a usage error', () => {
  const r = spawnSync(process.execPath, [bin, 'run', fileURLToPath(new URL('./fixtures/prog-verdict.ts', import.meta.url))], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /a scenario exports a default async function \(rt, ctx\)/);
});

test('docs/troubleshooting.md\'s scenario: every way to vanish, each counted where the page says', () => {
  const vanish = fileURLToPath(new URL('../examples/scenarios/vanish.ts', import.meta.url));
  const r = spawnSync(process.execPath, [bin, 'run', vanish, '--cpus', '1', '--interval', '0'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const o = r.stdout;
  for (const line of [
    /^ +100 {2}xdp_exception +badflags {2}act XDP_ABORTED$/m,
    /^ +100 {2}xdp_exception +miss {2}act XDP_ABORTED$/m,
    /^ +100 {2}xdp_redirect_err {2}todown -> down {2}err -100$/m,
    /^ +100 {2}xdp_redirect_err {2}tonoprog -> noprog {2}err -95$/m,
    /^ +100 {2}xdp_redirect_err {2}tonosg -> nosg {2}err -95$/m,
    /^ +100 {2}xdp_redirect_err {2}tosmall -> small {2}err -90$/m,
    /^ +\d+ {2}xdp_devmap_xmit {3}totiny -> tiny {2}with drops$/m,
    /^ +\d+ {2}xdp_devmap_xmit {3}todrop -> ok {2}with drops$/m,
    /^misspass: 100 frames went to the stack/m,
    /^ {2}REDIRECT_ERR +400 {2}on todown 100, tonoprog 100, tosmall 100, tonosg 100$/m,
    /^ {2}XDP_ABORTED +200 {2}on miss 100, badflags 100$/m,
    /^ {2}DEVMAP_PROG_DROP +100 {2}on ok 100$/m,
    /^ {2}DEVMAP_XMIT_ERR +[\d,]+ {2}on tiny [\d,]+$/m,
    /conserved$/m,
  ]) assert.match(o, line);
});
