/* Capture files: pcap/pcapng writers round-trip through the reader; the reader
 * takes both byte orders, the timestamp resolutions and the odd block types,
 * and rejects malformed files with the byte offset of the fault. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureError, parseCapture, readCapture, writePcap, writePcapng } from '../src/gen/pcap.ts';
import { XdpsimError } from '../src/shared/errno.ts';

const TS = 1_700_000_000_123_456_789n;

function frame(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

/* ---- hand-built files ---- */

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

/** Writes u16/u32/u64 fields in a chosen byte order. */
class Bytes {
  private readonly b: number[] = [];
  constructor(private readonly le: boolean) {}
  u8(v: number): this { this.b.push(v & 0xff); return this; }
  u16(v: number): this { const d = new DataView(new ArrayBuffer(2)); d.setUint16(0, v, this.le); return this.raw(new Uint8Array(d.buffer)); }
  u32(v: number): this { const d = new DataView(new ArrayBuffer(4)); d.setUint32(0, v >>> 0, this.le); return this.raw(new Uint8Array(d.buffer)); }
  i64(v: bigint): this { const d = new DataView(new ArrayBuffer(8)); d.setBigInt64(0, v, this.le); return this.raw(new Uint8Array(d.buffer)); }
  raw(a: Uint8Array): this { for (const x of a) this.b.push(x); return this; }
  pad(): this { while (this.b.length % 4) this.b.push(0); return this; }
  opt(code: number, v: Uint8Array): this { return this.u16(code).u16(v.length).raw(v).pad(); }
  end(): this { return this.u16(0).u16(0); }
  get bytes(): Uint8Array { return Uint8Array.from(this.b); }
}

function block(le: boolean, type: number, body: Uint8Array, lenOverride?: number, trailOverride?: number): Uint8Array {
  const len = 12 + body.length;
  return new Bytes(le).u32(type).u32(lenOverride ?? len).raw(body).u32(trailOverride ?? len).bytes;
}
/** SHB without options: 28 bytes. */
const shb = (le: boolean, major = 1): Uint8Array => block(le, 0x0a0d0d0a, new Bytes(le).u32(0x1a2b3c4d).u16(major).u16(0).i64(-1n).bytes);
/** IDB: 20 bytes without options. */
function idb(le: boolean, snap = 0, opts?: (b: Bytes) => Bytes, linkType = 1): Uint8Array {
  const b = new Bytes(le).u16(linkType).u16(0).u32(snap);
  return block(le, 1, (opts ? opts(b) : b).bytes);
}
/** EPB: 32 + pad4(data) bytes without options. */
function epb(le: boolean, id: number, ticks: bigint, data: Uint8Array, o: { cap?: number; orig?: number; opts?: (b: Bytes) => Bytes } = {}): Uint8Array {
  const b = new Bytes(le).u32(id).u32(Number(ticks >> 32n)).u32(Number(ticks & 0xffffffffn))
    .u32(o.cap ?? data.length).u32(o.orig ?? data.length).raw(data).pad();
  return block(le, 6, (o.opts ? o.opts(b) : b).bytes);
}
function pcapHeader(le: boolean, nano: boolean, snap = 65535, linkType = 1): Uint8Array {
  return new Bytes(le).u32(nano ? 0xa1b23c4d : 0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(snap).u32(linkType).bytes;
}
function pcapRecord(le: boolean, sec: number, frac: number, data: Uint8Array, orig = data.length, incl = data.length): Uint8Array {
  return new Bytes(le).u32(sec).u32(frac).u32(incl).u32(orig).raw(data).bytes;
}

/** The call must throw a CaptureError (an XdpsimError, EINVAL) at `offset` whose message says so and matches `re`. */
function throwsAt(fn: () => unknown, offset: number, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CaptureError, `not a CaptureError: ${String(e)}`);
    assert.ok(e instanceof XdpsimError);
    assert.equal(e.code, 'EINVAL');
    assert.equal(e.errno, 22);
    assert.equal(e.offset, offset, e.message);
    assert.match(e.message, new RegExp(`at offset ${offset}\\b`));
    assert.match(e.message, re);
    return true;
  });
}

/* ---- round trips ---- */

test('writePcap (usec) -> parseCapture: bytes, lengths, truncated timestamps', () => {
  const pk = [
    { data: frame(60, 1), tsNs: TS },
    { data: frame(1514, 2), tsNs: TS + 999n, origLen: 1514 },
    { data: frame(42, 3), tsNs: 5n * 1_000_000_000n + 1_999n, origLen: 9000 },
  ];
  const f = parseCapture(writePcap(pk));
  assert.equal(f.format, 'pcap');
  assert.equal(f.byteOrder, 'little');
  assert.equal(f.linkType, 1);
  assert.deepEqual(f.interfaces, [{ linkType: 1, snapLen: 262144, tsResolNs: 1000, tsResol: { base: 10, exp: 6 }, tsOffsetSec: 0n, section: 0 }]);
  assert.equal(f.packets.length, 3);
  assert.deepEqual(f.packets.map((p) => p.tsNs), [1_700_000_000_123_456_000n, 1_700_000_000_123_457_000n, 5_000_001_000n]);
  assert.deepEqual(f.packets.map((p) => p.origLen), [60, 1514, 9000]);
  f.packets.forEach((p, i) => { assert.deepEqual(p.data, pk[i]!.data); assert.equal(p.ifIndex, 0); });
});

test('writePcap (nsec, snapLen, linkType) -> parseCapture: exact timestamps, cut packets', () => {
  const pk = [{ data: frame(60, 1), tsNs: TS }, { data: frame(200, 2), tsNs: TS + 1n }];
  const f = parseCapture(writePcap(pk, { nano: true, snapLen: 128, linkType: 113 }));
  assert.equal(f.linkType, 113);
  assert.equal(f.interfaces[0]!.snapLen, 128);
  assert.equal(f.interfaces[0]!.tsResolNs, 1);
  assert.deepEqual(f.packets.map((p) => p.tsNs), [TS, TS + 1n]);
  assert.deepEqual(f.packets[0]!.data, pk[0]!.data);
  assert.deepEqual(f.packets[1]!.data, pk[1]!.data.subarray(0, 128));
  assert.equal(f.packets[1]!.origLen, 200);
});

test('writePcap rejects bad input', () => {
  assert.throws(() => writePcap([{ data: frame(10, 0), tsNs: -1n }]), RangeError);
  assert.throws(() => writePcap([{ data: frame(10, 0), tsNs: 0n, origLen: 9 }]), RangeError);
  assert.throws(() => writePcap([{ data: frame(10, 0), tsNs: (1n << 32n) * 1_000_000_000n }]), RangeError);
  assert.throws(() => writePcap([], { snapLen: 0 }), RangeError);
});

test('writePcapng (2 interfaces, comments) -> parseCapture', () => {
  const buf = writePcapng([{ name: 'eth0' }, { name: 'veth1', snapLen: 50 }], [
    { ifIndex: 0, data: frame(60, 1), tsNs: TS, comment: 'hello, wörld' },
    { ifIndex: 1, data: frame(60, 2), tsNs: TS + 5n },
    { ifIndex: 1, data: frame(41, 3), tsNs: TS + 7n, comment: 'abc', origLen: 99 },
    { ifIndex: 0, data: frame(1, 4), tsNs: 0n, comment: '' },
  ]);
  assert.equal(buf.length % 4, 0);
  const f = parseCapture(buf, 'x.pcapng');
  assert.equal(f.format, 'pcapng');
  assert.equal(f.linkType, 1);
  assert.deepEqual(f.interfaces.map((i) => [i.name, i.linkType, i.snapLen, i.tsResolNs, i.section]),
    [['eth0', 1, 262144, 1, 0], ['veth1', 1, 50, 1, 0]]);
  assert.deepEqual(f.packets.map((p) => [p.ifIndex, p.tsNs, p.data.length, p.origLen, p.comments]), [
    [0, TS, 60, 60, ['hello, wörld']],
    [1, TS + 5n, 50, 60, undefined],
    [1, TS + 7n, 41, 99, ['abc']],
    [0, 0n, 1, 1, ['']],
  ]);
  assert.deepEqual(f.packets[0]!.data, frame(60, 1));
  assert.deepEqual(f.packets[1]!.data, frame(60, 2).subarray(0, 50));
  assert.deepEqual(f.packets[2]!.data, frame(41, 3));
  assert.throws(() => writePcapng([{}], [{ ifIndex: 1, data: frame(4, 0), tsNs: 0n }]), RangeError);
});

test('the parsed packet data is a copy', () => {
  const buf = writePcap([{ data: frame(60, 1), tsNs: 0n }]);
  const f = parseCapture(buf);
  f.packets[0]!.data[0] = 0xee;
  assert.equal(buf[40], frame(60, 1)[0]);
});

/* ---- byte orders ---- */

test('big-endian pcap (usec and nsec magic) parses', () => {
  for (const nano of [false, true]) {
    const buf = cat(pcapHeader(false, nano, 96), pcapRecord(false, 1_700_000_000, 123_456, frame(60, 1)),
      pcapRecord(false, 1_700_000_001, 7, frame(96, 2), 1500));
    assert.equal(buf[0], 0xa1);
    const f = parseCapture(buf);
    assert.equal(f.byteOrder, 'big');
    assert.equal(f.interfaces[0]!.snapLen, 96);
    const m = nano ? 1n : 1000n;
    assert.deepEqual(f.packets.map((p) => [p.tsNs, p.data.length, p.origLen]), [
      [1_700_000_000_000_000_000n + 123_456n * m, 60, 60],
      [1_700_000_001_000_000_000n + 7n * m, 96, 1500],
    ]);
    assert.deepEqual(f.packets[1]!.data, frame(96, 2));
  }
});

test('big-endian pcapng parses (options, comments, padding)', () => {
  const be = false;
  const buf = cat(
    shb(be),
    idb(be, 65535, (b) => b.opt(2, new TextEncoder().encode('eno1')).opt(9, Uint8Array.of(9)).end(), 1),
    epb(be, 0, TS, frame(61, 5), { orig: 1000, opts: (b) => b.opt(1, new TextEncoder().encode('c1')).opt(1, new TextEncoder().encode('c2')).end() }),
  );
  assert.deepEqual([...buf.subarray(8, 12)], [0x1a, 0x2b, 0x3c, 0x4d]);
  const f = parseCapture(buf);
  assert.equal(f.byteOrder, 'big');
  assert.equal(f.interfaces[0]!.name, 'eno1');
  assert.equal(f.interfaces[0]!.snapLen, 65535);
  assert.deepEqual(f.packets.map((p) => [p.tsNs, p.data.length, p.origLen, p.comments]), [[TS, 61, 1000, ['c1', 'c2']]]);
  assert.deepEqual(f.packets[0]!.data, frame(61, 5));
});

/* ---- timestamps ---- */

test('if_tsresol 6, 9, 2^-10, default, and if_tsoffset', () => {
  const ticks = 3_000_123_456n;
  for (const le of [true, false]) {
    const cases: Array<[((b: Bytes) => Bytes) | undefined, bigint, number]> = [
      [(b) => b.opt(9, Uint8Array.of(6)).end(), ticks * 1000n, 1000],
      [(b) => b.opt(9, Uint8Array.of(9)).end(), ticks, 1],
      [(b) => b.opt(9, Uint8Array.of(0x80 | 10)).end(), (ticks * 1_000_000_000n) / 1024n, 1e9 / 1024],
      [(b) => b.opt(9, Uint8Array.of(3)).end(), ticks * 1_000_000n, 1e6],
      [(b) => b.opt(9, Uint8Array.of(12)).end(), ticks / 1000n, 0.001],
      [undefined, ticks * 1000n, 1000],
      [(b) => b.opt(9, Uint8Array.of(9)).opt(14, new Bytes(le).i64(-2n).bytes).end(), ticks - 2_000_000_000n, 1],
    ];
    for (const [opts, want, resol] of cases) {
      const f = parseCapture(cat(shb(le), idb(le, 0, opts), epb(le, 0, ticks, frame(14, 0))));
      assert.equal(f.packets[0]!.tsNs, want, `le=${le} want ${want}`);
      assert.equal(f.interfaces[0]!.tsResolNs, resol);
    }
  }
  /* 2^-10 ticks: 1024 ticks are exactly one second */
  const f = parseCapture(cat(shb(true), idb(true, 0, (b) => b.opt(9, Uint8Array.of(0x8a)).end()), epb(true, 0, 1024n * 5n + 512n, frame(14, 0))));
  assert.equal(f.packets[0]!.tsNs, 5_500_000_000n);
  assert.deepEqual(f.interfaces[0]!.tsResol, { base: 2, exp: 10 });
});

/* ---- other blocks, sections ---- */

test('SPB, obsolete Packet Block, NRB/ISB/custom/unknown blocks', () => {
  const le = true;
  const spb = (orig: number, data: Uint8Array): Uint8Array => block(le, 3, new Bytes(le).u32(orig).raw(data).pad().bytes);
  const opb = block(le, 2, new Bytes(le).u16(0).u16(0).u32(0).u32(1000).u32(20).u32(20).raw(frame(20, 9)).bytes);
  const buf = cat(
    shb(le),
    block(le, 0x0bad, new Bytes(le).u32(32473).raw(frame(7, 0)).pad().bytes), /* custom, before any IDB */
    idb(le, 64),
    block(le, 4, new Bytes(le).u16(1).u16(8).raw(Uint8Array.of(10, 0, 0, 1, 0x61, 0x62, 0, 0)).end().bytes), /* NRB */
    spb(60, frame(60, 1)),
    spb(100, frame(64, 2)), /* snaplen-limited */
    block(le, 0x12345678, frame(16, 3)), /* unknown */
    block(le, 5, new Bytes(le).u32(0).u32(0).u32(0).bytes), /* ISB */
    opb,
  );
  const f = parseCapture(buf);
  assert.deepEqual(f.packets.map((p) => [p.ifIndex, p.tsNs, p.data.length, p.origLen]), [
    [0, 0n, 60, 60], [0, 0n, 64, 100], [0, 1000_000n, 20, 20]]);
  assert.deepEqual(f.packets[1]!.data, frame(64, 2));
  assert.deepEqual(f.packets[2]!.data, frame(20, 9));
});

test('several sections: a new SHB (other byte order) resets the interfaces', () => {
  const buf = cat(
    shb(true), idb(true, 0), idb(true, 0, undefined, 101), epb(true, 1, 5n, frame(20, 1)),
    shb(false), idb(false, 0, (b) => b.opt(9, Uint8Array.of(9)).end(), 228), epb(false, 0, 7n, frame(20, 2)),
  );
  const f = parseCapture(buf);
  assert.equal(f.byteOrder, 'little');
  assert.equal(f.linkType, 1);
  assert.deepEqual(f.interfaces.map((i) => [i.linkType, i.section]), [[1, 0], [101, 0], [228, 1]]);
  assert.deepEqual(f.packets.map((p) => [p.ifIndex, p.tsNs]), [[1, 5000n], [2, 7n]]);
  /* interface id 1 no longer exists after the second SHB (at 28+20+20+52 = 120) */
  const bad = cat(shb(true), idb(true, 0), idb(true, 0), epb(true, 1, 5n, frame(20, 1)), shb(false), idb(false, 0), epb(false, 1, 7n, frame(20, 2)));
  throwsAt(() => parseCapture(bad), 120 + 28 + 20, /EPB at offset 168: interface id 1 is not defined \(1 interface in this section\)/);
});

/* ---- malformed files ---- */

test('malformed pcap files: error names the exact offset', () => {
  const one = writePcap([{ data: frame(60, 1), tsNs: TS }]); /* 24 + 16 + 60 = 100 bytes */
  throwsAt(() => parseCapture(new Uint8Array(0), 'e.pcap'), 0, /^e\.pcap: empty file at offset 0/);
  throwsAt(() => parseCapture(Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0)), 0, /unknown magic at offset 0: 0xdeadbeef/);
  throwsAt(() => parseCapture(Uint8Array.of(0xd4, 0xc3)), 0, /unknown magic at offset 0: 0xd4c3 /);
  throwsAt(() => parseCapture(one.subarray(0, 10)), 0, /truncated pcap file header at offset 0: need 24 bytes, file has 10/);
  throwsAt(() => parseCapture(cat(one, new Uint8Array(5))), 100, /truncated packet record header at offset 100: need 16 bytes, 5 left/);
  throwsAt(() => parseCapture(one.subarray(0, 24 + 16 + 30), 'capture.pcap'), 24,
    /^capture\.pcap: truncated packet record at offset 24: header says 60 bytes, 30 left$/);
  const two = (incl: number, orig: number): Uint8Array =>
    cat(pcapHeader(true, false, 64), pcapRecord(true, 1, 2, frame(60, 1)), pcapRecord(true, 1, 2, frame(incl, 2), orig));
  throwsAt(() => parseCapture(two(100, 100)), 100, /packet record at offset 100: captured length 100 exceeds snaplen 64/);
  throwsAt(() => parseCapture(two(50, 40)), 100, /captured length 50 exceeds original length 40/);
  const huge = cat(pcapHeader(true, false, 0x7fffffff), pcapRecord(true, 0, 0, new Uint8Array(0), 300000, 262145));
  throwsAt(() => parseCapture(huge), 24, /captured length 262145 exceeds the maximum 262144/);
  const v = pcapHeader(true, false);
  v[4] = 3;
  throwsAt(() => parseCapture(v), 0, /unsupported version 3\.4/);
});

test('malformed pcapng files: error names the block offset', () => {
  const le = true;
  const head = cat(shb(le), idb(le, 0)); /* EPB below starts at 48 */
  const ok = epb(le, 0, 1n, frame(60, 1)); /* 92 bytes */
  assert.equal(parseCapture(cat(head, ok)).packets.length, 1);

  const patched = (at: number, v: number): Uint8Array => {
    const b = cat(head, ok);
    new DataView(b.buffer).setUint32(at, v, true);
    return b;
  };
  throwsAt(() => parseCapture(patched(52, 90)), 48, /EPB at offset 48: block total length 90 is not a multiple of 4/);
  throwsAt(() => parseCapture(patched(52, 8)), 48, /EPB at offset 48: block total length 8 is less than 12/);
  throwsAt(() => parseCapture(patched(48 + 92 - 4, 96)), 48, /EPB at offset 48: trailing block length 96 does not match leading length 92/);
  throwsAt(() => parseCapture(patched(56, 3)), 48, /EPB at offset 48: interface id 3 is not defined \(1 interface in this section\)/);
  throwsAt(() => parseCapture(patched(68, 100)), 48, /EPB at offset 48: captured length 100 runs past the end of the block \(room for 60\)/);
  throwsAt(() => parseCapture(patched(72, 59)), 48, /EPB at offset 48: captured length 60 exceeds original length 59/);
  throwsAt(() => parseCapture(cat(head, ok).subarray(0, 48 + 80)), 48, /EPB at offset 48: block runs past end of file: length 92, 80 bytes left/);
  throwsAt(() => parseCapture(cat(head, ok, new Uint8Array(8))), 140, /truncated block at offset 140: 8 bytes left/);
  throwsAt(() => parseCapture(cat(head, ok).subarray(0, 20)), 0, /SHB at offset 0: block runs past end of file: length 28, 20 bytes left/);

  /* snaplen, SHB byte-order magic and version, options, SPB without IDB */
  throwsAt(() => parseCapture(cat(shb(le), idb(le, 32), ok)), 48, /captured length 60 exceeds snaplen 32 of interface 0/);
  const bom = cat(head, ok);
  bom[8] = 0x99;
  throwsAt(() => parseCapture(bom), 0, /SHB at offset 0: bad byte-order magic 0x993c2b1a \(expected 0x1a2b3c4d\)/);
  throwsAt(() => parseCapture(cat(shb(le, 2), idb(le))), 0, /SHB at offset 0: unsupported pcapng version 2\.0/);
  const badOpt = idb(le, 0, (b) => b.u16(9).u16(40).u32(0));
  throwsAt(() => parseCapture(cat(shb(le), badOpt)), 28, /IDB at offset 28: option 9 at offset 44 \(length 40\) runs past the end of the block/);
  throwsAt(() => parseCapture(cat(shb(le), idb(le, 0, (b) => b.opt(9, Uint8Array.of(9, 9)).end()))), 28, /if_tsresol option has length 2, expected 1/);
  const spb = block(le, 3, new Bytes(le).u32(4).u32(0).bytes);
  throwsAt(() => parseCapture(cat(shb(le), spb)), 28, /SPB at offset 28: interface id 0 is not defined \(0 interfaces in this section\)/);
  throwsAt(() => parseCapture(cat(shb(le), block(le, 6, new Uint8Array(8)))), 28, /EPB at offset 28: block total length 20 is too short for EPB \(minimum 32\)/);
});

test('readCapture reads a file and names it in errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xdpsim-pcap-'));
  try {
    const good = join(dir, 'good.pcapng');
    writeFileSync(good, writePcapng([{}], [{ ifIndex: 0, data: frame(60, 1), tsNs: TS }]));
    const f = await readCapture(good);
    assert.equal(f.packets[0]!.tsNs, TS);
    const bad = join(dir, 'bad.pcap');
    writeFileSync(bad, writePcap([{ data: frame(60, 1), tsNs: TS }]).subarray(0, 50));
    await assert.rejects(readCapture(bad), (e: unknown) => {
      assert.ok(e instanceof CaptureError);
      assert.equal(e.message, `${bad}: truncated packet record at offset 24: header says 60 bytes, 10 left`);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tshark reads the pcapng comments', (t) => {
  const probe = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) { t.skip('tshark not installed'); return; }
  /* frame.comment since Wireshark 3.6; pkt_comment before */
  const m = /TShark \(Wireshark\) (\d+)\.(\d+)/.exec(probe.stdout);
  const modern = !m || Number(m[1]) > 3 || (Number(m[1]) === 3 && Number(m[2]) >= 6);
  const dir = mkdtempSync(join(tmpdir(), 'xdpsim-pcap-'));
  try {
    const file = join(dir, 'c.pcapng');
    writeFileSync(file, writePcapng([{ name: 'eth0' }, { name: 'veth1' }], [
      { ifIndex: 0, data: frame(60, 1), tsNs: TS, comment: 'first packet' },
      { ifIndex: 1, data: frame(60, 2), tsNs: TS + 1n },
      { ifIndex: 1, data: frame(64, 3), tsNs: TS + 2n, comment: 'third, wörld' },
    ]));
    const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_id', '-e', 'frame.time_epoch',
      '-e', modern ? 'frame.comment' : 'pkt_comment'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => l.split('\t')), [
      ['0', '1700000000.123456789', 'first packet'],
      ['1', '1700000000.123456790', ''],
      ['1', '1700000000.123456791', 'third, wörld'],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
