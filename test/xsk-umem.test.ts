import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdpsimError } from '../src/shared/errno.ts';
import {
  PAGE_SIZE, Umem, XDP_PKT_CONTD, XDP_TX_METADATA, XDP_UMEM_MIN_CHUNK_SIZE, XDP_UMEM_TX_METADATA_LEN,
  XDP_UMEM_TX_SW_CSUM, XDP_UMEM_UNALIGNED_CHUNK_FLAG, XSK_UMEM__DEFAULT_FRAME_SIZE, checkUmemReg, type UmemOptions,
} from '../src/xsk/umem.ts';

function rejects(o: UmemOptions, code: string, errno: number, field: RegExp): void {
  assert.throws(() => new Umem(o), (e: unknown) => {
    assert.ok(e instanceof XdpsimError, String(e));
    assert.equal(e.code, code);
    assert.equal(e.errno, errno);
    assert.match(e.message, new RegExp(`^${code}: XDP_UMEM_REG: `));
    assert.match(e.message, field);
    return true;
  }, JSON.stringify({ ...o, buffer: o.buffer ? o.buffer.byteLength : undefined }));
}

test('constants', () => {
  assert.equal(PAGE_SIZE, 4096);
  assert.equal(XDP_UMEM_MIN_CHUNK_SIZE, 2048);
  assert.equal(XSK_UMEM__DEFAULT_FRAME_SIZE, 4096);
  assert.equal(XDP_UMEM_UNALIGNED_CHUNK_FLAG, 1);
  assert.equal(XDP_UMEM_TX_SW_CSUM, 2);
  assert.equal(XDP_UMEM_TX_METADATA_LEN, 4);
  assert.equal(XDP_PKT_CONTD, 1);
  assert.equal(XDP_TX_METADATA, 2);
});

test('defaults: 4096-byte chunks, no headroom, shared memory', () => {
  const u = new Umem({ size: 16 * 4096 });
  assert.equal(u.chunkSize, 4096);
  assert.equal(u.headroom, 0);
  assert.equal(u.flags, 0);
  assert.equal(u.txMetadataLen, 0);
  assert.equal(u.txSwCsum, false);
  assert.equal(u.chunks, 16);
  assert.equal(u.npgs, 16);
  assert.equal(u.frameLen, 3840);
  assert.equal(u.rxFrameSize(), 3840);
  assert.ok(u.buffer instanceof SharedArrayBuffer);
  assert.equal(u.bytes.length, 65536);
  assert.equal(u.byteOffset, 0);
  const small = new Umem({ size: 3 * 2048, chunkSize: 2048, headroom: 64 });
  assert.equal(small.chunks, 3);
  assert.equal(small.npgs, 2);
  assert.equal(small.rxFrameSize(), 2048 - 64 - 256);
});

test('XDP_UMEM_REG rule 1: chunk_size in XDP_UMEM_MIN_CHUNK_SIZE..PAGE_SIZE', () => {
  rejects({ size: 65536, chunkSize: 2047 }, 'EINVAL', 22, /chunk_size 2047/);
  rejects({ size: 65536, chunkSize: 1024 }, 'EINVAL', 22, /chunk_size 1024/);
  rejects({ size: 65536, chunkSize: 4097 }, 'EINVAL', 22, /chunk_size 4097/);
  rejects({ size: 65536, chunkSize: 8192 }, 'EINVAL', 22, /chunk_size 8192/);
  rejects({ size: 65536, chunkSize: 0 }, 'EINVAL', 22, /chunk_size 0/);
  assert.equal(new Umem({ size: 65536, chunkSize: 2048 }).chunks, 32);
  assert.equal(new Umem({ size: 65536, chunkSize: 4096 }).chunks, 16);
  // checked before the flags: a bad chunk_size wins over bad flags
  rejects({ size: 65536, chunkSize: 1024, flags: 8 }, 'EINVAL', 22, /chunk_size/);
});

test('XDP_UMEM_REG rule 2: unknown flag bits; unaligned mode is EOPNOTSUPP in xdpsim', () => {
  rejects({ size: 65536, flags: 8 }, 'EINVAL', 22, /flags 0x8/);
  rejects({ size: 65536, flags: 0x80000000 }, 'EINVAL', 22, /flags 0x80000000/);
  rejects({ size: 65536, flags: XDP_UMEM_UNALIGNED_CHUNK_FLAG | 8 }, 'EINVAL', 22, /flags 0x9/);
  rejects({ size: 65536, flags: XDP_UMEM_UNALIGNED_CHUNK_FLAG }, 'EOPNOTSUPP', 95, /XDP_UMEM_UNALIGNED_CHUNK_FLAG.*not supported/);
  // unaligned + a non-power-of-two chunk: the kernel would accept it; we say EOPNOTSUPP, not EINVAL
  rejects({ size: 30000, chunkSize: 3000, flags: XDP_UMEM_UNALIGNED_CHUNK_FLAG }, 'EOPNOTSUPP', 95, /unaligned/);
  const sw = new Umem({ size: 65536, flags: XDP_UMEM_TX_SW_CSUM });
  assert.equal(sw.txSwCsum, true);
  assert.equal(sw.flags, 2);
});

test('XDP_UMEM_REG rule 3: aligned chunk_size must be a power of two', () => {
  rejects({ size: 3072 * 4, chunkSize: 3072 }, 'EINVAL', 22, /chunk_size 3072 must be a power of two/);
  rejects({ size: 65536, chunkSize: 2049 }, 'EINVAL', 22, /chunk_size 2049.*power of two/);
});

test('XDP_UMEM_REG rule 4: addr page aligned; pinning beyond the memory is EFAULT', () => {
  const buf = new SharedArrayBuffer(5 * 4096);
  rejects({ size: 4096, buffer: buf, byteOffset: 100 }, 'EINVAL', 22, /addr \(byteOffset\) 100 must be PAGE_SIZE/);
  rejects({ size: 4096, buffer: buf, byteOffset: 2048 }, 'EINVAL', 22, /addr/);
  rejects({ size: 2 * 4096, buffer: buf, byteOffset: 4 * 4096 }, 'EFAULT', 14, /beyond the buffer/);
  const u = new Umem({ size: 4 * 4096, buffer: buf, byteOffset: 4096 });
  assert.equal(u.buffer, buf);
  u.bytes[0] = 0xab;
  assert.equal(new Uint8Array(buf)[4096], 0xab);
});

test('XDP_UMEM_REG rules 7-8: at least one chunk, len a multiple of chunk_size', () => {
  rejects({ size: 0 }, 'EINVAL', 22, /len \(size\) 0 holds no chunk/);
  rejects({ size: 2048 }, 'EINVAL', 22, /len \(size\) 2048 holds no chunk of chunk_size 4096/);
  rejects({ size: 3 * 4096 + 2048 }, 'EINVAL', 22, /len \(size\) 14336 must be a multiple of chunk_size 4096/);
  rejects({ size: 2048 * 5 + 1, chunkSize: 2048 }, 'EINVAL', 22, /multiple/);
  assert.equal(new Umem({ size: 2048, chunkSize: 2048 }).chunks, 1);
  assert.equal(new Umem({ size: 3 * 2048, chunkSize: 2048 }).chunks, 3, 'a size that is not whole pages is fine');
});

test('XDP_UMEM_REG rule 9: headroom < chunk_size - XDP_PACKET_HEADROOM', () => {
  assert.equal(new Umem({ size: 65536, chunkSize: 2048, headroom: 1791 }).rxFrameSize(), 1);
  rejects({ size: 65536, chunkSize: 2048, headroom: 1792 }, 'EINVAL', 22, /headroom 1792 must be below chunk_size - XDP_PACKET_HEADROOM \(1792\)/);
  assert.equal(new Umem({ size: 65536, headroom: 3839 }).rxFrameSize(), 1);
  rejects({ size: 65536, headroom: 3840 }, 'EINVAL', 22, /headroom 3840/);
  rejects({ size: 65536, headroom: 0xffffffff }, 'EINVAL', 22, /headroom/);
});

test('XDP_UMEM_REG rule 10: tx_metadata_len with XDP_UMEM_TX_METADATA_LEN', () => {
  rejects({ size: 65536, flags: XDP_UMEM_TX_METADATA_LEN, txMetadataLen: 256 }, 'EINVAL', 22, /tx_metadata_len 256/);
  rejects({ size: 65536, flags: XDP_UMEM_TX_METADATA_LEN, txMetadataLen: 12 }, 'EINVAL', 22, /tx_metadata_len 12/);
  assert.equal(new Umem({ size: 65536, flags: XDP_UMEM_TX_METADATA_LEN, txMetadataLen: 248 }).txMetadataLen, 248);
  assert.equal(new Umem({ size: 65536, flags: XDP_UMEM_TX_METADATA_LEN, txMetadataLen: 0 }).txMetadataLen, 0);
  assert.equal(new Umem({ size: 65536, txMetadataLen: 12 }).txMetadataLen, 0, 'ignored without the flag');
});

test('values a C field cannot hold are EINVAL', () => {
  rejects({ size: 1.5 }, 'EINVAL', 22, /len \(size\) 1.5/);
  rejects({ size: -4096 }, 'EINVAL', 22, /len/);
  rejects({ size: 65536, headroom: -1 }, 'EINVAL', 22, /headroom -1/);
  rejects({ size: 65536, chunkSize: 2 ** 32 }, 'EINVAL', 22, /chunk_size/);
  rejects({ size: 65536, flags: -1 }, 'EINVAL', 22, /flags/);
  assert.equal(checkUmemReg({ size: 65536 }), 16);
});

test('chunk math', () => {
  const u = new Umem({ size: 8 * 2048, chunkSize: 2048, headroom: 64 });
  assert.equal(u.chunkOf(0), 0);
  assert.equal(u.chunkOf(2047), 0);
  assert.equal(u.chunkOf(2048), 2048);
  assert.equal(u.chunkOf(5000), 4096);
  assert.equal(u.chunkOf(2 ** 40 + 5), 2 ** 40, 'beyond 32 bits');
  assert.equal(u.chunkIndex(5000), 2);
  assert.equal(u.chunkIndex(2 ** 40 + 2049), 2 ** 29 + 1);
  assert.equal(u.rxDataAddr(4096 + 100), 4096 + 64 + 256);
  assert.equal(u.fillAddr(4096 + 100), 4096);
  assert.equal(u.fillAddr(8 * 2048 - 1), 7 * 2048);
  assert.equal(u.fillAddr(8 * 2048), -1);
  assert.equal(u.fillAddr(2 ** 50), -1);
  assert.equal(u.frame(2048, 10).length, 10);
  u.frame(2048, 2)[1] = 7;
  assert.equal(u.bytes[2049], 7);
});

test('TX descriptor validation (xp_aligned_validate_desc)', () => {
  const u = new Umem({ size: 4 * 2048, chunkSize: 2048, headroom: 512 });
  const ok = (a: number, l: number, o = 0): boolean => u.validTxDesc(a, l, o);
  assert.equal(ok(0, 2048), true, 'len == chunk_size is legal; headroom does not apply on TX');
  assert.equal(ok(0, 2049), false);
  assert.equal(ok(1, 2047), true);
  assert.equal(ok(1, 2048), false, 'crosses into the next chunk');
  assert.equal(ok(2047, 1), true);
  assert.equal(ok(2047, 2), false);
  assert.equal(ok(0, 0), false, 'zero length');
  assert.equal(ok(4096, 0), false);
  assert.equal(ok(8191, 1), true, 'last byte');
  assert.equal(ok(8192, 1), false, 'addr >= umem size');
  assert.equal(ok(2 ** 40, 60), false);
  assert.equal(ok(2 ** 53 - 1, 1), false);
  assert.equal(ok(0, 0xffffffff), false);
  assert.equal(ok(0, 60, XDP_PKT_CONTD), true);
  assert.equal(ok(0, 60, XDP_TX_METADATA), true);
  assert.equal(ok(0, 60, XDP_PKT_CONTD | XDP_TX_METADATA), true);
  assert.equal(ok(0, 60, 4), false, 'unknown option bit');
  assert.equal(ok(0, 60, 0x80000000), false);
  assert.equal(ok(0, 60, 0xffffffff), false);
  assert.equal(ok(0, 60, -1), false, 'options taken as u32');

  const m = new Umem({ size: 4 * 2048, chunkSize: 2048, flags: XDP_UMEM_TX_METADATA_LEN, txMetadataLen: 16 });
  assert.equal(m.validTxDesc(16, 2032, XDP_TX_METADATA), true, 'metadata + data fill the chunk');
  assert.equal(m.validTxDesc(16, 2033, 0), false);
  assert.equal(m.validTxDesc(8, 10, 0), false, 'addr < tx_metadata_len would underflow');
  assert.equal(m.validTxDesc(0, 1, 0), false);
  assert.equal(m.validTxDesc(2048 + 16, 1, 0), true);
  assert.equal(m.validTxDesc(2048, 1, 0), false, 'metadata would sit in the previous chunk');
  assert.equal(m.validTxDesc(8192 + 16, 1, 0), false, 'metadata start beyond the UMEM');
  assert.equal(m.validTxDesc(8191, 1, 0), true, 'metadata and data both in the last chunk');
  assert.equal(m.validTxDesc(8190, 2, 0), true);
  assert.equal(m.validTxDesc(8190, 3, 0), false, 'metadata + data cross the chunk end');
});

test('shared / attach: another view (as a worker would get it) over the same memory', () => {
  const u = new Umem({ size: 4 * 4096, headroom: 128, flags: XDP_UMEM_TX_METADATA_LEN | XDP_UMEM_TX_SW_CSUM, txMetadataLen: 24 });
  const s = structuredClone(u.shared);
  assert.deepEqual({ ...s, buffer: undefined }, {
    buffer: undefined, byteOffset: 0, size: 16384, chunkSize: 4096, headroom: 128, flags: 6, txMetadataLen: 24,
  });
  const v = Umem.attach(s);
  assert.equal(v.buffer, s.buffer);
  assert.equal(v.chunks, 4);
  assert.equal(v.txMetadataLen, 24);
  assert.equal(v.txSwCsum, true);
  assert.equal(v.rxFrameSize(), u.rxFrameSize());
  u.bytes[4096 + 300] = 42;
  assert.equal(v.bytes[4096 + 300], 42);
});
