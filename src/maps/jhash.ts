/*
 * Bob Jenkins' lookup3 hash, the function behind the kernel's jhash() and
 * jhash2() (include/linux/jhash.h), which htab_map_hash() uses with a
 * per-map random seed. Written from the published algorithm; the values
 * need not (and do not promise to) match the kernel's bit for bit, only
 * spread keys over buckets as well.
 * Pure functions on 32-bit integers: safe on every thread, no allocation.
 */

const JHASH_INITVAL = 0xdeadbeef | 0;

/*
 * The functions return the hash's low 30 bits, not 32: V8 keeps integers in
 * [-2^30, 2^30) unboxed ("Smi"), a larger one crossing a call is a heap
 * allocation, and these run once per map operation. Buckets are chosen by
 * the low bits (at most 2^27 buckets), and 30 bits of the hash filter key
 * comparisons as well as 32 do. Seeds must be 30-bit too.
 */
export const HASH_MASK = 0x3fffffff;

/*
 * The three state words live in an Int32Array, not in variables: an int32
 * kept in a module variable is boxed as a heap number on every store (V8's
 * small integers are 31 bits), and this runs once per map operation.
 */
const S = new Int32Array(3);

function rol(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function mix(): void {
  let a = S[0]!, b = S[1]!, c = S[2]!;
  a = (a - c) | 0; a ^= rol(c, 4); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol(a, 6); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol(b, 8); b = (b + a) | 0;
  a = (a - c) | 0; a ^= rol(c, 16); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol(a, 19); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol(b, 4); b = (b + a) | 0;
  S[0] = a; S[1] = b; S[2] = c;
}

/** __jhash_final(); returns c's low 30 bits (see HASH_MASK). */
function final(): number {
  let a = S[0]!, b = S[1]!, c = S[2]!;
  c ^= b; c = (c - rol(b, 14)) | 0;
  a ^= c; a = (a - rol(c, 11)) | 0;
  b ^= a; b = (b - rol(a, 25)) | 0;
  c ^= b; c = (c - rol(b, 16)) | 0;
  a ^= c; a = (a - rol(c, 4)) | 0;
  b ^= a; b = (b - rol(a, 14)) | 0;
  c ^= b; c = (c - rol(b, 24)) | 0;
  return c & HASH_MASK;
}

function init(v: number): void {
  S[0] = v; S[1] = v; S[2] = v;
}

function le32(k: Uint8Array, i: number): number {
  return k[i]! | (k[i + 1]! << 8) | (k[i + 2]! << 16) | (k[i + 3]! << 24);
}

/** jhash2 of one u32 word (a 4-byte key given as a number). */
export function jhashWord(w: number, seed: number): number {
  init((JHASH_INITVAL + 4 + seed) | 0);
  S[0] = (S[0]! + w) | 0;
  return final();
}

/** jhash2: `len` bytes (a multiple of 4) hashed as little-endian u32 words. */
export function jhashWords(k: Uint8Array, len: number, seed: number): number {
  let n = len >>> 2;
  init((JHASH_INITVAL + (n << 2) + seed) | 0);
  let i = 0;
  while (n > 3) {
    S[0] = (S[0]! + le32(k, i)) | 0;
    S[1] = (S[1]! + le32(k, i + 4)) | 0;
    S[2] = (S[2]! + le32(k, i + 8)) | 0;
    mix();
    n -= 3;
    i += 12;
  }
  if (n === 0) return S[2]! & HASH_MASK;
  if (n === 3) S[2] = (S[2]! + le32(k, i + 8)) | 0;
  if (n >= 2) S[1] = (S[1]! + le32(k, i + 4)) | 0;
  S[0] = (S[0]! + le32(k, i)) | 0;
  return final();
}

/** jhash: `len` arbitrary bytes. */
export function jhashBytes(k: Uint8Array, len: number, seed: number): number {
  init((JHASH_INITVAL + len + seed) | 0);
  let i = 0;
  while (len > 12) {
    S[0] = (S[0]! + le32(k, i)) | 0;
    S[1] = (S[1]! + le32(k, i + 4)) | 0;
    S[2] = (S[2]! + le32(k, i + 8)) | 0;
    mix();
    len -= 12;
    i += 12;
  }
  if (len === 0) return S[2]! & HASH_MASK;
  /* the last 1..12 bytes, each added at its little-endian position in a, b or c */
  for (let j = len - 1; j >= 0; j--) {
    const w = j >>> 2;
    S[w] = (S[w]! + (k[i + j]! << ((j & 3) << 3))) | 0;
  }
  return final();
}
