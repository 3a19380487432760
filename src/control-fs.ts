/*
 * The control socket's files: where the socket is bound, what may be
 * removed to bind it, and where a capture request may write.
 *
 * The socket. connect() on a Unix socket needs write permission on the
 * socket file and search permission on every directory above it, so a
 * socket made inside a directory only its owner can enter is nobody
 * else's, whatever the umask. The socket is always bound inside a fresh
 * mkdtemp() directory (mode 0700) and set to 0600 there; the default path
 * stays in that directory, a --socket PATH gets it by link() (atomic, and
 * it fails rather than replace anything that appeared at PATH meanwhile),
 * after which the private name and directory go. Between bind() and
 * chmod() no other user can reach it.
 *
 * What is at PATH before that: nothing; a stale socket (ours, connect
 * refused: the xdpsim that made it is gone), which is removed; anything
 * else (a live socket, a regular file, a directory, a symlink, another
 * user's socket) is an error that says what it is, and is left alone.
 * close() removes PATH only while it is still the socket this server made
 * (same device and inode). Node's close() of a listening pipe unlinks the
 * path it was bound at; that is the private name, never PATH.
 *
 * The peer's uid: Linux has SO_PEERCRED, Node has no API for it (no
 * getsockopt on a net.Socket, and the uid is not in /proc/net/unix); it
 * would take a native addon. The directory and the 0600 mode above are what
 * keep other users out: the kernel checks them at connect().
 *
 * Capture files (xdpsim dump --socket): with a capture directory given at
 * start, a capture writes only below it (a relative name is taken in it;
 * ".." or a symlinked directory that leads out is refused); without one,
 * any absolute path the server's user could write. Either way never
 * through a symlink (O_NOFOLLOW, O_EXCL), never an existing file unless the
 * request says overwrite and the server allows it (then only a regular
 * file of the server's user), and created with mode 0600.
 */
import { closeSync, constants as fsc, fstatSync, linkSync, lstatSync, mkdtempSync, openSync, realpathSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { connect } from 'node:net';
import { constants as osc, tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import {
  EACCES, EADDRINUSE, ECONNREFUSED, ECONNRESET, EEXIST, EINVAL, EISDIR, ELOOP, ENAMETOOLONG, ENOENT, ENOSPC, ENOTDIR, ENOTSOCK, EPERM, EPROTO, ETIMEDOUT, XdpsimError,
} from './shared/errno.ts';

/* the codes named in errno.ts by their Linux numbers, whatever the platform's */
const KNOWN: Record<string, number> = {
  EPERM, ENOENT, EACCES, EEXIST, ENOTDIR, EISDIR, ELOOP, ENAMETOOLONG, EADDRINUSE, ECONNREFUSED, ECONNRESET, ETIMEDOUT, ENOSPC, EINVAL, EPROTO, ENOTSOCK,
};

/** An errno number for a Node error code ('ENOENT' -> 2); EINVAL if unknown. */
export function errnoOf(e: unknown): number {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string') return EINVAL;
  return KNOWN[code] ?? (osc.errno as Record<string, number>)[code] ?? EINVAL;
}

/** The longest path a Unix socket can be bound or connected at (sun_path less its NUL); libuv truncates a longer one silently. */
export const SUN_PATH_MAX = 107;

/** Throw ENAMETOOLONG for a socket path that does not fit. */
export function checkSocketPathLength(path: string): void {
  const n = Buffer.byteLength(path);
  if (n > SUN_PATH_MAX) throw new XdpsimError(ENAMETOOLONG, `${path}: ${n} bytes, longer than the ${SUN_PATH_MAX} a Unix socket path may have`);
}

/** What a file is, for messages: 'a regular file', 'a directory', ... */
export function fileKind(st: Stats): string {
  if (st.isSocket()) return 'a socket';
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a socket';
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return null;
    throw new XdpsimError(errnoOf(e), `${path}: ${(e as { code?: string }).code ?? (e as Error).message}`);
  }
}

/* does something accept connections at `path`? 'refused' for a stale socket */
function probe(path: string, timeoutMs: number): Promise<'live' | 'refused' | string> {
  return new Promise((res) => {
    const s = connect(path);
    const t = setTimeout(() => { s.destroy(); res('ETIMEDOUT'); }, timeoutMs);
    s.once('connect', () => { clearTimeout(t); s.destroy(); res('live'); });
    s.once('error', (e: NodeJS.ErrnoException) => { clearTimeout(t); res(e.code === 'ECONNREFUSED' ? 'refused' : e.code ?? 'error'); });
  });
}

/**
 * Make PATH free for binding: nothing there, or a stale socket of ours
 * (removed, and said so through `note`). Anything else throws, untouched.
 */
export async function clearStaleSocket(path: string, note: (line: string) => void): Promise<void> {
  const st = lstatOrNull(path);
  if (st === null) return;
  if (st.isSymbolicLink()) throw new XdpsimError(EEXIST, `${path} is a symbolic link, not a socket: not removing it`);
  if (st.isDirectory()) throw new XdpsimError(EISDIR, `${path} is a directory, not a socket: not removing it`);
  if (!st.isSocket()) throw new XdpsimError(EEXIST, `${path} is ${fileKind(st)}, not a socket: not removing it`);
  if (st.uid !== process.geteuid?.()) throw new XdpsimError(EACCES, `${path} is a socket of uid ${st.uid}, not ours: not removing it`);
  const r = await probe(path, 2000);
  if (r === 'live') throw new XdpsimError(EADDRINUSE, `another process is listening at ${path}`);
  if (r !== 'refused') throw new XdpsimError(EADDRINUSE, `${path}: a socket that neither accepts nor refuses a connection (${r}): not removing it`);
  /* the same socket still (not one that another xdpsim just bound there) */
  const again = lstatOrNull(path);
  if (again === null) return;
  if (again.ino !== st.ino || again.dev !== st.dev) throw new XdpsimError(EADDRINUSE, `${path} changed while it was checked: not removing it`);
  unlinkSync(path);
  note(`removed a stale control socket at ${path} (connect refused: the process that made it is gone)`);
}

/** A private directory (mode 0700) in `parent`, for binding. */
export function privateDir(parent: string, prefix = '.xdpsim-'): string {
  let d: string;
  try {
    d = mkdtempSync(join(parent, `${prefix}${process.pid}-`));
  } catch (e) {
    throw new XdpsimError(errnoOf(e), `cannot create a directory in ${parent} for the control socket: ${(e as { code?: string }).code ?? (e as Error).message}`);
  }
  const st = lstatSync(d);
  if (!st.isDirectory() || (st.mode & 0o077) !== 0 || st.uid !== process.geteuid?.()) {
    rmdirSync(d);
    throw new XdpsimError(EACCES, `${d}: not a private directory (mode ${(st.mode & 0o7777).toString(8)})`);
  }
  return d;
}

/** The default socket's directory: in the temp directory, mode 0700. */
export function defaultSocketDir(): string {
  return privateDir(tmpdir(), 'xdpsim-');
}

/** Move the bound socket from its private name to PATH (fails with EEXIST rather than replace anything). */
export function publishSocket(bound: string, path: string): void {
  try {
    linkSync(bound, path);
  } catch (e) {
    const what = lstatOrNull(path);
    throw new XdpsimError(errnoOf(e), what !== null ? `${path} appeared (${fileKind(what)}) while the control socket was made: not replacing it` : `cannot create ${path}: ${(e as { code?: string }).code}`);
  }
  unlinkSync(bound);
  rmdirSync(dirname(bound));
}

/** The identity of the socket at `path`, to remove it later only if it is still this one. */
export function identity(path: string): { dev: number; ino: number } {
  const st = lstatSync(path);
  return { dev: st.dev, ino: st.ino };
}

/** Remove PATH if it is still the socket `id`. */
export function removeIfOurs(path: string, id: { dev: number; ino: number }): void {
  const st = lstatOrNull(path);
  if (st !== null && st.isSocket() && st.dev === id.dev && st.ino === id.ino) unlinkSync(path);
}

export interface CaptureTarget {
  /** the absolute path the capture writes */
  path: string;
  /** the file as created or opened here (its device and inode) */
  dev: number;
  ino: number;
  /** created by this request (removed if the capture cannot start) */
  created: boolean;
}

export interface CapturePolicy {
  /** the capture directory (its real path), or null: any absolute path */
  dir: string | null;
  allowOverwrite: boolean;
}

/** The real path of a capture directory given at start (it must exist and be a directory). */
export function captureDirOf(dir: string): string {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (e) {
    throw new XdpsimError(errnoOf(e), `capture directory ${dir}: ${(e as { code?: string }).code ?? (e as Error).message}`);
  }
  if (!lstatSync(real).isDirectory()) throw new XdpsimError(EINVAL, `capture directory ${dir} is not a directory`);
  return real;
}

function inside(dir: string, p: string): boolean {
  const r = relative(dir, p);
  return r === '' || (!r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r));
}

/**
 * Create (or, when allowed and asked, truncate) the file a capture request
 * names, under the policy; throws an XdpsimError saying why not.
 */
export function openCaptureTarget(file: string, overwrite: boolean, p: CapturePolicy): CaptureTarget {
  let path: string;
  if (p.dir !== null) {
    /* a relative name is taken in the directory; what counts is where the real parent directory is */
    const want = resolve(p.dir, file);
    if (want === p.dir) throw new XdpsimError(EISDIR, `capture: ${file} is the capture directory, not a regular file`);
    let parent: string;
    try {
      parent = realpathSync(dirname(want));
    } catch (e) {
      throw new XdpsimError(errnoOf(e), `capture: ${dirname(want)}: ${(e as { code?: string }).code ?? (e as Error).message}`);
    }
    if (!inside(p.dir, parent)) throw new XdpsimError(EACCES, `capture: ${file} is outside the capture directory ${p.dir}`);
    path = join(parent, basename(want));
  } else {
    if (!isAbsolute(file)) throw new XdpsimError(EINVAL, `capture: ${file}: an absolute path (the server has no capture directory to take it in)`);
    path = resolve(file);
  }
  const st = lstatOrNull(path);
  let fd: number;
  let created = false;
  if (st !== null) {
    if (st.isSymbolicLink()) throw new XdpsimError(ELOOP, `capture: ${path} is a symbolic link: not following it`);
    if (st.isDirectory()) throw new XdpsimError(EISDIR, `capture: ${path} is a directory, not a regular file`);
    if (!st.isFile()) throw new XdpsimError(EEXIST, `capture: ${path} is ${fileKind(st)}, not a regular file`);
    if (!overwrite || !p.allowOverwrite) {
      throw new XdpsimError(EEXIST, `capture: ${path} exists: not overwriting it (${p.allowOverwrite ? 'ask with overwrite' : 'this xdpsim does not overwrite files'})`);
    }
    if (st.uid !== process.geteuid?.()) throw new XdpsimError(EACCES, `capture: ${path} belongs to uid ${st.uid}: not overwriting it`);
    try {
      fd = openSync(path, fsc.O_WRONLY | fsc.O_NOFOLLOW | fsc.O_TRUNC);
    } catch (e) {
      throw new XdpsimError(errnoOf(e), `capture: ${path}: ${(e as { code?: string }).code ?? (e as Error).message}`);
    }
  } else {
    try {
      fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
      created = true;
    } catch (e) {
      throw new XdpsimError(errnoOf(e), `capture: ${path}: ${(e as { code?: string }).code ?? (e as Error).message}`);
    }
  }
  try {
    const f = fstatSync(fd);
    if (!f.isFile()) throw new XdpsimError(EEXIST, `capture: ${path} is not a regular file`);
    return { path, dev: f.dev, ino: f.ino, created };
  } finally {
    closeSync(fd);
  }
}

/** Is `t.path` still the file openCaptureTarget made (not replaced since)? */
export function stillTarget(t: CaptureTarget): boolean {
  const st = lstatOrNull(t.path);
  return st !== null && st.isFile() && st.dev === t.dev && st.ino === t.ino;
}

/** Remove a capture file this request created, if it is still that file. */
export function removeTarget(t: CaptureTarget): void {
  if (t.created && stillTarget(t)) unlinkSync(t.path);
}
