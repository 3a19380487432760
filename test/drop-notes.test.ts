/*
 * "Why were frames dropped": each drop reason keeps its last noted frame
 * (device, CPU, length, flow); the CLI prints the table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { flowString } from '../src/shared/dropnote.ts';
import { fixture, withRuntime } from './helpers.ts';

const bin = fileURLToPath(new URL('../bin/xdpsim.mjs', import.meta.url));

test('each drop reason notes its last frame: device, cpu, length and flow (IPv4 and IPv6, ports)', async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    const [a] = rt.createVeth('na', 'nap');
    const [b] = rt.createVeth('nb', 'nbp');
    assert.deepEqual(rt.lastDrops(), []);
    /* XDP_DROP on na: IPv6 TCP SYN frames */
    const v = await rt.loadObject(fixture('prog-verdict.ts'));
    v.maps.config!.update(0, 1);
    a.attachXdp(v.progs.verdict!);
    await (await a.generate({ traffic: { l3: 'ipv6', l4: 'tcp-syn', srcIp: 'fd00::7', dstIp: 'fd00:1::9', srcPort: 4000, dstPort: 80, size: 90 }, count: 10 })).done;
    /* REDIRECT_ERR on nb: bpf_redirect to an ifindex with no device */
    const r = await rt.loadObject(fixture('prog-redirect.ts'));
    r.maps.cfg!.update(0, 2);
    r.maps.cfg!.update(1, 60);
    b.attachXdp(r.progs.xdp_redir!);
    await b.inject({ count: 3, size: 100, srcIp: '192.0.2.1', dstIp: '198.51.100.2', srcPort: 5353, dstPort: 53 });
    assert.equal(await rt.quiesce(), true);
    const notes = rt.lastDrops();
    assert.deepEqual(notes.map((n) => [n.reason, n.device, n.cpu, n.len]), [['XDP_DROP', 'na', 0, 90], ['REDIRECT_ERR', 'nb', 0, 100]]);
    assert.deepEqual(notes[0]!.flow, { l3: 'ipv6', src: 'fd00::7', dst: 'fd00:1::9', proto: 6, sport: 4000, dport: 80 });
    assert.deepEqual(notes[1]!.flow, { l3: 'ipv4', src: '192.0.2.1', dst: '198.51.100.2', proto: 17, sport: 5353, dport: 53 });
    assert.equal(flowString(notes[1]!.flow), '192.0.2.1:5353 -> 198.51.100.2:53 udp');
    assert.equal(flowString(notes[0]!.flow), '[fd00::7]:4000 -> [fd00:1::9]:80 tcp');
    assert.ok(notes[0]!.ts > 0 && notes[0]!.ts <= rt.ktimeNs());
    /* a later drop of the same reason, far enough on, replaces the note */
    await b.inject({ count: 1, size: 120, srcIp: '192.0.2.9', srcPort: 7 });
    assert.equal(await rt.quiesce(), true);
    const again = rt.lastDrops().find((n) => n.reason === 'REDIRECT_ERR')!;
    assert.equal(again.len, 120);
    assert.equal(again.flow.src, '192.0.2.9');
    assert.equal(again.flow.sport, 7);
  });
});

test('xdpsim run prints why frames were dropped, with each reason\'s last frame', () => {
  const r = spawnSync(process.execPath, [bin, 'run', '--prog', fixture('prog-redirect.ts'), '--count', '500', '--cpus', '1'], { encoding: 'utf8', timeout: 60_000 });
  /* cfg[0] = 0 (a DEVMAP lookup of key 0, empty): bpf_redirect_map returns flags & 3 = XDP_ABORTED */
  assert.equal(r.status, 0, r.stderr);
  const table = r.stdout.slice(r.stdout.indexOf('why were frames dropped:'));
  assert.match(table, /^why were frames dropped:\n {2}XDP_ABORTED +500 {2}on veth0 500\n {38}the program returned XDP_ABORTED \(an xdp_exception record\)\n {38}last: 64 bytes on veth0, cpu 0: 10\.0\.0\.1:\d+ -> 10\.0\.0\.2:9 udp$/m);
});
