/* Shared by the runtime tests: start a runtime, always stop it. */
import { readFileSync } from 'node:fs';
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

/* non-idle CPU time of the whole machine from /proc/stat, seconds (user nice system irq softirq steal; USER_HZ is 100): null off Linux */
function machineCpuSeconds(): number | null {
  let line: string;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  } catch {
    return null;
  }
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return null;
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100;
}

/**
 * Start measuring how busy the machine is apart from this process; the
 * returned function gives the CPU time other processes (and a hypervisor's
 * steal) took since, in cores (1: one core's worth the whole time), or null
 * where /proc/stat is not readable. For rate tests: a rate this process
 * cannot hold while others take the cores is the machine, not a bug.
 */
export function otherLoad(): () => number | null {
  const m0 = machineCpuSeconds();
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const m1 = machineCpuSeconds();
    if (m0 === null || m1 === null) return null;
    const u = process.cpuUsage(u0);
    const wall = (performance.now() - t0) / 1000;
    if (wall <= 0) return null;
    return Math.max(0, (m1 - m0 - (u.user + u.system) / 1e6) / wall);
  };
}
