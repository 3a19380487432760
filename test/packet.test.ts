/* The frame builder: valid IPv4 and UDP checksums, sizes, and the RSS flow hash. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildUdp4, checkUdp4, flowHash } from '../src/index.ts';
import { ipv4 } from '../src/driver/packet.ts';

test('buildUdp4: headers, lengths and checksums', () => {
  for (const size of [42, 60, 64, 65, 128, 1514]) {
    const b = buildUdp4({ size, srcIp: '192.168.1.10', dstIp: '192.168.1.20', srcPort: 4242, dstPort: 53 });
    const dv = new DataView(b.buffer);
    assert.equal(b.length, size);
    assert.equal(dv.getUint16(12), 0x0800);
    assert.equal(dv.getUint16(16), size - 14);
    assert.equal(dv.getUint16(38), size - 34);
    assert.equal(dv.getUint16(34), 4242);
    assert.equal(dv.getUint16(36), 53);
    assert.equal(dv.getUint32(26), ipv4('192.168.1.10'));
    assert.deepEqual(checkUdp4(b), { ip: true, udp: true });
  }
  /* a known header checksum: 10.0.0.1 -> 10.0.0.2, UDP, len 50, DF, ttl 64 */
  const b = buildUdp4({ size: 64 });
  assert.equal(new DataView(b.buffer).getUint16(24), 0x26b9); /* ~(0x4500+0x0032+0x4000+0x4011+0x0a00+0x0001+0x0a00+0x0002) */
  b[50] ^= 1;
  assert.deepEqual(checkUdp4(b), { ip: true, udp: false });
  assert.throws(() => buildUdp4({ size: 41 }), /42\.\.65535/);
  assert.throws(() => buildUdp4({ size: 64, srcIp: '10.0.0.256' }), /bad IPv4/);
});

test('flowHash spreads flows over queues', () => {
  const per = [0, 0, 0, 0];
  for (let p = 0; p < 4096; p++) per[flowHash(ipv4('10.0.0.1'), ipv4('10.0.0.2'), 1024 + p, 9, 17) % 4]!++;
  for (const n of per) assert.ok(n > 900 && n < 1150, `queue share ${n} of 4096`);
  assert.equal(flowHash(1, 2, 3, 4, 17), flowHash(1, 2, 3, 4, 17));
});
