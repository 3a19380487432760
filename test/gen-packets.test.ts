/* The traffic generator's frame builder: frames checked by an independent
 * reference decoder, writeHeaders == write, flow enumeration, size
 * sequences, the Toeplitz RSS hash against Microsoft's verification suite,
 * and every validation error. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileTraffic, toeplitzHash, RSS_DEFAULT_KEY, addressString, synSeq,
  type TrafficSpec, type CompiledTraffic,
} from '../src/gen/packets.ts';
import { decodeRef } from './fixtures/decode-ref.ts';
import { buildUdp4 } from '../src/driver/packet.ts';

type L3 = 'ipv4' | 'ipv6';
type L4 = 'udp' | 'tcp-syn';
const COMBOS: Array<{ l3: L3; l4: L4; vlan: boolean; hlen: number }> = [];
for (const l3 of ['ipv4', 'ipv6'] as const) {
  for (const l4 of ['udp', 'tcp-syn'] as const) {
    for (const vlan of [false, true]) {
      const hlen = 14 + (vlan ? 4 : 0) + (l3 === 'ipv4' ? 20 : 40) + (l4 === 'udp' ? 8 : 20);
      COMBOS.push({ l3, l4, vlan, hlen });
    }
  }
}
const label = (c: { l3: L3; l4: L4; vlan: boolean }): string => `${c.l3}/${c.l4}${c.vlan ? '/vlan' : ''}`;

/* 3 source ports x 2 destination ports x 3 source addresses (the last one
 * carries into the next byte) x 2 destination addresses = 36 flows. */
function rangedSpec(l3: L3, l4: L4, vlan: boolean, size: number): TrafficSpec {
  return {
    l3, l4, size,
    srcMac: '02:aa:bb:cc:dd:01', dstMac: '02:AA:BB:CC:DD:02',
    srcIp: l3 === 'ipv4' ? '10.0.0.254' : 'fd00::fffe', srcIps: 3,
    dstIp: l3 === 'ipv4' ? '192.168.1.1' : '2001:db8::1', dstIps: 2,
    srcPort: 5000, srcPorts: 3, dstPort: 53, dstPorts: 2,
    ttl: 17,
    ...(vlan ? { vlan: 100, vlanPrio: 5 } : {}),
  };
}

/* Expected tuple of flow i for rangedSpec, computed independently. */
function expectedTuple(l3: L3, i: number): { src: string; dst: string; sport: number; dport: number } {
  const sp = i % 3, dp = Math.floor(i / 3) % 2, si = Math.floor(i / 6) % 3, di = Math.floor(i / 18);
  const src4 = ['10.0.0.254', '10.0.0.255', '10.0.1.0'];
  const dst4 = ['192.168.1.1', '192.168.1.2'];
  const src6 = ['fd00::fffe', 'fd00::ffff', 'fd00::1:0'];
  const dst6 = ['2001:db8::1', '2001:db8::2'];
  return {
    src: (l3 === 'ipv4' ? src4 : src6)[si]!,
    dst: (l3 === 'ipv4' ? dst4 : dst6)[di]!,
    sport: 5000 + sp,
    dport: 53 + dp,
  };
}

test('every l3 x l4 x vlan x size decodes with the reference decoder: lengths, checksums, fields, payload', () => {
  let frames = 0;
  for (const c of COMBOS) {
    const sizes = [...new Set([c.hlen, 64, 65, 1514, 9018])].filter((s) => s >= c.hlen);
    for (const size of sizes) {
      const ct = compileTraffic(rangedSpec(c.l3, c.l4, c.vlan, size));
      assert.equal(ct.headerLen, c.hlen, label(c));
      assert.equal(ct.nflows, 36);
      for (const i of [0, 1, 4, 7, 17, 20, 35]) {
        const what = `${label(c)} size ${size} flow ${i}`;
        const buf = new Uint8Array(size + 8).fill(0xee);
        assert.equal(ct.write(i, size, buf, 3), size);
        assert.equal(buf[2], 0xee, `${what}: wrote before off`);
        assert.equal(buf[3 + size], 0xee, `${what}: wrote past off+size`);
        const f = buf.subarray(3, 3 + size);
        const d = decodeRef(f);
        const exp = expectedTuple(c.l3, i);
        assert.equal(d.length, size, what);
        assert.equal(d.dstMac, '02:aa:bb:cc:dd:02', what);
        assert.equal(d.srcMac, '02:aa:bb:cc:dd:01', what);
        if (c.vlan) assert.deepEqual(d.vlan, { tpid: 0x8100, pcp: 5, dei: 0, vid: 100 }, what);
        else assert.equal(d.vlan, null, what);
        const l2 = c.vlan ? 18 : 14;
        if (c.l3 === 'ipv4') {
          assert.equal(d.etherType, 0x0800, what);
          const ip = d.ipv4!;
          assert.ok(ip, what);
          assert.equal(ip.version, 4);
          assert.equal(ip.ihl, 5);
          assert.equal(ip.tos, 0);
          assert.equal(ip.totalLength, size - l2, what);
          assert.ok(ip.totalLengthOk, what);
          assert.ok(ip.headerChecksumOk, `${what}: IPv4 header checksum`);
          assert.equal(ip.id, 0);
          assert.equal(ip.df, true);
          assert.equal(ip.mf, false);
          assert.equal(ip.fragOffset, 0);
          assert.equal(ip.ttl, 17);
          assert.equal(ip.protocol, c.l4 === 'udp' ? 17 : 6);
          assert.equal(ip.src, exp.src, what);
          assert.equal(ip.dst, exp.dst, what);
        } else {
          assert.equal(d.etherType, 0x86dd, what);
          const ip = d.ipv6!;
          assert.ok(ip, what);
          assert.equal(ip.version, 6);
          assert.equal(ip.trafficClass, 0);
          assert.equal(ip.flowLabel, 0);
          assert.equal(ip.payloadLength, size - l2 - 40, what);
          assert.ok(ip.payloadLengthOk, what);
          assert.equal(ip.nextHeader, c.l4 === 'udp' ? 17 : 6);
          assert.equal(ip.hopLimit, 17);
          assert.equal(ip.src, exp.src, what);
          assert.equal(ip.dst, exp.dst, what);
        }
        if (c.l4 === 'udp') {
          const u = d.udp!;
          assert.ok(u, what);
          assert.equal(u.sport, exp.sport, what);
          assert.equal(u.dport, exp.dport, what);
          assert.equal(u.length, size - c.hlen + 8, what);
          assert.ok(u.lengthOk, what);
          assert.notEqual(u.checksum, 0, what);
          assert.ok(u.checksumOk, `${what}: UDP checksum`);
        } else {
          const t = d.tcp!;
          assert.ok(t, what);
          assert.equal(d.udp, null);
          assert.equal(t.sport, exp.sport, what);
          assert.equal(t.dport, exp.dport, what);
          assert.deepEqual(t.flags, { cwr: false, ece: false, urg: false, ack: false, psh: false, rst: false, syn: true, fin: false }, what);
          assert.equal(t.dataOffset, 5);
          assert.equal(t.options.length, 0);
          assert.equal(t.window, 64240);
          assert.equal(t.ack, 0);
          assert.equal(t.urgent, 0);
          assert.equal(t.seq, synSeq(i), what);
          assert.ok(t.checksumOk, `${what}: TCP checksum`);
        }
        assert.equal(d.payloadOffset, c.hlen, what);
        assert.equal(d.payload.length, size - c.hlen, what);
        for (let j = c.hlen; j < size; j++) {
          if (f[j] !== (j & 0xff)) assert.fail(`${what}: payload byte ${j} is ${f[j]}, want ${j & 0xff}`);
        }
        frames++;
      }
    }
  }
  assert.equal(frames, 7 * (5 * 5 + 3 * 3)); /* ipv6/tcp and tagged ipv6/udp have no 64 or 65 */
});

test('the decoder catches corruption (it is not vacuous)', () => {
  for (const c of COMBOS) {
    const ct = compileTraffic(rangedSpec(c.l3, c.l4, c.vlan, 100));
    const f = new Uint8Array(100);
    ct.write(5, 100, f, 0);
    const ok = decodeRef(f);
    assert.ok((ok.udp?.checksumOk ?? ok.tcp?.checksumOk) === true, label(c));
    f[99] ^= 1; /* last payload byte */
    const bad = decodeRef(f);
    assert.equal(bad.udp?.checksumOk ?? bad.tcp?.checksumOk, false, label(c));
    if (c.l3 === 'ipv4') {
      const g = new Uint8Array(100);
      ct.write(5, 100, g, 0);
      g[(c.vlan ? 18 : 14) + 8] ^= 0x10; /* TTL */
      assert.equal(decodeRef(g).ipv4!.headerChecksumOk, false);
    }
  }
});

test('a UDP checksum that computes to 0 is sent as 0xffff (0 means none; invalid over IPv6)', () => {
  for (const l3 of ['ipv4', 'ipv6'] as const) {
    /* raising the source port by the checksum C turns the sum into 0xffff, so the checksum into 0 */
    const probe = compileTraffic({ l3, srcPort: 1000, size: 100 });
    const f = new Uint8Array(100);
    probe.write(0, 100, f, 0);
    const c = decodeRef(f).udp!.checksum;
    let port = 1000 + c;
    if (port > 65535) port -= 65535;
    const ct = compileTraffic({ l3, srcPort: port, size: 100 });
    ct.write(0, 100, f, 0);
    const d = decodeRef(f);
    assert.equal(d.udp!.sport, port);
    assert.equal(d.udp!.checksum, 0xffff, `${l3}: port ${port}`);
    assert.ok(d.udp!.checksumOk, `${l3}: checksum valid`);
    /* a zero checksum field: "not computed" is legal over IPv4 only (RFC 768, RFC 8200 8.1) */
    const off = (l3 === 'ipv4' ? 34 : 54) + 6;
    f[off] = 0;
    f[off + 1] = 0;
    assert.equal(decodeRef(f).udp!.checksumOk, l3 === 'ipv4');
  }
});

test('ipv4/udp frames match the existing buildUdp4 byte for byte', () => {
  for (const size of [42, 60, 64, 65, 1514]) {
    const ct = compileTraffic({ size, srcPort: 9, srcIp: '192.168.1.10', dstIp: '192.168.1.20', ttl: 33 });
    const f = new Uint8Array(size);
    ct.write(0, size, f, 0);
    assert.deepEqual(f, buildUdp4({ size, srcPort: 9, dstPort: 9, srcIp: '192.168.1.10', dstIp: '192.168.1.20', ttl: 33 }), `size ${size}`);
  }
});

test('writeHeaders over a pattern-filled buffer equals write() byte for byte', () => {
  for (const c of COMBOS) {
    for (const spec of [rangedSpec(c.l3, c.l4, c.vlan, 64), { l3: c.l3, l4: c.l4, flows: 1000, ...(c.vlan ? { vlan: 7 } : {}) }]) {
      const ct = compileTraffic({ ...spec, size: { min: c.hlen, max: 9018 } });
      const sizes = [c.hlen, c.hlen + 1, 64, 65, 100, 1514, 1515, 9017, 9018, ...ct.sizes.slice(0, 20)].filter((s) => s >= c.hlen);
      const flows = [0, 1, 2, ct.nflows - 1, Math.floor(ct.nflows / 2), 11];
      const off = 5;
      const ref = new Uint8Array(9018 + off);
      const fast = new Uint8Array(9018 + off);
      for (const size of sizes) {
        for (const i of flows) {
          ref.fill(0);
          ct.write(i, size, ref, off);
          /* the pattern in place (relative to the frame start), garbage in the header bytes */
          for (let j = 0; j < size; j++) fast[off + j] = j < ct.headerLen ? 0xa5 : j & 0xff;
          ct.writeHeaders(i, size, fast, off);
          for (let j = 0; j < off + size; j++) {
            if (fast[j] !== ref[j]) assert.fail(`${label(c)} flow ${i} size ${size}: byte ${j - off} differs (${fast[j]} vs ${ref[j]})`);
          }
        }
      }
      /* the same buffer re-written for flow after flow at one size (the hot-path use) */
      const size = 64 < c.hlen ? c.hlen : 64;
      const buf = new Uint8Array(size);
      ct.write(0, size, buf, 0);
      for (let i = 0; i < Math.min(ct.nflows, 300); i++) {
        ct.writeHeaders(i, size, buf, 0);
        const one = new Uint8Array(size);
        ct.write(i, size, one, 0);
        assert.deepEqual(buf, one);
      }
    }
  }
});

test('flow enumeration: mixed radix, sport fastest, address carry, prefixes', () => {
  const ct = compileTraffic({
    srcIp: '10.0.0.255', srcIps: 2, dstIp: '192.168.0.1', dstIps: 2,
    srcPort: 1000, srcPorts: 3, dstPort: 80, dstPorts: 2,
  });
  assert.equal(ct.nflows, 24);
  const t = (i: number): string => {
    const f = ct.flow(i);
    assert.equal(f.proto, 17);
    assert.equal(f.src.length, 4);
    return `${addressString(f.src)}:${f.sport}>${addressString(f.dst)}:${f.dport}`;
  };
  assert.equal(t(0), '10.0.0.255:1000>192.168.0.1:80');
  assert.equal(t(1), '10.0.0.255:1001>192.168.0.1:80');
  assert.equal(t(2), '10.0.0.255:1002>192.168.0.1:80');
  assert.equal(t(3), '10.0.0.255:1000>192.168.0.1:81');
  assert.equal(t(6), '10.0.1.0:1000>192.168.0.1:80'); /* 10.0.0.255 + 1 carries */
  assert.equal(t(11), '10.0.1.0:1002>192.168.0.1:81');
  assert.equal(t(12), '10.0.0.255:1000>192.168.0.2:80');
  assert.equal(t(23), '10.0.1.0:1002>192.168.0.2:81');
  assert.deepEqual(ct.flow(6).src, Uint8Array.of(10, 0, 1, 0));
  const all = new Set(Array.from({ length: 24 }, (_, i) => t(i)));
  assert.equal(all.size, 24);
  assert.equal(ct.spec.flows, 24);

  /* carry across several bytes, IPv4 and IPv6 */
  const c4 = compileTraffic({ srcIp: '10.255.255.255', srcIps: 2 });
  assert.equal(addressString(c4.flow(1).src), '11.0.0.0');
  const c6 = compileTraffic({ l3: 'ipv6', l4: 'tcp-syn', srcIp: 'fd00::ffff:ffff', srcIps: 2, dstIp: '2001:db8::', dstIps: 70000, flows: 140000 });
  assert.equal(addressString(c6.flow(1).src), 'fd00::1:0:0');
  assert.equal(c6.flow(1).proto, 6);
  assert.equal(addressString(c6.flow(2 * 65537).dst), '2001:db8::1:1');
  assert.equal(addressString(c6.flow(139999).dst), `2001:db8::1:${(69999 - 65536).toString(16)}`);
  /* the frame agrees with flow() */
  const fr = new Uint8Array(c6.headerLen);
  c6.write(139999, c6.headerLen, fr, 0);
  const d = decodeRef(fr);
  assert.equal(d.ipv6!.src, 'fd00::1:0:0');
  assert.equal(d.ipv6!.dst, addressString(c6.flow(139999).dst));
  assert.ok(d.tcp!.checksumOk, 'd.tcp!.checksumOk');

  /* flows alone: srcPorts = flows */
  const fl = compileTraffic({ flows: 100 });
  assert.equal(fl.nflows, 100);
  assert.equal(fl.spec.srcPorts, 100);
  assert.equal(fl.flow(0).sport, 1024);
  assert.equal(fl.flow(99).sport, 1123);
  assert.equal(fl.flow(99).dport, 9);
  assert.equal(addressString(fl.flow(99).src), '10.0.0.1');
  assert.equal(addressString(fl.flow(99).dst), '10.0.0.2');
  /* defaults */
  const def = compileTraffic({});
  assert.equal(def.nflows, 1);
  assert.deepEqual(def.spec, {
    l3: 'ipv4', l4: 'udp', size: 64, flows: 1, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02',
    srcIp: '10.0.0.1', dstIp: '10.0.0.2', srcIps: 1, dstIps: 1, srcPort: 1024, dstPort: 9, srcPorts: 1, dstPorts: 1,
    vlan: null, vlanPrio: 0, ttl: 64, seed: 1,
  });
  const d6 = compileTraffic({ l3: 'ipv6', srcIp: 'FD00:0:0:0:0:0:0:0001' });
  assert.equal(d6.spec.srcIp, 'fd00::1');
  assert.equal(d6.spec.dstIp, 'fd00::2');
  assert.deepEqual(compileTraffic({ l3: 'ipv6', srcIp: '::ffff:10.1.2.3' }).flow(0).src, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 10, 1, 2, 3));
  /* a prefix of the ranges */
  const pre = compileTraffic({ srcPorts: 10, dstPorts: 10, flows: 15 });
  assert.equal(pre.nflows, 15);
  assert.equal(pre.flow(14).sport, 1028);
  assert.equal(pre.flow(14).dport, 10);
  /* ports up to 65535 exactly are fine */
  assert.equal(compileTraffic({ srcPort: 65534, srcPorts: 2 }).flow(1).sport, 65535);
  assert.equal(compileTraffic({ srcPort: 65436, flows: 100 }).flow(99).sport, 65535);
  assert.throws(() => compileTraffic({ srcPort: 65535, srcPorts: 2 }), RangeError);
  assert.throws(() => ct.flow(24), RangeError);
  assert.throws(() => ct.rssHash(-1), RangeError);
});

test('size sequences: fixed, seeded range, IMIX', () => {
  const fixed = compileTraffic({ size: 128 });
  assert.deepEqual(Array.from(fixed.sizes), [128]);
  assert.deepEqual(Array.from(fixed.distinctSizes), [128]);
  assert.equal(fixed.minSize, 128);
  assert.equal(fixed.maxSize, 128);
  /* default 64, or the header length when larger */
  assert.deepEqual(Array.from(compileTraffic({ l3: 'ipv6', l4: 'tcp-syn', vlan: 1 }).sizes), [78]);

  const r1 = compileTraffic({ size: { min: 64, max: 1514 }, seed: 7 });
  const r1b = compileTraffic({ size: { min: 64, max: 1514 }, seed: 7 });
  const r2 = compileTraffic({ size: { min: 64, max: 1514 }, seed: 8 });
  assert.equal(r1.sizes.length, 1024);
  assert.ok(r1.sizes.every((s) => s >= 64 && s <= 1514), 'r1.sizes.every((s) => s >= 64 && s <= 1514)');
  assert.deepEqual(r1.sizes, r1b.sizes);
  assert.notDeepEqual(r1.sizes, r2.sizes);
  assert.ok(r1.distinctSizes.length > 500, `only ${r1.distinctSizes.length} distinct sizes`);
  assert.ok(r1.minSize < 200 && r1.maxSize > 1400, 'r1.minSize < 200 && r1.maxSize > 1400');
  assert.equal(r1.minSize, Math.min(...r1.sizes));
  assert.equal(r1.maxSize, Math.max(...r1.sizes));
  for (let k = 1; k < r1.distinctSizes.length; k++) assert.ok(r1.distinctSizes[k - 1]! < r1.distinctSizes[k]!, 'r1.distinctSizes[k - 1]! < r1.distinctSizes[k]!');
  const narrow = compileTraffic({ size: { min: 64, max: 65 } });
  assert.deepEqual(Array.from(narrow.distinctSizes), [64, 65]);
  assert.deepEqual(Array.from(compileTraffic({ size: { min: 100, max: 100 } }).distinctSizes), [100]);
  /* default seed is 1 */
  assert.deepEqual(compileTraffic({ size: { min: 64, max: 1514 } }).sizes, compileTraffic({ size: { min: 64, max: 1514 }, seed: 1 }).sizes);

  const im = compileTraffic({ size: 'imix' });
  assert.equal(im.sizes.length % 12, 0);
  assert.ok(im.sizes.length >= 1024, 'im.sizes.length >= 1024');
  const countOf = (a: Int32Array, v: number): number => a.reduce((n, s) => n + (s === v ? 1 : 0), 0);
  const k = im.sizes.length / 12;
  assert.equal(countOf(im.sizes, 60), 7 * k);
  assert.equal(countOf(im.sizes, 590), 4 * k);
  assert.equal(countOf(im.sizes, 1514), 1 * k);
  assert.deepEqual(Array.from(im.distinctSizes), [60, 590, 1514]);
  assert.equal(im.minSize, 60);
  assert.equal(im.maxSize, 1514);
  assert.deepEqual(im.spec.size, { imix: [[60, 7], [590, 4], [1514, 1]] });
  /* shuffled: not the 7-4-1 blocks in order, and the seed matters */
  assert.notDeepEqual(Array.from(im.sizes.slice(0, 12)), [60, 60, 60, 60, 60, 60, 60, 590, 590, 590, 590, 1514]);
  assert.notDeepEqual(im.sizes, compileTraffic({ size: 'imix', seed: 2 }).sizes);
  assert.deepEqual(im.sizes, compileTraffic({ size: 'imix', seed: 1 }).sizes);
  /* IPv6 headers do not fit 60 bytes: the simple IMIX's small frame becomes the header length */
  const im6 = compileTraffic({ l3: 'ipv6', size: 'imix' });
  assert.deepEqual(Array.from(im6.distinctSizes), [62, 590, 1514]);
  assert.equal(countOf(im6.sizes, 62) * 4, countOf(im6.sizes, 590) * 7);

  const custom = compileTraffic({ size: { imix: [[64, 5], [1500, 3]] }, seed: 3 });
  const kc = custom.sizes.length / 8;
  assert.ok(Number.isInteger(kc), 'Number.isInteger(kc)');
  assert.equal(countOf(custom.sizes, 64), 5 * kc);
  assert.equal(countOf(custom.sizes, 1500), 3 * kc);
  /* a total weight above 1024 still repeats at least once */
  const big = compileTraffic({ size: { imix: [[64, 1000], [128, 999]] } });
  assert.equal(big.sizes.length, 1999);
  assert.equal(countOf(big.sizes, 128), 999);
});

/* Microsoft's "Verifying the RSS Hash Calculation" suite (also the 82599
 * datasheet 7.1.2.8.3): source, destination, ports, IP-only hash, with-ports hash. */
const V4: Array<[string, string, number, number, number, number]> = [
  ['66.9.149.187', '161.142.100.80', 2794, 1766, 0x323e8fc2, 0x51ccc178],
  ['199.92.111.2', '65.69.140.83', 14230, 4739, 0xd718262a, 0xc626b0ea],
  ['24.19.198.95', '12.22.207.184', 12898, 38024, 0xd2d0a5de, 0x5c2b394a],
  ['38.27.205.30', '209.142.163.6', 48228, 2217, 0x82989176, 0xafc7327f],
  ['153.39.163.191', '202.188.127.2', 44251, 1303, 0x5d1809c5, 0x10e828a2],
];
const V6: Array<[string, string, number, number, number, number]> = [
  ['3ffe:2501:200:1fff::7', '3ffe:2501:200:3::1', 2794, 1766, 0x2cc18cd5, 0x40207d3d],
  ['3ffe:501:8::260:97ff:fe40:efab', 'ff02::1', 14230, 4739, 0x0f0c461c, 0xdde51bbf],
  ['3ffe:1900:4545:3:200:f8ff:fe21:67cf', 'fe80::200:f8ff:fe21:67cf', 44251, 38024, 0x4b61e985, 0x02d1feef],
];

test('toeplitz: the Microsoft RSS verification vectors (IPv4, IPv6, with and without ports)', () => {
  assert.equal(RSS_DEFAULT_KEY.length, 40);
  assert.equal(Buffer.from(RSS_DEFAULT_KEY).toString('hex'), '6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa');
  for (const [l3, table] of [['ipv4', V4], ['ipv6', V6]] as const) {
    for (const [src, dst, sport, dport, h2, h4] of table) {
      /* through the builder: the address bytes come from its own parser */
      const ct = compileTraffic({ l3, l4: 'tcp-syn', srcIp: src, dstIp: dst, srcPort: sport, dstPort: dport });
      const f = ct.flow(0);
      assert.equal(ct.rssHash(0), h4, `${src}:${sport} -> ${dst}:${dport}`);
      /* the generic function over the same input */
      const ports = Uint8Array.of(sport >> 8, sport & 255, dport >> 8, dport & 255);
      const in4 = new Uint8Array([...f.src, ...f.dst, ...ports]);
      assert.equal(toeplitzHash(RSS_DEFAULT_KEY, in4), h4);
      assert.equal(toeplitzHash(RSS_DEFAULT_KEY, new Uint8Array([...f.src, ...f.dst])), h2, `${src} -> ${dst} (addresses only)`);
      /* UDP hashes the same 4-tuple */
      assert.equal(compileTraffic({ l3, srcIp: src, dstIp: dst, srcPort: sport, dstPort: dport }).rssHash(0), h4);
    }
  }
  assert.equal(toeplitzHash(RSS_DEFAULT_KEY, new Uint8Array(0)), 0);
  assert.throws(() => toeplitzHash(new Uint8Array(8), new Uint8Array(5)),
    { name: 'RangeError', message: 'toeplitzHash: a 8-byte key is too short for 5 bytes of input (needs 9)' });
  /* rssHash over many flows equals the generic function on flow() */
  const ct = compileTraffic({ l3: 'ipv6', srcIps: 5, dstPorts: 7, srcPorts: 9, srcIp: 'fd00::ffff' });
  for (let i = 0; i < ct.nflows; i++) {
    const f = ct.flow(i);
    const input = new Uint8Array([...f.src, ...f.dst, f.sport >> 8, f.sport & 255, f.dport >> 8, f.dport & 255]);
    assert.equal(ct.rssHash(i), toeplitzHash(RSS_DEFAULT_KEY, input));
  }
  /* mutating the exported key does not change rssHash (it uses a private copy) */
  const before = compileTraffic({}).rssHash(0);
  const saved = RSS_DEFAULT_KEY[0]!;
  RSS_DEFAULT_KEY[0] = saved ^ 0xff;
  try {
    assert.equal(compileTraffic({}).rssHash(0), before);
  } finally {
    RSS_DEFAULT_KEY[0] = saved;
  }
});

test('every validation error names its field', () => {
  const cases: Array<[TrafficSpec, string]> = [
    [{ l3: 'ipv5' as 'ipv4' }, "l3: 'ipv5' is not 'ipv4' or 'ipv6'"],
    [{ l4: 'tcp' as 'udp' }, "l4: 'tcp' is not 'udp' or 'tcp-syn'"],
    [{ srcmac: 'x' } as TrafficSpec, 'srcmac: unknown field'],
    [{ srcMac: '02:00:00:00:00' }, "srcMac: bad MAC address '02:00:00:00:00' (want six hex pairs separated by ':')"],
    [{ dstMac: '02:00:00:00:00:zz' }, "dstMac: bad MAC address '02:00:00:00:00:zz' (want six hex pairs separated by ':')"],
    [{ srcIp: '10.0.0.256' }, "srcIp: bad IPv4 address '10.0.0.256'"],
    [{ srcIp: '10..0.1' }, "srcIp: bad IPv4 address '10..0.1'"],
    [{ dstIp: 'fd00::2' }, "dstIp: bad IPv4 address 'fd00::2' (l3 is ipv4)"],
    [{ l3: 'ipv6', srcIp: 'fd00:::1' }, "srcIp: bad IPv6 address 'fd00:::1'"],
    [{ l3: 'ipv6', srcIp: '1:2:3:4:5:6:7:8:9' }, "srcIp: bad IPv6 address '1:2:3:4:5:6:7:8:9'"],
    [{ l3: 'ipv6', dstIp: '10.0.0.2' }, "dstIp: bad IPv6 address '10.0.0.2' (l3 is ipv6)"],
    [{ srcPort: 65536 }, 'srcPort: 65536 is not an integer in 0..65535'],
    [{ dstPort: -1 }, 'dstPort: -1 is not an integer in 0..65535'],
    [{ srcPort: 65535, srcPorts: 2 }, 'srcPorts: ports 65535..65536 run past 65535'],
    [{ dstPort: 65000, dstPorts: 1000 }, 'dstPorts: ports 65000..65999 run past 65535'],
    [{ srcPort: 65500, flows: 100 }, 'flows: 100 flows need source ports 65500..65599, past 65535 (lower srcPort or give ranges)'],
    [{ srcPorts: 0 }, 'srcPorts: 0 is not a positive integer'],
    [{ dstPorts: 1.5 }, 'dstPorts: 1.5 is not a positive integer'],
    [{ srcIps: -3 }, 'srcIps: -3 is not a positive integer'],
    [{ dstIps: 0 }, 'dstIps: 0 is not a positive integer'],
    [{ srcIp: '255.255.255.250', srcIps: 7 }, 'srcIps: 255.255.255.250 + 7 addresses runs past 255.255.255.255'],
    [{ l3: 'ipv6', dstIp: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe', dstIps: 3 },
      'dstIps: ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe + 3 addresses runs past ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    [{ vlan: 4096 }, 'vlan: 4096 is not an integer in 0..4095'],
    [{ vlan: -1 }, 'vlan: -1 is not an integer in 0..4095'],
    [{ vlan: 1, vlanPrio: 8 }, 'vlanPrio: 8 is not an integer in 0..7'],
    [{ vlanPrio: 3 }, 'vlanPrio: needs vlan (use vlan: 0 for a priority-only tag)'],
    [{ ttl: 256 }, 'ttl: 256 is not an integer in 0..255'],
    [{ seed: 1.5 }, 'seed: 1.5 is not an integer'],
    [{ size: 41 }, 'size: 41 is below the minimum 42 for ipv4/udp headers'],
    [{ size: 57, vlan: 1, l4: 'tcp-syn' }, 'size: 57 is below the minimum 58 for ipv4/tcp-syn/vlan headers'],
    [{ size: 64, l3: 'ipv6', l4: 'tcp-syn' }, 'size: 64 is below the minimum 74 for ipv6/tcp-syn headers'],
    [{ size: 9019 }, 'size: 9019 is above the maximum 9018 (9000-byte jumbo MTU + 14 Ethernet + 4 VLAN)'],
    [{ size: 100.5 }, 'size: 100.5 is not an integer frame length'],
    [{ size: { min: 30, max: 100 } }, 'size.min: 30 is below the minimum 42 for ipv4/udp headers'],
    [{ size: { min: 64, max: 10000 } }, 'size.max: 10000 is above the maximum 9018 (9000-byte jumbo MTU + 14 Ethernet + 4 VLAN)'],
    [{ size: { min: 200, max: 100 } }, 'size: min 200 is above max 100'],
    [{ size: 'jumbo' as 'imix' }, "size: jumbo is not a size (a number, {min, max}, 'imix' or {imix: [[size, weight], ...]})"],
    [{ size: { lo: 1 } as unknown as number }, `size: {"lo":1} is not a size (a number, {min, max}, 'imix' or {imix: [[size, weight], ...]})`],
    [{ size: { imix: [] } }, 'size.imix: must be a non-empty array of [size, weight]'],
    [{ size: { imix: [[64, 1], [128] as unknown as [number, number]] } }, 'size.imix[1]: must be a [size, weight] pair'],
    [{ size: { imix: [[64, 0]] } }, 'size.imix[0] weight: 0 is not a positive integer'],
    [{ size: { imix: [[64, 1], [128, 2.5]] } }, 'size.imix[1] weight: 2.5 is not a positive integer'],
    [{ size: { imix: [[64, -1]] } }, 'size.imix[0] weight: -1 is not a positive integer'],
    [{ size: { imix: [[40, 1]] } }, 'size.imix[0] size: 40 is below the minimum 42 for ipv4/udp headers'],
    [{ size: { imix: [[64, 1], [9100, 1]] } }, 'size.imix[1] size: 9100 is above the maximum 9018 (9000-byte jumbo MTU + 14 Ethernet + 4 VLAN)'],
    [{ size: { imix: [[64, 1 << 20], [128, 1]] } }, 'size.imix: total weight 1048577 exceeds 1048576'],
    [{ flows: 0 }, 'flows: 0 is not an integer in 1..1048576'],
    [{ flows: (1 << 20) + 1 }, 'flows: 1048577 is not an integer in 1..1048576'],
    [{ flows: 2.5 }, 'flows: 2.5 is not an integer in 1..1048576'],
    [{ srcPorts: 4, dstPorts: 2, flows: 9 }, 'flows: 9 is more than the 8 distinct flows the ranges give (srcPorts 4 x dstPorts 2 x srcIps 1 x dstIps 1)'],
    [{ srcPorts: 1024, dstPorts: 1025 }, 'flows: the ranges give 1049600 flows, more than 1048576 (give flows to use a prefix)'],
    [null as unknown as TrafficSpec, 'spec: must be an object'],
  ];
  for (const [spec, message] of cases) {
    assert.throws(() => compileTraffic(spec), (e: unknown) => {
      assert.ok(e instanceof RangeError, `${JSON.stringify(spec)}: ${String(e)}`);
      assert.equal(e.message, message);
      return true;
    });
  }
  /* the run-time argument checks of write / writeHeaders / flow */
  const ct = compileTraffic({ flows: 4 });
  const buf = new Uint8Array(100);
  const rt: Array<[() => unknown, string]> = [
    [() => ct.write(4, 64, buf, 0), 'flow 4: not an integer in 0..3'],
    [() => ct.writeHeaders(-1, 64, buf, 0), 'flow -1: not an integer in 0..3'],
    [() => ct.flow(1.5), 'flow 1.5: not an integer in 0..3'],
    [() => ct.write(0, 41, buf, 0), 'size 41: not an integer frame length in 42..9018'],
    [() => ct.writeHeaders(0, 9019, new Uint8Array(10000), 0), 'size 9019: not an integer frame length in 42..9018'],
    [() => ct.write(0, 64, buf, 40), 'offset 40: a 64-byte frame does not fit a 100-byte buffer there'],
    [() => ct.writeHeaders(0, 64, buf, -1), 'offset -1: a 64-byte frame does not fit a 100-byte buffer there'],
  ];
  for (const [fn, message] of rt) assert.throws(fn, { name: 'RangeError', message });
  /* write() accepts any legal size, not just the spec's */
  assert.equal(ct.write(3, 42, buf, 58), 42);
  assert.ok(decodeRef(buf.subarray(58)).udp!.checksumOk, 'decodeRef(buf.subarray(58)).udp!.checksumOk');
});

/* a compile-time check that the exported types fit together */
const _typed: (c: CompiledTraffic) => number = (c) => c.headerLen;
void _typed;
