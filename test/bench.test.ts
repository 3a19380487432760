/*
 * xdpsim bench: the accounting of each mode (no timing assertions: the
 * rates depend on the machine), the JSON summary, usage errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BENCH_MODES, runBench } from '../src/bench/bench.ts';

const bin = fileURLToPath(new URL('../bin/xdpsim.mjs', import.meta.url));

for (const mode of BENCH_MODES) {
  test(`bench ${mode}: every generated frame accounted for, the counts agree`, async () => {
    const s = await runBench({ mode, cpus: 1, duration: 0.4, interval: 0, bulkSize: mode === 'tx' ? 4 : 16 });
    assert.equal(s.mode, mode);
    assert.equal(s.conserved, true);
    assert.equal(s.leaked_frames, 0);
    assert.ok(s.generator.sent > 1000, `sent ${s.generator.sent}`);
    assert.equal(s.generator.missed, 0);
    /* an AF_XDP consumer thread may fall behind the generator: its socket refuses frames in xdp_do_redirect (fill ring empty, RX ring full) */
    const refused = mode === 'redirect-xsk' ? (s.errors_by_reason.REDIRECT_ERR ?? 0) : 0;
    assert.equal(s.errors, refused);
    assert.deepEqual(s.errors_by_reason, refused > 0 ? { REDIRECT_ERR: refused } : {});
    /* broadcast to 2 ports makes one clone per frame */
    const fanout = mode === 'redirect-multi' ? 2 : 1;
    assert.equal(s.frames_in, s.generator.sent * fanout);
    assert.equal(s.frames_out, s.frames_in);
    const secs = s.duration_s;
    const frames = Math.round(s.rx_pps * secs);
    assert.equal(frames, s.generator.sent);
    assert.equal(Math.round(s.rx_pps_per_cpu * secs), frames);
    if (mode === 'drop') assert.equal(Math.round(s.drop_pps * secs), frames);
    if (mode.startsWith('redirect')) assert.equal(Math.round(s.redirect_pps * secs), frames);
    if (mode.startsWith('redirect') || mode === 'tx') assert.equal(Math.round(s.xmit_pps * secs) + refused, frames * fanout);
    if (mode === 'pass' || mode === 'drop') assert.equal(s.xmit_pps, 0);
  });
}

test('bench --json: one JSON summary on the last line with the documented fields', () => {
  const r = spawnSync(process.execPath, [bin, 'bench', 'redirect-map', '--duration', '0.4', '--cpus', '2', '--json', '--bulk-size', '1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'with --json the rows are not printed');
  const s = JSON.parse(lines[0]!);
  for (const k of ['mode', 'cpus', 'duration_s', 'pkt_size', 'frames_in', 'frames_out', 'rx_pps', 'rx_pps_per_cpu', 'redirect_pps', 'xmit_pps', 'drop_pps', 'errors', 'leaked_frames']) {
    assert.ok(k in s, `field ${k}`);
  }
  assert.equal(s.mode, 'redirect-map');
  assert.equal(s.cpus, 2);
  assert.equal(s.bulk_size, 1);
  assert.equal(s.per_cpu_rx_pps.length, 2);
  assert.ok(s.per_cpu_rx_pps.every((x: number) => x > 0), 'RSS feeds both CPUs');
  assert.equal(s.frames_in, s.frames_out);
  assert.equal(s.leaked_frames, 0);
});

test('bench rows every interval, then the summary; usage errors exit 2', () => {
  const r = spawnSync(process.execPath, [bin, 'bench', 'drop', '--duration', '1.2', '--interval', '0.5', '-e', '--pkt-size', '100-300'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.equal(out.match(/^Summary +[\d,]+ rx\/s +[\d,]+ drop\/s +[\d,]+ err,drop\/s$/gm)?.length, 2);
  assert.equal(out.match(/^ {2}cpu:0 +[\d,]+ rx\/s$/gm)?.length, 2);
  assert.match(out, /^drop \(no-touch\): 1 CPU, 100-300 frames, 64 flows, bulk 16/m);
  assert.match(out, /frames: in [\d,]+ out [\d,]+ leaked 0: conserved/);
  for (const [args, msg] of [
    [['bench', 'fly'], /MODE: one of drop, pass, tx, redirect, redirect-map, redirect-multi/],
    [['bench', 'drop', '--bulk-size', '17'], /--bulk-size 17: must be an integer in 1..16/],
    [['bench', 'drop', '--packet-operation', 'x'], /--packet-operation x: one of no-touch/],
    [['bench', 'redirect-multi', '-p', 'swap-macs'], /redirect-multi: only --packet-operation no-touch/],
  ] as const) {
    const e = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(e.status, 2, `${args.join(' ')}: ${e.stderr}`);
    assert.match(e.stderr, msg);
  }
});

test('bench --replay loops a capture for the duration (or --loops passes); a truncated capture fails with its offset', async () => {
  const { writePcapng } = await import('../src/gen/pcap.ts');
  const { compileTraffic } = await import('../src/gen/packets.ts');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const tr = compileTraffic({ flows: 8, size: 100 });
  const pkts = Array.from({ length: 8 }, (_, i) => {
    const b = new Uint8Array(100);
    tr.write(i, 100, b, 0);
    return { ifIndex: 0, data: b, tsNs: BigInt(i) * 1000n };
  });
  const dir = mkdtempSync(join(tmpdir(), 'xdpsim-bench-'));
  const file = join(dir, 'c.pcapng');
  const bytes = writePcapng([{ name: 'eth0' }], pkts);
  writeFileSync(file, bytes);
  const s = await runBench({ mode: 'drop', duration: 0.3, interval: 0, replay: file, loops: 5 });
  assert.equal(s.generator.sent, 40);
  assert.equal(s.frames_in, 40);
  assert.equal(s.conserved, true);
  const long = await runBench({ mode: 'drop', duration: 0.3, interval: 0, replay: file });
  assert.ok(long.generator.sent > 1000, `looped ${long.generator.sent}`);
  writeFileSync(file, bytes.subarray(0, bytes.length - 4));
  const r = spawnSync(process.execPath, [bin, 'bench', 'drop', '--replay', file, '--duration', '0.2'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /EINVAL: generate on 'in0': .*c\.pcapng: .* at offset \d+/);
  assert.equal(r.stdout.includes('Summary'), false, 'nothing ran');
});

test('bench address and port ranges: every combination is a flow, spread over the CPUs', async () => {
  const s = await runBench({ mode: 'drop', cpus: 2, duration: 0.3, interval: 0, traffic: { srcPorts: 4, dstIps: 8, l3: 'ipv6' } });
  assert.equal(s.flows, 32);
  assert.equal(s.pkt_size, 64);
  assert.ok(s.per_cpu_rx_pps.every((x) => x > 0));
  assert.equal(s.conserved, true);
});
