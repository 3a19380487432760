/*
 * Shared by the maps-*.test.ts suites: the errno assertion and the byte
 * encodings of keys and values. Not a test file itself (run-tests.mjs runs
 * *.test.ts only); maps-concurrent.test.ts also loads it in its workers.
 */
import assert from 'node:assert/strict';
import { XdpsimError } from '../src/shared/errno.ts';

/** Assert that fn throws an XdpsimError with `errno` and, if given, a message matching `re`. */
export function throwsErrno(fn: () => unknown, errno: number, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof XdpsimError, `not an XdpsimError: ${String(e)}`);
    assert.equal(e.errno, errno, `errno ${e.errno} (${e.message}), expected ${errno}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/** n as 4 bytes, little endian (a u32 key or value). */
export function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** n as 8 bytes, little endian (a u64 value). */
export function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

/** The u32 in the first 4 bytes of b, little endian. */
export function le32(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
}
