/*
 * UMEM: the packet buffer area registered with setsockopt(XDP_UMEM_REG)
 * (net/xdp/xdp_umem.c xdp_umem_reg(), net/xdp/xsk_buff_pool.c,
 * net/xdp/xsk_queue.h xp_aligned_validate_desc()).
 *
 * The memory is a SharedArrayBuffer (`buffer`, viewed by `bytes` from
 * `byteOffset`, the registered "addr"): any thread can write or read frames.
 * A UMEM address is a byte offset into `bytes`. Only aligned chunk mode:
 * chunk k is bytes [k*chunkSize, (k+1)*chunkSize).
 *
 * Concurrency contract: the Umem object's fields are immutable after
 * registration and safe to use from any thread (Umem.attach(umem.shared)
 * rebuilds a view in a worker). Frame contents have no synchronization of
 * their own: ownership of a chunk passes with the ring entries that carry its
 * address (fill -> kernel -> RX -> user; TX -> kernel -> completion -> user),
 * and the ring's producer store / consumer load order the frame bytes, as the
 * kernel relies on the rings' barriers.
 *
 * xdp_umem_reg() rules, in the kernel's order (all -EINVAL unless noted):
 *   1. chunk_size < XDP_UMEM_MIN_CHUNK_SIZE (2048) or > PAGE_SIZE (4096)
 *   2. flags has bits outside XDP_UMEM_FLAGS_VALID (UNALIGNED_CHUNK |
 *      TX_SW_CSUM | TX_METADATA_LEN)
 *   2a. xdpsim: XDP_UMEM_UNALIGNED_CHUNK_FLAG -> EOPNOTSUPP (the kernel
 *      supports unaligned chunks; this model does not)
 *   3. aligned mode and chunk_size not a power of two
 *   4. addr (byteOffset) not PAGE_SIZE aligned
 *   5. addr + len overflows u64 (cannot happen with JS safe integers)
 *   6. number of pages > U32_MAX (cannot happen: SharedArrayBuffer size)
 *   7. len / chunk_size == 0 chunks (len < chunk_size)
 *   8. aligned mode and len not a multiple of chunk_size
 *   9. headroom >= chunk_size - XDP_PACKET_HEADROOM
 *   10. XDP_UMEM_TX_METADATA_LEN set and tx_metadata_len >= 256 or not a
 *       multiple of 8
 * then memlock accounting (ENOBUFS, not modelled) and page pinning: here a
 * caller-supplied buffer shorter than addr + len is EFAULT (pin_user_pages on
 * unmapped memory), a failed allocation ENOMEM. xdpsim also rejects values
 * that are not integers in their C type's range (u64 len, u32 others) with
 * EINVAL: the C struct cannot hold them.
 */

import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP, XdpsimError } from '../shared/errno.ts';
import { XDP_PACKET_HEADROOM } from '../shared/uapi.ts';

export const PAGE_SIZE = 4096;
export const XDP_UMEM_MIN_CHUNK_SIZE = 2048;
/** libxdp xsk.h defaults */
export const XSK_UMEM__DEFAULT_FRAME_SIZE = 4096;
export const XSK_UMEM__DEFAULT_FRAME_HEADROOM = 0;

/** include/uapi/linux/if_xdp.h: xdp_umem_reg.flags */
export const XDP_UMEM_UNALIGNED_CHUNK_FLAG = 1 << 0;
export const XDP_UMEM_TX_SW_CSUM = 1 << 1;
export const XDP_UMEM_TX_METADATA_LEN = 1 << 2;
const XDP_UMEM_FLAGS_VALID = XDP_UMEM_UNALIGNED_CHUNK_FLAG | XDP_UMEM_TX_SW_CSUM | XDP_UMEM_TX_METADATA_LEN;

/** include/uapi/linux/if_xdp.h: xdp_desc.options */
export const XDP_PKT_CONTD = 1 << 0;
export const XDP_TX_METADATA = 1 << 1;
const XDP_DESC_OPTIONS_VALID = XDP_PKT_CONTD | XDP_TX_METADATA;

export interface UmemOptions {
  /** len: bytes of the area. */
  size: number;
  /** chunk_size; default XSK_UMEM__DEFAULT_FRAME_SIZE (4096). */
  chunkSize?: number;
  /** headroom; default 0. */
  headroom?: number;
  /** XDP_UMEM_* flags; default 0. */
  flags?: number;
  /** tx_metadata_len, used only with XDP_UMEM_TX_METADATA_LEN; default 0. */
  txMetadataLen?: number;
  /** Register existing memory instead of allocating; default a new SharedArrayBuffer. */
  buffer?: SharedArrayBuffer;
  /** addr: where the area starts in `buffer`; must be page aligned; default 0. */
  byteOffset?: number;
}

/** Plain, structured-clonable description of a registered UMEM (postMessage / workerData). */
export interface UmemShared {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  size: number;
  chunkSize: number;
  headroom: number;
  flags: number;
  txMetadataLen: number;
}

const U32_MAX = 0xffffffff;

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= U32_MAX;
}

function fail(errno: number, msg: string): never {
  throw new XdpsimError(errno, `XDP_UMEM_REG: ${msg}`);
}

/**
 * xdp_umem_reg()'s checks: throws XdpsimError (code/errno) naming the field.
 * Returns the number of chunks.
 */
export function checkUmemReg(o: UmemOptions): number {
  const size = o.size;
  const chunkSize = o.chunkSize ?? XSK_UMEM__DEFAULT_FRAME_SIZE;
  const headroom = o.headroom ?? XSK_UMEM__DEFAULT_FRAME_HEADROOM;
  const flags = o.flags ?? 0;
  const addr = o.byteOffset ?? 0;
  const txMetadataLen = o.txMetadataLen ?? 0;
  if (!isU32(chunkSize)) fail(EINVAL, `chunk_size ${chunkSize} is not a u32`);
  if (!isU32(headroom)) fail(EINVAL, `headroom ${headroom} is not a u32`);
  if (!isU32(flags)) fail(EINVAL, `flags ${flags} is not a u32`);
  if (!isU32(txMetadataLen)) fail(EINVAL, `tx_metadata_len ${txMetadataLen} is not a u32`);
  if (!Number.isSafeInteger(size) || size < 0) fail(EINVAL, `len (size) ${size} is not a u64`);
  if (!Number.isSafeInteger(addr) || addr < 0) fail(EINVAL, `addr (byteOffset) ${addr} is not a u64`);

  if (chunkSize < XDP_UMEM_MIN_CHUNK_SIZE || chunkSize > PAGE_SIZE) {
    fail(EINVAL, `chunk_size ${chunkSize} must be in ${XDP_UMEM_MIN_CHUNK_SIZE}..${PAGE_SIZE} (XDP_UMEM_MIN_CHUNK_SIZE..PAGE_SIZE)`);
  }
  if ((flags & ~XDP_UMEM_FLAGS_VALID) !== 0) {
    fail(EINVAL, `flags 0x${flags.toString(16)} has bits outside UNALIGNED_CHUNK_FLAG|TX_SW_CSUM|TX_METADATA_LEN (0x${XDP_UMEM_FLAGS_VALID.toString(16)})`);
  }
  if (flags & XDP_UMEM_UNALIGNED_CHUNK_FLAG) {
    fail(EOPNOTSUPP, 'flags: XDP_UMEM_UNALIGNED_CHUNK_FLAG (unaligned chunk mode) is not supported by xdpsim');
  }
  if ((chunkSize & (chunkSize - 1)) !== 0) {
    fail(EINVAL, `chunk_size ${chunkSize} must be a power of two in aligned chunk mode`);
  }
  if (addr % PAGE_SIZE !== 0) fail(EINVAL, `addr (byteOffset) ${addr} must be PAGE_SIZE (${PAGE_SIZE}) aligned`);
  const chunks = Math.floor(size / chunkSize);
  if (chunks === 0) fail(EINVAL, `len (size) ${size} holds no chunk of chunk_size ${chunkSize}`);
  if (size % chunkSize !== 0) fail(EINVAL, `len (size) ${size} must be a multiple of chunk_size ${chunkSize} in aligned chunk mode`);
  if (headroom >= chunkSize - XDP_PACKET_HEADROOM) {
    fail(EINVAL, `headroom ${headroom} must be below chunk_size - XDP_PACKET_HEADROOM (${chunkSize - XDP_PACKET_HEADROOM})`);
  }
  if (flags & XDP_UMEM_TX_METADATA_LEN) {
    if (txMetadataLen >= 256 || txMetadataLen % 8 !== 0) {
      fail(EINVAL, `tx_metadata_len ${txMetadataLen} must be below 256 and a multiple of 8`);
    }
  }
  if (o.buffer !== undefined && addr + size > o.buffer.byteLength) {
    fail(EFAULT, `addr (byteOffset) ${addr} + len (size) ${size} is beyond the buffer's ${o.buffer.byteLength} bytes`);
  }
  return chunks;
}

export class Umem {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  /** The area: UMEM address a is bytes[a]. */
  readonly bytes: Uint8Array;
  readonly size: number;
  readonly chunkSize: number;
  readonly headroom: number;
  readonly flags: number;
  /** 0 unless XDP_UMEM_TX_METADATA_LEN was given. */
  readonly txMetadataLen: number;
  readonly txSwCsum: boolean;
  readonly chunks: number;
  /** Pages the area spans (umem->npgs). */
  readonly npgs: number;
  /** pool->frame_len: chunk_size - headroom - XDP_PACKET_HEADROOM. */
  readonly frameLen: number;

  /** XDP_UMEM_REG: validate (XdpsimError with the kernel's errno) and allocate. */
  constructor(o: UmemOptions) {
    this.chunks = checkUmemReg(o);
    this.size = o.size;
    this.chunkSize = o.chunkSize ?? XSK_UMEM__DEFAULT_FRAME_SIZE;
    this.headroom = o.headroom ?? XSK_UMEM__DEFAULT_FRAME_HEADROOM;
    this.flags = o.flags ?? 0;
    this.txMetadataLen = this.flags & XDP_UMEM_TX_METADATA_LEN ? (o.txMetadataLen ?? 0) : 0;
    this.txSwCsum = (this.flags & XDP_UMEM_TX_SW_CSUM) !== 0;
    this.byteOffset = o.byteOffset ?? 0;
    if (o.buffer !== undefined) {
      this.buffer = o.buffer;
    } else {
      try {
        this.buffer = new SharedArrayBuffer(this.byteOffset + this.size);
      } catch (e) {
        throw new XdpsimError(ENOMEM, `XDP_UMEM_REG: cannot allocate len (size) ${this.size}: ${(e as Error).message}`);
      }
    }
    this.bytes = new Uint8Array(this.buffer, this.byteOffset, this.size);
    this.npgs = Math.ceil(this.size / PAGE_SIZE);
    this.frameLen = this.chunkSize - this.headroom - XDP_PACKET_HEADROOM;
  }

  /** A view over a UMEM registered on another thread (no re-validation errors expected). */
  static attach(s: UmemShared): Umem {
    return new Umem({
      size: s.size, chunkSize: s.chunkSize, headroom: s.headroom, flags: s.flags,
      txMetadataLen: s.txMetadataLen, buffer: s.buffer, byteOffset: s.byteOffset,
    });
  }

  /** Structured-clonable description for Umem.attach on another thread. */
  get shared(): UmemShared {
    return {
      buffer: this.buffer, byteOffset: this.byteOffset, size: this.size, chunkSize: this.chunkSize,
      headroom: this.headroom, flags: this.flags, txMetadataLen: this.txMetadataLen,
    };
  }

  /** xp_aligned_extract_addr: the chunk's base address (addr & chunk_mask). */
  chunkOf(addr: number): number {
    return addr - (addr % this.chunkSize);
  }
  /** Chunk number of an address. */
  chunkIndex(addr: number): number {
    return Math.floor(addr / this.chunkSize);
  }
  /** Bytes of packet data an RX frame can hold: chunk_size - headroom - XDP_PACKET_HEADROOM. */
  rxFrameSize(): number {
    return this.frameLen;
  }
  /**
   * Where the kernel puts a received packet in the chunk of a fill address:
   * chunk base + headroom + XDP_PACKET_HEADROOM (the RX descriptor's addr in
   * aligned mode).
   */
  rxDataAddr(fillAddr: number): number {
    return this.chunkOf(fillAddr) + this.headroom + XDP_PACKET_HEADROOM;
  }
  /**
   * xp_check_aligned on an address taken from the fill ring: the chunk base
   * if the chunk is inside the UMEM, else -1 (the caller counts the fill
   * ring's invalid_descs and skips the entry).
   */
  fillAddr(addr: number): number {
    const base = this.chunkOf(addr);
    return base < this.size ? base : -1;
  }
  /**
   * xp_aligned_validate_desc (TX ring descriptor, aligned mode), as of Linux
   * 6.18 with its tx_metadata_len overflow fix:
   *   len == 0                                  invalid
   *   addr < tx_metadata_len                    invalid (would underflow)
   *   a = addr - tx_metadata_len
   *   (a % chunk_size) + len + tx_metadata_len > chunk_size   invalid (crosses the chunk end)
   *   a >= umem size                            invalid
   *   options bits other than XDP_PKT_CONTD | XDP_TX_METADATA   invalid
   * The headroom is not checked on TX: a frame may start anywhere in its chunk.
   * XDP_PKT_CONTD is valid here; whether the socket allows multi-buffer
   * (XDP_USE_SG) is the transmit path's check.
   */
  validTxDesc(addr: number, len: number, options: number): boolean {
    if (len === 0) return false;
    const md = this.txMetadataLen;
    if (addr < md) return false;
    const a = addr - md;
    if ((a % this.chunkSize) + len + md > this.chunkSize) return false;
    if (a >= this.size) return false;
    if (((options >>> 0) & ~XDP_DESC_OPTIONS_VALID) !== 0) return false;
    return true;
  }
  /** View of len bytes at UMEM address addr (no checks beyond the typed array's). */
  frame(addr: number, len: number): Uint8Array {
    return this.bytes.subarray(addr, addr + len);
  }
}
