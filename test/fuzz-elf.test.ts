/*
 * Fuzzing the object loader: the committed BPF objects, mutated (random
 * bytes, truncation, and the fields a loader has to trust set to boundary
 * values: the ELF header, section headers, symbols, relocations, the BTF
 * header and type records), each opened the way a user opens one. Every
 * refusal is an XdpsimError with an errno, one line naming the object or
 * the program, never a RangeError or a TypeError; a mutant that still loads
 * is fine. Some mutants go through a running Runtime, which afterwards has
 * every CPU alive, loads and runs the good object on each of them and
 * conserves every frame; and `xdpsim run --prog BAD.o` says what is wrong in
 * one line.
 *
 * Seeded and deterministic: XDPSIM_FUZZ_SEED=N explores another sequence
 * (XDPSIM_FUZZ_MUTANTS=N opens all N instead of up to 1500 in 4 s in the
 * first test); every failure names the seed, the mutant and its mutation.
 * A few seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OBJECTS, ROOT, fixture, objectPath } from './objects.ts';
import { parseElf, SHT_REL, SHT_SYMTAB } from '../src/bpf/elf.ts';
import { BpfTestRun } from '../src/bpf/load.ts';
import { XdpsimError } from '../src/index.ts';
import { main } from '../src/cli.ts';
import { percpuSum, withRuntime } from './helpers.ts';
import { prng } from '../src/shared/prng.ts';

const SEED = Number(process.env.XDPSIM_FUZZ_SEED ?? 0x15e1f);
const IN_THREAD = Number(process.env.XDPSIM_FUZZ_MUTANTS ?? 1500);
/*
 * A mutant that still loads costs its translation (~3 ms idle, 10 ms on a
 * machine others keep busy): past this budget the first test stops early,
 * after at least MIN_IN_THREAD mutants, the same first ones of the sequence.
 */
const BUDGET_MS = process.env.XDPSIM_FUZZ_MUTANTS !== undefined ? Infinity : 4000;
const MIN_IN_THREAD = 400;
const IN_RUNTIME = 48;

/* ---- where the fields are, in a good object ---- */

interface Layout {
  name: string;
  bytes: Uint8Array;
  shoff: number;
  /** section header file offset, data file offset and size of each section */
  secs: { hdr: number; off: number; size: number }[];
  /** file offsets of the symbols and of the relocations */
  syms: number[];
  rels: number[];
  /** .BTF: its file offset, header fields, and the file offset of each type record */
  btf: { off: number; size: number; typeLen: number; strLen: number; types: number[] } | null;
}

/* bytes after struct btf_type: INT, ARRAY, VAR, DECL_TAG; per vlen: STRUCT, UNION, ENUM, FUNC_PROTO, DATASEC, ENUM64 */
const BTF_FIXED: Record<number, number> = { 1: 4, 3: 12, 14: 4, 17: 4 };
const BTF_PER_VLEN: Record<number, number> = { 4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12 };

function layout(path: string): Layout {
  const bytes = Uint8Array.from(readFileSync(path));
  const dv = new DataView(bytes.buffer);
  const elf = parseElf(bytes);
  const shoff = Number(dv.getBigUint64(40, true));
  const at = (d: Uint8Array): number => d.byteOffset;
  const secs = elf.sections.map((s) => ({ hdr: shoff + s.index * 64, off: at(s.data), size: s.size }));
  const syms: number[] = [];
  const rels: number[] = [];
  for (const s of elf.sections) {
    if (s.type === SHT_SYMTAB) for (let o = 0; o < s.data.length; o += 24) syms.push(at(s.data) + o);
    if (s.type === SHT_REL) for (let o = 0; o < s.data.length; o += 16) rels.push(at(s.data) + o);
  }
  let btf: Layout['btf'] = null;
  const b = elf.byName('.BTF');
  if (b !== undefined) {
    const o = at(b.data);
    const hdrLen = dv.getUint32(o + 4, true), t0 = o + hdrLen + dv.getUint32(o + 8, true);
    const typeLen = dv.getUint32(o + 12, true);
    const types: number[] = [];
    for (let p = t0; p < t0 + typeLen;) {
      types.push(p);
      const info = dv.getUint32(p + 4, true);
      const kind = (info >>> 24) & 0x1f;
      p += 12 + (BTF_FIXED[kind] ?? 0) + (info & 0xffff) * (BTF_PER_VLEN[kind] ?? 0);
    }
    btf = { off: o, size: b.size, typeLen, strLen: dv.getUint32(o + 20, true), types };
  }
  return { name: path.slice(ROOT.length), bytes, shoff, secs, syms, rels, btf };
}

/* ---- mutations ---- */

type Width = 8 | 16 | 32 | 64;
interface Field { at: number; width: Width; what: string; ctx: number[] }

class Mutator {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }

  /* 0, 1, the largest values, the current value +- 1, a size of the context +- 1, or anything */
  value(width: Width, cur: bigint, ctx: number[]): bigint {
    const max = (1n << BigInt(width)) - 1n;
    const c = BigInt(this.pick(ctx.length ? ctx : [0]));
    const v = this.pick([0n, 1n, max, max >> 1n, (max >> 1n) + 1n, cur - 1n, cur + 1n, c - 1n, c, c + 1n,
      BigInt(this.int(0x10000)), BigInt(Math.floor(this.rnd() * 2 ** 32))]);
    return v & max;
  }

  /** Overwrite a field; returns what was done, for failure messages. */
  set(b: Uint8Array, f: Field): string {
    if (f.at + f.width / 8 > b.length) return `${f.what} (past the end, unchanged)`;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const get = (): bigint => f.width === 8 ? BigInt(dv.getUint8(f.at)) : f.width === 16 ? BigInt(dv.getUint16(f.at, true))
      : f.width === 32 ? BigInt(dv.getUint32(f.at, true)) : dv.getBigUint64(f.at, true);
    const old = get();
    const v = this.value(f.width, old, f.ctx);
    if (f.width === 8) dv.setUint8(f.at, Number(v));
    else if (f.width === 16) dv.setUint16(f.at, Number(v), true);
    else if (f.width === 32) dv.setUint32(f.at, Number(v), true);
    else dv.setBigUint64(f.at, v, true);
    return `${f.what} at file offset ${f.at}: ${old} -> ${v}`;
  }

  mutate(l: Layout): { bytes: Uint8Array; kind: string; what: string } {
    let b = Uint8Array.from(l.bytes);
    const len = b.length;
    const kinds = ['bytes', 'truncate', 'ehdr', 'shdr', 'shdr', 'sym', 'rel', 'rel', 'btfhdr', 'btftype', 'btftype'] as const;
    let kind: string = this.pick(kinds);
    if ((kind === 'btfhdr' || kind === 'btftype') && l.btf === null) kind = 'shdr';
    const whats: string[] = [];
    switch (kind) {
      case 'bytes':
        for (let n = 1 + this.int(8); n > 0; n--) {
          const at = this.int(len), v = this.int(256);
          whats.push(`byte ${at}: ${b[at]} -> ${v}`);
          b[at] = v;
        }
        break;
      case 'truncate': {
        const to = this.pick([0, 3, 4, 63, 64, l.shoff, l.shoff + 64 * (1 + this.int(l.secs.length)) - 1, len - 1, this.int(len)]);
        b = b.subarray(0, Math.min(to, len));
        whats.push(`truncated to ${b.length} of ${len} bytes`);
        break;
      }
      case 'ehdr': {
        const f = this.pick<[number, Width, string]>([[4, 8, 'EI_CLASS'], [5, 8, 'EI_DATA'], [16, 16, 'e_type'], [18, 16, 'e_machine'],
          [40, 64, 'e_shoff'], [58, 16, 'e_shentsize'], [60, 16, 'e_shnum'], [62, 16, 'e_shstrndx']]);
        whats.push(this.set(b, { at: f[0], width: f[1], what: f[2], ctx: [len, l.shoff, l.secs.length, 64] }));
        break;
      }
      case 'shdr': {
        const i = this.int(l.secs.length);
        const s = l.secs[i]!;
        const f = this.pick<[number, Width, string]>([[0, 32, 'sh_name'], [4, 32, 'sh_type'], [8, 64, 'sh_flags'], [24, 64, 'sh_offset'],
          [32, 64, 'sh_size'], [40, 32, 'sh_link'], [44, 32, 'sh_info'], [56, 64, 'sh_entsize']]);
        whats.push(this.set(b, { at: s.hdr + f[0], width: f[1], what: `section ${i} ${f[2]}`, ctx: [len, s.size, s.off, l.secs.length, len - s.off] }));
        break;
      }
      case 'sym': {
        const k = this.int(l.syms.length);
        const f = this.pick<[number, Width, string]>([[0, 32, 'st_name'], [4, 8, 'st_info'], [6, 16, 'st_shndx'], [8, 64, 'st_value'], [16, 64, 'st_size']]);
        whats.push(this.set(b, { at: l.syms[k]! + f[0], width: f[1], what: `symbol ${k} ${f[2]}`, ctx: [l.secs.length, 0xfff1, 8, ...l.secs.map((s) => s.size)] }));
        break;
      }
      case 'rel': {
        const k = this.int(l.rels.length);
        const f = this.pick<[number, Width, string]>([[0, 64, 'r_offset'], [8, 32, 'r_info type'], [12, 32, 'r_info sym']]);
        whats.push(this.set(b, { at: l.rels[k]! + f[0], width: f[1], what: `relocation ${k} ${f[2]}`, ctx: [l.syms.length, 8, ...l.secs.map((s) => s.size)] }));
        break;
      }
      case 'btfhdr': {
        const t = l.btf!;
        const f = this.pick<[number, Width, string]>([[0, 16, 'magic'], [2, 8, 'version'], [3, 8, 'flags'], [4, 32, 'hdr_len'], [8, 32, 'type_off'],
          [12, 32, 'type_len'], [16, 32, 'str_off'], [20, 32, 'str_len']]);
        whats.push(this.set(b, { at: t.off + f[0], width: f[1], what: `.BTF ${f[2]}`, ctx: [t.size, t.typeLen, t.strLen, 24, t.size - 24] }));
        break;
      }
      default: { /* btftype */
        const t = l.btf!;
        const k = this.int(t.types.length);
        const f = this.pick<[number, Width, string]>([[0, 32, 'name_off'], [4, 16, 'vlen'], [7, 8, 'kind and kflag'], [8, 32, 'size/type'],
          [12, 32, 'first entry word 0'], [16, 32, 'first entry word 1'], [20, 32, 'first entry word 2']]);
        whats.push(this.set(b, { at: t.types[k]! + f[0], width: f[1], what: `.BTF type ${k + 1} ${f[2]}`, ctx: [t.types.length, t.strLen, t.typeLen, 0x1f, 0x13] }));
      }
    }
    return { bytes: b, kind, what: whats.join(', ') };
  }
}

/* ---- the assertion on each refusal ---- */

/** A refusal must be an XdpsimError with an errno, one line, naming the object (or the program, for the translator). */
function assertRefusal(e: unknown, ctx: string): XdpsimError {
  if (!(e instanceof XdpsimError)) assert.fail(`${ctx}: not an XdpsimError: ${e instanceof Error ? e.stack : String(e)}`);
  assert.match(e.code, /^E[A-Z0-9]+$/, ctx);
  assert.ok(e.errno > 0, ctx);
  assert.ok(e.message.startsWith(`${e.code}: `), `${ctx}: ${e.message}`);
  assert.ok(!e.message.includes('\n'), `${ctx}: more than one line: ${e.message}`);
  assert.match(e.message, /^E[A-Z0-9]+: (object mutant: |program \S+, instruction \d+ )/, ctx);
  return e;
}

/* every committed object but the big-endian one (its fields are not where a little-endian reader looks) */
const corpus = (): Layout[] => OBJECTS.filter((s) => !s.extra.includes('-mbig-endian')).map((s) => layout(join(ROOT, objectPath(s))));

test(`fuzz: up to ${IN_THREAD} mutated objects opened with BpfTestRun: every refusal is an XdpsimError naming the object (seed ${SEED})`, () => {
  const objs = corpus();
  const m = new Mutator(prng(SEED));
  const refused = new Map<string, number>();
  const withOffset = new Map<string, number>();
  let loaded = 0;
  const t0 = performance.now();
  let n = 0;
  for (; n < IN_THREAD && (n < MIN_IN_THREAD || performance.now() - t0 < BUDGET_MS); n++) {
    const l = m.pick(objs);
    const { bytes, kind, what } = m.mutate(l);
    const ctx = `seed ${SEED}, mutant ${n}: ${l.name}, ${kind}: ${what}`;
    try {
      new BpfTestRun(bytes, { name: 'mutant' });
      loaded++;
    } catch (e) {
      const err = assertRefusal(e, ctx);
      refused.set(kind, (refused.get(kind) ?? 0) + 1);
      if (/offset \d+/.test(err.message)) withOffset.set(kind, (withOffset.get(kind) ?? 0) + 1);
    }
  }
  const ms = performance.now() - t0;
  /* not vacuous: every kind of mutation was refused, most with the offset at fault */
  for (const k of ['bytes', 'truncate', 'ehdr', 'shdr', 'sym', 'rel', 'btfhdr', 'btftype']) assert.ok((refused.get(k) ?? 0) > 0, `seed ${SEED}: no ${k} mutant was refused`);
  const total = [...refused.values()].reduce((a, b) => a + b, 0);
  const named = [...withOffset.values()].reduce((a, b) => a + b, 0);
  assert.ok(named > total / 2, `seed ${SEED}: only ${named} of ${total} refusals name an offset`);
  console.log(`# ${n} mutants in ${ms.toFixed(0)} ms: ${loaded} loaded, refused ${JSON.stringify(Object.fromEntries(refused))}, ${named} naming an offset`);
});

test(`fuzz: ${IN_RUNTIME} mutated objects loaded into a running Runtime, then the good object runs on every CPU and every frame is conserved (seed ${SEED})`, async () => {
  const objs = corpus();
  const m = new Mutator(prng(SEED ^ 0x5eed));
  const dir = mkdtempSync(join(tmpdir(), 'xdpsim-fuzz-elf-'));
  try {
    await withRuntime({ cpus: 2 }, async (rt) => {
      const died: string[] = [];
      rt.on('cpu-error', (cpu: number, err: Error) => died.push(`cpu ${cpu}: ${err.message}`));
      const [v0] = rt.createVeth('fz0', 'fz1', { rxQueues: 2 });
      let loaded = 0;
      for (let i = 0; i < IN_RUNTIME; i++) {
        const l = m.pick(objs);
        const { bytes, kind, what } = m.mutate(l);
        const ctx = `seed ${SEED ^ 0x5eed}, runtime mutant ${i}: ${l.name}, ${kind}: ${what}`;
        const path = join(dir, `mutant.${i}.o`);
        writeFileSync(path, bytes);
        try {
          rt.unloadObject(await rt.loadObject(path));
          loaded++;
        } catch (e) {
          assertRefusal(e, ctx);
        }
      }
      assert.ok(loaded < IN_RUNTIME, 'no mutant was refused');
      assert.deepEqual(died, []);
      /* the good object after the bad ones: loaded, attached, run by both CPUs */
      const o = await rt.loadObject(fixture('xdp_count', 'v3'));
      v0!.attachXdp(o.progs.xdp_count!);
      const r = await v0!.inject({ count: 400, flows: 64, size: 64 });
      assert.equal(r.sent, 400);
      assert.equal(await rt.quiesce(), true);
      assert.equal(v0!.stats().xdp_pass, 400);
      assert.equal(v0!.stats().rx_packets, 400);
      const perCpu = o.maps.stats!.lookupPerCpu(0)!;
      const packets = perCpu.map((v) => Number(new DataView(v.buffer, v.byteOffset).getBigUint64(0, true)));
      assert.equal(packets.length, 2);
      assert.ok(packets.every((n) => n > 0), `packets per CPU: ${packets}`);
      assert.equal(percpuSum(perCpu), 400);
      assert.deepEqual(died, []);
      const st = await rt.stop();
      assert.equal(st.conserved, true);
      assert.equal(st.totals.injected, 400);
      assert.equal(st.totals.stack, 400);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('xdpsim run --prog BAD.o: exit 1 and one line saying which section and offset', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xdpsim-fuzz-cli-'));
  try {
    const l = layout(fixture('xdp_count', 'v3'));
    const b = Uint8Array.from(l.bytes);
    const rel0 = l.rels[0]!; /* relocation 0 of .relxdp, against xdp (240 bytes) */
    new DataView(b.buffer).setBigUint64(rel0, 240n, true);
    const bad = join(dir, 'bad.o');
    writeFileSync(bad, b);
    const out: string[] = [];
    const err: string[] = [];
    const rc = await main(['run', '--prog', bad, '--count', '10', '--cpus', '1'], (s) => out.push(s), (s) => err.push(s));
    assert.equal(rc, 1);
    assert.deepEqual(err, ["xdpsim run: EINVAL: object bad: section 4 '.relxdp', relocation 0: offset 240 is past the end of section 3 'xdp' (240 bytes)"]);
    assert.deepEqual(out, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
