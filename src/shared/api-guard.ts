/*
 * The library's promise at its boundary: every failed call throws an
 * XdpsimError with a code and an errno. The runtime validates what it can
 * by name (ESRCH after stop(), EBADF for a program that is not one,
 * EINVAL with the argument); below it, modules that build packets or parse
 * files throw RangeError or TypeError with a message that names the field.
 * guardApi() wraps a class's public methods so that such an error, or a
 * Node system error (ENOENT from reading a file), leaves the call as an
 * XdpsimError: EINVAL for a bad argument, the system error's own errno,
 * with the method in the message and the original as `cause`. Control
 * plane only: no method of the data path is wrapped.
 */
import { constants } from 'node:os';
import { EINVAL, XdpsimError } from './errno.ts';

/** `e` as an XdpsimError: itself, a Node system error's errno, else EINVAL; `what` names the call. */
export function toXdpsimError(e: unknown, what: string): XdpsimError {
  if (e instanceof XdpsimError) return e;
  let msg: string;
  let code: unknown;
  try {
    msg = e instanceof Error ? e.message : String(e);
    code = (e as { code?: unknown } | null)?.code;
  } catch {
    msg = 'a value that cannot be described';
  }
  const sys = typeof code === 'string' ? (constants.errno as Record<string, number>)[code] : undefined;
  const x = new XdpsimError(sys ?? EINVAL, `${what}: ${msg.replace(/^E[A-Z0-9]+: /, '')}`);
  (x as { cause?: unknown }).cause = e;
  return x;
}

/** Wrap `names`, methods of `proto`, so that whatever they throw or reject with is an XdpsimError. */
export function guardApi(proto: object, label: string, names: readonly string[]): void {
  const p = proto as Record<string, unknown>;
  for (const n of names) {
    const f = p[n];
    if (typeof f !== 'function') throw new Error(`guardApi: ${label}.${n} is not a method`);
    const what = `${label}.${n}()`;
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      let r: unknown;
      try {
        r = (f as (...a: unknown[]) => unknown).apply(this, args);
      } catch (e) {
        throw toXdpsimError(e, what);
      }
      return r instanceof Promise ? r.catch((e: unknown) => { throw toXdpsimError(e, what); }) : r;
    };
    Object.defineProperty(wrapped, 'name', { value: n });
    Object.defineProperty(proto, n, { value: wrapped, writable: true, configurable: true, enumerable: false });
  }
}
