/*
 * Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h) and the
 * user-facing error type.
 *
 * Inside the model, functions return negative errno exactly as the kernel
 * does. At the API boundary a failure becomes an XdpsimError that looks like
 * one of Node's own system errors: `code` ('EEXIST'), `errno` (positive, as
 * in errno.h) and a message saying which argument was wrong.
 * Pure constants and functions: safe on every thread.
 */

export const EPERM = 1;
export const ENOENT = 2;
export const E2BIG = 7;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const ENOTSUPP = 524; /* kernel-internal, returned by some BPF helpers */
export const EOPNOTSUPP = 95;
export const ENXIO = 6;
export const ESRCH = 3;
export const ENETDOWN = 100;
export const EMSGSIZE = 90;
export const EOVERFLOW = 75;
export const ENOBUFS = 105;
export const ELOOP = 40;
export const EBADRQC = 56;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const ENAMETOOLONG = 36;
export const EPROTO = 71;
export const ENOTSOCK = 88;
export const EADDRINUSE = 98;
export const ECONNRESET = 104;
export const ETIMEDOUT = 110;
export const ECONNREFUSED = 111;

const NAMES: Record<number, string> = {
  [EPERM]: 'EPERM', [ENOENT]: 'ENOENT', [E2BIG]: 'E2BIG', [EBADF]: 'EBADF',
  [EAGAIN]: 'EAGAIN', [ENOMEM]: 'ENOMEM', [EACCES]: 'EACCES', [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY', [EEXIST]: 'EEXIST', [ENODEV]: 'ENODEV', [EINVAL]: 'EINVAL',
  [ENOSPC]: 'ENOSPC', [ERANGE]: 'ERANGE', [ENOTSUPP]: 'ENOTSUPP',
  [EOPNOTSUPP]: 'EOPNOTSUPP', [ENXIO]: 'ENXIO', [ENETDOWN]: 'ENETDOWN',
  [EMSGSIZE]: 'EMSGSIZE', [EOVERFLOW]: 'EOVERFLOW', [ENOBUFS]: 'ENOBUFS',
  [ELOOP]: 'ELOOP', [ESRCH]: 'ESRCH', [EBADRQC]: 'EBADRQC',
  [ENOTDIR]: 'ENOTDIR', [EISDIR]: 'EISDIR', [ENAMETOOLONG]: 'ENAMETOOLONG', [EPROTO]: 'EPROTO',
  [ENOTSOCK]: 'ENOTSOCK', [EADDRINUSE]: 'EADDRINUSE', [ECONNRESET]: 'ECONNRESET',
  [ETIMEDOUT]: 'ETIMEDOUT', [ECONNREFUSED]: 'ECONNREFUSED',
};

/** 'EINVAL' for 22 or -22; 'E<n>' for numbers we do not name. */
export function errnoName(err: number): string {
  const e = err < 0 ? -err : err;
  return NAMES[e] ?? `E${e}`;
}

export class XdpsimError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(errno: number, message: string) {
    const e = errno < 0 ? -errno : errno;
    super(`${errnoName(e)}: ${message}`);
    this.name = 'XdpsimError';
    this.code = errnoName(e);
    this.errno = e;
  }
}

/** Throw an XdpsimError if `ret` is a negative errno; otherwise return it. */
export function check(ret: number, what: string): number {
  if (ret < 0) throw new XdpsimError(ret, what);
  return ret;
}
