/*
 * Packet capture into pcapng (xdpdump's entry and exit points, plus
 * transmit after a devmap program): counts, one interface per device,
 * comments with the verdict, CPU, program and queue, snap length; read back
 * with xdpsim's reader and with tshark (installed by .ci/run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devmapVal } from '../src/index.ts';
import { parseCapture } from '../src/gen/pcap.ts';
import { fixture, withRuntime } from './helpers.ts';

const tsharkOk = spawnSync('tshark', ['--version'], { encoding: 'utf8' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'xdpsim-cap-'));

test('capture at entry and exit: every frame twice, the verdict at exit, snap length, then the count stops it', async () => {
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0] = rt.createVeth('c0', 'c0p', { rxQueues: 2 });
    const obj = await rt.loadObject(fixture('prog-verdict.ts'));
    obj.maps.config!.update(0, 1); /* XDP_DROP */
    v0.attachXdp(obj.progs.verdict!);
    const file = join(dir, 'a.pcapng');
    const cap = rt.startCapture([v0], { file, points: ['entry', 'exit'], snapLen: 60 });
    await v0.inject({ count: 20, size: 100, flows: 4 });
    assert.equal(await rt.quiesce(), true);
    const r = await rt.stopCapture(cap);
    assert.deepEqual(r, { file, packets: 40, lost: 0 });
    const f = parseCapture(readFileSync(file));
    assert.equal(f.format, 'pcapng');
    assert.deepEqual(f.interfaces.map((i) => [i.name, i.snapLen, i.tsResolNs]), [['c0', 60, 1]]);
    assert.equal(f.packets.length, 40);
    assert.ok(f.packets.every((p) => p.data.length === 60 && p.origLen === 100));
    const comments = f.packets.map((p) => p.comments![0]!);
    const entry = comments.filter((c) => /^xdp entry on c0, cpu [01], prog \d+, rxq [01]$/.test(c));
    const exit = comments.filter((c) => /^xdp exit on c0: XDP_DROP, cpu [01], prog \d+, rxq [01]$/.test(c));
    assert.equal(entry.length, 20);
    assert.equal(exit.length, 20);
    /* a count: the capture ends by itself */
    const c2 = rt.startCapture(['c0'], { file: join(dir, 'b.pcapng'), points: ['exit'], count: 5 });
    await v0.inject({ count: 50 });
    const r2 = await c2.done;
    assert.equal(r2.packets, 5);
    assert.equal(parseCapture(readFileSync(join(dir, 'b.pcapng'))).packets.length, 5);
    assert.throws(() => rt.startCapture(['c0'], { file: join(dir, 'x.pcapng'), points: ['sideways' as 'entry'] }), /point 'sideways': one of entry, exit, xmit/);
    const c3 = rt.startCapture(['c0'], { file: join(dir, 'c.pcapng') });
    assert.throws(() => rt.startCapture(['c0'], { file: join(dir, 'd.pcapng') }), /EBUSY: capture: 'c0' is already being captured/);
    await rt.stopCapture(c3);
  });
});

test('capture at transmit sees what the devmap program did; tshark reads the file', async (tc) => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [in0] = rt.createVeth('x0', 'x0p');
    const out = rt.createSink('xs');
    const obj = await rt.loadObject(fixture('prog-redirect.ts'));
    obj.maps.cfg!.update(0, 0); /* bpf_redirect_map(tx, cfg[1], 0) */
    obj.maps.cfg!.update(1, 0);
    obj.maps.cfg!.update(3, 9999); /* the devmap program drops nothing */
    obj.maps.tx!.update(0, devmapVal(out.ifindex, obj.progs.egress_filter!));
    in0.attachXdp(obj.progs.xdp_redir!);
    const file = join(dir, 'x.pcapng');
    const cap = rt.startCapture([in0, out], { file, points: ['exit', 'xmit'] });
    await in0.inject({ count: 3, size: 80 });
    assert.equal(await rt.quiesce(), true);
    const r = await rt.stopCapture(cap);
    assert.equal(r.packets, 6);
    const f = parseCapture(readFileSync(file));
    assert.deepEqual(f.interfaces.map((i) => i.name), ['x0', 'xs']);
    const prog = obj.progs.egress_filter!.id;
    assert.deepEqual(f.packets.map((p) => [p.ifIndex, p.comments![0]!.replace(/, prog \d+, rxq/, ', rxq')]), [
      ...[0, 0, 0].map(() => [0, 'xdp exit on x0: XDP_REDIRECT, cpu 0, rxq 0']),
      ...[1, 1, 1].map(() => [1, `xdp xmit on xs: XDP_REDIRECT, after devmap prog ${prog}, cpu 0`]),
    ]);
    await tc.test('tshark reads the file', { skip: tsharkOk ? false : 'tshark is not installed (.ci/run installs it)' }, () => {
      const t = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'frame.comment', '-e', 'frame.len', '-e', 'udp.dstport'], { encoding: 'utf8' });
      assert.equal(t.status, 0, t.stderr);
      const rows = t.stdout.trim().split('\n').map((l) => l.split('\t'));
      assert.equal(rows.length, 6);
      assert.deepEqual(rows.map((row) => [row[0], row[2], row[3]]), [
        ['x0', '80', '9'], ['x0', '80', '9'], ['x0', '80', '9'], ['xs', '80', '9'], ['xs', '80', '9'], ['xs', '80', '9'],
      ]);
      assert.match(rows[0]![1]!, /^xdp exit on x0: XDP_REDIRECT, cpu 0, prog \d+, rxq 0$/);
      assert.equal(rows[3]![1], `xdp xmit on xs: XDP_REDIRECT, after devmap prog ${prog}, cpu 0`);
    });
  });
});
