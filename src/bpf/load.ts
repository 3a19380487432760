/*
 * Loading a clang-compiled object: the glue between object.ts (what the
 * ELF file declares), translate.ts (the programs as JavaScript source) and
 * the runtime's maps and CPUs.
 *
 *  - prepareBpfObject() runs once on the control plane: it opens the
 *    object, translates every program (so that every load-time error, an
 *    unknown instruction or helper, is raised there, naming the program,
 *    the instruction and its section) and returns a structured-clonable
 *    PreparedObject, posted to every CPU.
 *  - bindBpfPrograms() runs on each CPU worker with that worker's maps
 *    (opened on the shared instances the control plane created): it builds
 *    each program's function with `new Function`, bound to a Vm of its own.
 *  - BpfTestRun runs programs in the calling thread on a buffer, like
 *    BPF_PROG_TEST_RUN: for tests, conformance runs and tools.
 *
 * Concurrency: prepare and the test run are single-threaded; bound
 * programs follow vm.ts (one CPU each, shared maps under their own rules).
 */
import { readFileSync } from 'node:fs';
import { defineMap, XdpMd, type MapDef, type XdpProgFn, type XdpSection } from '../cpu/program.ts';
import { createMapShared, openMap, type BpfMap, type MapShared } from '../maps/map.ts';
import { DevMap } from '../maps/devmap.ts';
import { MapHandle } from '../maps/handle.ts';
import { BPF_ANY } from '../shared/uapi.ts';
import { EINVAL, XdpsimError } from '../shared/errno.ts';
import { SKB_SHARED_INFO_SIZE, XDP_FRAME_SIZE } from '../shared/frame-pool.ts';
import { setHelperContext } from '../cpu/helpers.ts';
import { RedirectInfo } from '../cpu/redirect.ts';
import { isElf } from './elf.ts';
import { BpfLoadError, objectName, openBpfObject, type BpfMapSpec, type BpfObjectSpec } from './object.ts';
import { translate } from './translate.ts';
import { Vm } from './vm.ts';

export interface PreparedProg {
  name: string;
  section: XdpSection;
  secName: string;
  /** the body of `function (S)` returning the program (translate.ts) */
  js: string;
  origin: string[];
  /** instructions after linking */
  insnCount: number;
}

export interface PreparedObject {
  name: string;
  license: string;
  maps: BpfMapSpec[];
  progs: PreparedProg[];
}

/** True if `path` names a BPF ELF object: a .o file, or a file that starts with the ELF magic. */
export function isBpfObjectPath(path: string): boolean {
  if (path.endsWith('.o')) return true;
  if (/\.[cm]?[jt]sx?$/.test(path) || path.startsWith('file:')) return false;
  try {
    return isElf(readFileSync(path));
  } catch {
    return false;
  }
}

/** Open and translate an object. Throws XdpsimError(EINVAL) with the loader's message. */
export function prepareBpfObject(bytes: Uint8Array, name: string): PreparedObject {
  try {
    const spec: BpfObjectSpec = openBpfObject(bytes, name);
    const tmaps = spec.maps.map((m) => ({ keySize: m.keySize, valueSize: m.valueSize }));
    const progs = spec.progs.map((p) => ({
      name: p.name, section: p.section, secName: p.secName, origin: p.origin, insnCount: p.insns.length / 8,
      js: translate({ prog: p, maps: tmaps, license: spec.license }),
    }));
    /* compile once here too: a translator bug shows at load, not on the first frame */
    for (const p of progs) new Function('S', p.js);
    return { name: spec.name, license: spec.license, maps: spec.maps, progs };
  } catch (e) {
    if (e instanceof BpfLoadError) throw new XdpsimError(e.errno, e.detail);
    throw e;
  }
}

/*
 * A PreparedObject from raw instructions (tests, tools): one program
 * `name` of section 'xdp' whose functions start at `funcs` (0 first), with
 * the given maps (ld_imm64 refers to them by index: BPF_PSEUDO_MAP_IDX,
 * BPF_PSEUDO_MAP_IDX_VALUE).
 */
export function prepareInsns(insns: Uint8Array, o: { name?: string; maps?: BpfMapSpec[]; funcs?: number[]; license?: string } = {}): PreparedObject {
  const name = o.name ?? 'prog';
  const n = insns.length / 8;
  const starts = o.funcs ?? [0];
  const prog = {
    name, secName: 'xdp', section: 'xdp' as const, insns, origin: Array.from({ length: n }, (_, i) => `xdp+${i}`),
    funcs: starts.map((s, k) => ({ start: s, name: k === 0 ? name : `f${s}` })),
  };
  const maps = o.maps ?? [];
  const license = o.license ?? 'GPL';
  try {
    const js = translate({ prog, maps, license });
    new Function('S', js);
    return { name, license, maps, progs: [{ name, section: 'xdp', secName: 'xdp', js, origin: prog.origin, insnCount: n }] };
  } catch (e) {
    if (e instanceof BpfLoadError) throw new XdpsimError(e.errno, e.detail);
    throw e;
  }
}

/** Read and prepare the object at `path` (libbpf's object name: the base name up to its first '.'). */
export function prepareBpfObjectFile(path: string): PreparedObject {
  return prepareBpfObject(readFileSync(path), objectName(path));
}

/** The MapSpec to create map i of an object with (createMapShared). */
export function mapCreateSpec(m: BpfMapSpec): { type: number; keySize: number; valueSize: number; maxEntries: number; mapFlags: number; name: string } {
  return { type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, mapFlags: m.mapFlags, name: m.kernelName };
}

/** Create an object's maps (control plane); global data gets its initial bytes. Errors name the map. */
export function createBpfMaps(obj: PreparedObject, nextId: () => number, ncpus: number): MapShared[] {
  return obj.maps.map((m) => {
    let s: MapShared;
    try {
      s = createMapShared(mapCreateSpec(m), nextId(), ncpus);
    } catch (e) {
      if (e instanceof XdpsimError) {
        throw new XdpsimError(e.errno, `object ${obj.name}: map '${m.name}' (section ${m.kind === '.maps' ? '.maps' : m.name}): ${e.message.replace(/^E[A-Z0-9]+: /, '')}`);
      }
      throw e;
    }
    if (m.initial !== undefined) {
      const r = openMap(s).sysUpdate(0, m.initial, BPF_ANY);
      if (r !== 0) throw new XdpsimError(-r, `object ${obj.name}: map '${m.name}': initial value not written (${r})`);
    }
    return s;
  });
}

/** The MapDefs of an object on this thread, bound to opened maps (what bpfMapLookupElem and friends take). */
export function bindMapDefs(obj: PreparedObject, maps: BpfMap[]): MapDef[] {
  return obj.maps.map((m, i) => {
    const d = defineMap({ ...mapCreateSpec(m) });
    const bm = maps[i]!;
    d._map = bm;
    d._devmap = bm instanceof DevMap ? bm : null;
    return d;
  });
}

/** Build every program of the object on this thread (a CPU worker), bound to `defs`. */
export function bindBpfPrograms(obj: PreparedObject, defs: MapDef[]): Record<string, XdpProgFn> {
  const out: Record<string, XdpProgFn> = {};
  for (const p of obj.progs) out[p.name] = new Vm(p.name, p.origin, defs).build(p.js);
  return out;
}

export interface TestRunOptions {
  /** the packet (data..data_end) */
  data: Uint8Array;
  /** headroom before data (default XDP_PACKET_HEADROOM, 256) */
  headroom?: number;
  /** metadata bytes before data (default 0) */
  meta?: Uint8Array;
  ingressIfindex?: number;
  rxQueueIndex?: number;
  /** a devmap program's egress device (default 0) */
  egressIfindex?: number;
  /** the buffer's size (default 4096, a page) */
  frameSize?: number;
  /** runs (default 1): the result is the last run's */
  repeat?: number;
}

export interface TestRunResult {
  /** the program's return value (u32), or -1 if it was aborted by an exception */
  retval: number;
  /** the packet after the run (data..data_end) */
  data: Uint8Array;
  /** the metadata after the run (data_meta..data) */
  meta: Uint8Array;
  /** the exception's message when retval is -1 */
  error?: string;
  /** ns per run (wall clock, averaged over repeat) */
  durationNs: number;
}

/*
 * An object loaded in the calling thread, for BPF_PROG_TEST_RUN-style runs:
 * maps are created here (same code, same semantics as on CPUs; MapHandle
 * for user space), programs are translated and built here. Helpers run
 * as CPU `cpu` (default 0) of a machine of `cpus` CPUs (for per-CPU maps).
 */
export class BpfTestRun {
  readonly obj: PreparedObject;
  readonly maps: Record<string, MapHandle> = {};
  readonly progs: Record<string, XdpProgFn>;
  private readonly ri = new RedirectInfo();
  private readonly cpu: number;

  constructor(source: string | Uint8Array | PreparedObject, o: { cpus?: number; cpu?: number; name?: string } = {}) {
    this.obj = typeof source === 'string' ? prepareBpfObjectFile(source)
      : source instanceof Uint8Array ? prepareBpfObject(source, o.name ?? 'test') : source;
    const ncpus = o.cpus ?? 1;
    this.cpu = o.cpu ?? 0;
    let id = 1;
    const shareds = createBpfMaps(this.obj, () => id++, ncpus);
    const opened = shareds.map((s) => openMap(s));
    this.obj.maps.forEach((m, i) => {
      this.maps[m.name] = new MapHandle(opened[i]!);
    });
    this.progs = bindBpfPrograms(this.obj, bindMapDefs(this.obj, opened));
  }

  /** Run program `name` on a packet (see TestRunOptions). */
  run(name: string, o: TestRunOptions): TestRunResult {
    const prog = this.progs[name];
    if (prog === undefined) throw new XdpsimError(EINVAL, `object ${this.obj.name} has no program '${name}' (it has ${Object.keys(this.progs).join(', ')})`);
    const frameSize = o.frameSize ?? 4096;
    const headroom = o.headroom ?? 256;
    const meta = o.meta ?? new Uint8Array(0);
    if (headroom < XDP_FRAME_SIZE + meta.length || headroom + o.data.length > frameSize - SKB_SHARED_INFO_SIZE) {
      throw new XdpsimError(EINVAL, `test run: ${o.data.length} bytes with ${headroom} bytes of headroom and ${meta.length} of metadata do not fit a ${frameSize}-byte buffer`);
    }
    const buf = new Uint8Array(frameSize);
    const ctx = new XdpMd();
    ctx.pkt = buf;
    ctx.dv = new DataView(buf.buffer);
    ctx.frame_sz = frameSize;
    ctx.hard_end = frameSize - SKB_SHARED_INFO_SIZE;
    const repeat = Math.max(1, o.repeat ?? 1);
    let retval = 0;
    let error: string | undefined;
    setHelperContext(this.cpu, () => Math.round(performance.now() * 1e6), this.ri);
    const t0 = performance.now();
    for (let i = 0; i < repeat; i++) {
      buf.fill(0);
      buf.set(meta, headroom - meta.length);
      buf.set(o.data, headroom);
      ctx.data = headroom;
      ctx.data_meta = headroom - meta.length;
      ctx.data_end = headroom + o.data.length;
      ctx.ingress_ifindex = o.ingressIfindex ?? 1;
      ctx.rx_queue_index = o.rxQueueIndex ?? 0;
      ctx.egress_ifindex = o.egressIfindex ?? 0;
      error = undefined;
      try {
        retval = prog(ctx) >>> 0;
      } catch (e) {
        retval = -1;
        error = e instanceof Error ? e.message : String(e);
      }
      this.ri.reset();
    }
    const durationNs = ((performance.now() - t0) * 1e6) / repeat;
    return {
      retval, data: buf.slice(ctx.data, ctx.data_end), meta: buf.slice(ctx.data_meta, ctx.data), durationNs,
      ...(error !== undefined ? { error } : {}),
    };
  }
}
