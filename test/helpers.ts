/* Shared by the runtime tests: start a runtime, always stop it. */
import { Runtime, type RuntimeOptions } from '../src/index.ts';

export const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;

export async function withRuntime<T>(o: RuntimeOptions, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await Runtime.start(o);
  try {
    return await fn(rt);
  } finally {
    try { await rt.stop(); } catch { /* already stopped */ }
  }
}

/** Sum of a PERCPU_ARRAY u64 counter at key k. */
export function percpuSum(values: Uint8Array[] | null): number {
  if (values === null) return -1;
  return values.reduce((s, v) => s + Number(new DataView(v.buffer, v.byteOffset, v.byteLength).getBigUint64(0, true)), 0);
}
