/*
 * Opening clang-compiled objects: ELF and BTF parsing of a corpus (every
 * C fixture of test/fixtures/bpf and of conformance/corpus, for -mcpu v1,
 * v2 and v3), exactly what libbpf would read from one of them (BTF map
 * definitions, global data as ARRAY maps with libbpf's names and flags,
 * programs per section and function, linked subprograms, the license), and
 * the objects xdpsim refuses, with errors that name the section, the
 * instruction or the feature.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { BUILDS, CONFORMANCE_CORPUS, FIXTURES, buildSkip, fixture } from './objects.ts';
import { parseElf, SHT_NOBITS } from '../src/bpf/elf.ts';
import { Btf, BTF_KIND_DATASEC, BTF_KIND_STRUCT } from '../src/bpf/btf.ts';
import { internalMapName, objectName, openBpfObject } from '../src/bpf/object.ts';
import { BpfTestRun, prepareBpfObjectFile } from '../src/bpf/load.ts';
import {
  BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_ARRAY,
  XDP_ABORTED, XDP_DROP, XDP_PASS, XdpsimError,
} from '../src/index.ts';
import { withRuntime } from './helpers.ts';

for (const build of BUILDS) test(`a corpus of objects opens and translates: every fixture and conformance program, for -mcpu v1, v2, v3 (${build})`, { skip: buildSkip(build) }, () => {
  /* errors.c and hostile.c are built only at v3, for the refusals they are made of */
  const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.c') && f !== 'errors.c' && f !== 'hostile.c').map((f) => f.slice(0, -2));
  assert.ok(fixtures.length >= 4);
  const corpus = readdirSync(CONFORMANCE_CORPUS).filter((f) => f.endsWith('.c'));
  let opened = 0;
  for (const cpu of ['v1', 'v2', 'v3']) {
    for (const f of fixtures) {
      const obj = prepareBpfObjectFile(fixture(f, cpu, [], FIXTURES, build));
      assert.ok(obj.progs.length > 0, f);
      opened++;
    }
    for (const f of corpus) {
      const out = fixture(f.slice(0, -2), cpu, [], CONFORMANCE_CORPUS, build);
      const obj = prepareBpfObjectFile(out);
      assert.ok(obj.progs.length > 0, f);
      opened++;
    }
  }
  assert.equal(opened, 3 * (fixtures.length + corpus.length));
});

for (const build of BUILDS) test(`xdp_count.o: sections, symbols and BTF as libbpf reads them (${build})`, { skip: buildSkip(build) }, () => {
  const path = fixture('xdp_count', 'v1', [], FIXTURES, build);
  const elf = parseElf(readFileSync(path));
  const names = elf.sections.map((s) => s.name);
  for (const n of ['.text', 'xdp', '.relxdp', '.rodata', '.bss', '.data', '.maps', 'license', '.BTF']) assert.ok(names.includes(n), n);
  assert.equal(elf.byName('.bss')!.type, SHT_NOBITS);
  const fn = (n: string) => elf.symbols.find((s) => s.name === n)!;
  assert.equal(elf.sections[fn('xdp_count').shndx]!.name, 'xdp');
  assert.equal(elf.sections[fn('pkt_len').shndx]!.name, '.text');
  assert.equal(fn('pkt_len').size, 6 * 8);
  const btf = new Btf(elf.byName('.BTF')!.data);
  const maps = btf.datasec('.maps')!;
  assert.equal(maps.kind, BTF_KIND_DATASEC);
  assert.deepEqual(maps.secinfos!.map((v) => btf.type(v.type).name), ['stats', 'flows']);
  const datarec = btf.types.find((t) => t.kind === BTF_KIND_STRUCT && t.name === 'datarec')!;
  assert.equal(btf.resolveSize(datarec.id), 16);
  assert.deepEqual(datarec.members!.map((m) => [m.name, m.offset]), [['packets', 0], ['bytes', 64]]);
});

for (const build of BUILDS) test(`xdp_count.o: maps from .maps BTF and global data, programs, linked subprograms, license (${build})`, { skip: buildSkip(build) }, () => {
  const spec = openBpfObject(readFileSync(fixture('xdp_count', 'v2', [], FIXTURES, build)), 'xdp_count');
  assert.equal(spec.license, 'GPL');
  assert.deepEqual(spec.maps.map(({ initial, ...m }) => ({ ...m, initial: initial && [...initial] })), [
    { name: 'stats', kernelName: 'stats', type: BPF_MAP_TYPE_PERCPU_ARRAY, keySize: 4, valueSize: 16, maxEntries: 4, mapFlags: 0, kind: '.maps', initial: undefined },
    { name: 'flows', kernelName: 'flows', type: BPF_MAP_TYPE_HASH, keySize: 8, valueSize: 16, maxEntries: 1024, mapFlags: 0, kind: '.maps', initial: undefined },
    { name: '.rodata', kernelName: 'xdp_coun.rodata', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, mapFlags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE, kind: '.rodata', initial: [2, 0, 0, 0] },
    { name: '.bss', kernelName: 'xdp_coun.bss', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, mapFlags: BPF_F_MMAPABLE, kind: '.bss', initial: undefined },
    { name: '.data', kernelName: 'xdp_coun.data', type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, mapFlags: BPF_F_MMAPABLE, kind: '.data', initial: [7, 0, 0, 0] },
  ]);
  assert.equal(spec.progs.length, 1);
  const p = spec.progs[0]!;
  assert.deepEqual([p.name, p.secName, p.section], ['xdp_count', 'xdp', 'xdp']);
  assert.deepEqual(p.funcs, [{ start: 0, name: 'xdp_count' }, { start: 30, name: 'pkt_len' }]);
  assert.equal(p.origin[30], '.text+0');
});

for (const build of BUILDS) test(`sections.o: every XDP section, two programs in one section, static and global subprograms (${build})`, { skip: buildSkip(build) }, () => {
  const t = new BpfTestRun(fixture('sections', 'v3', [], FIXTURES, build));
  assert.equal(t.obj.license, 'Dual BSD/GPL');
  assert.deepEqual(t.obj.progs.map((p) => [p.name, p.secName, p.section]), [
    ['first', 'xdp', 'xdp'], ['second', 'xdp', 'xdp'], ['with_frags', 'xdp.frags', 'xdp.frags'], ['on_egress', 'xdp/devmap', 'xdp/devmap'],
  ]);
  const data = new Uint8Array(64);
  assert.equal(t.run('first', { data }).retval, XDP_PASS);
  assert.equal(t.run('second', { data }).retval, XDP_DROP);
  assert.equal(t.run('with_frags', { data }).retval, XDP_PASS);
  assert.equal(t.run('with_frags', { data: new Uint8Array(200) }).retval, XDP_DROP);
  assert.equal(t.run('on_egress', { data }).retval, XDP_ABORTED);
  assert.equal(t.run('on_egress', { data, egressIfindex: 3 }).retval, XDP_PASS);
  assert.deepEqual([...t.maps['.bss']!.lookup(0)!], [1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0]);
});

test('libbpf names: object name, internal maps', () => {
  assert.equal(objectName('/a/b/xdp_prog.bpf.o'), 'xdp_prog');
  assert.equal(internalMapName('my_object_name', '.rodata'), 'my_objec.rodata');
  assert.equal(internalMapName('my_object_name', '.bss'), 'my_objec.bss');
  assert.equal(internalMapName('xdp-count', '.data'), 'xdp_coun.data');
  assert.equal(internalMapName('anything', '.rodata.str1.1'), '.rodata.str1.1');
});

/* each -D variant of errors.c, and the message that names what is wrong */
const REFUSED: [string, RegExp][] = [
  ['LEGACY_MAPS', /^EINVAL: object errors: section 'maps': legacy map definitions \(struct bpf_map_def SEC\("maps"\)\) are not supported: declare maps with BTF in SEC\("\.maps"\)$/],
  ['UNKNOWN_FIELD', /^EINVAL: object errors: section '\.maps': map 'odd': unknown field 'colour'$/],
  ['RINGBUF', /^EINVAL: object errors: map 'rb' \(section \.maps\): map 'rb' create: BPF_MAP_TYPE_RINGBUF is not supported/],
  ['KSYM', /^EINVAL: object errors: section 'xdp', instruction \d+: relocation against 'bpf_fictional_kfunc', which is not defined in the object \(extern variables, kfuncs and kconfig are not supported\)$/],
  ['TC', /^EINVAL: object errors: section 'tc': not an XDP program section/],
  ['HELPER', /^EINVAL: program prog, instruction \d+ \(xdp\+\d+\): calls bpf_get_current_pid_tgid \(helper 14\), which xdpsim does not provide to XDP programs$/],
  ['PRINTK -DPROPRIETARY', /^EINVAL: program prog, instruction \d+ \(xdp\+\d+\): calls bpf_trace_printk, which is GPL-only, from a program whose license 'Proprietary' is not GPL-compatible$/],
];
for (const build of BUILDS) for (const [flag, re] of REFUSED) {
  test(`refused: ${flag} (${build})`, { skip: buildSkip(build) }, () => {
    const path = fixture('errors', 'v3', flag.split(' ').map((f) => (f.startsWith('-D') ? f : `-D${f}`)), FIXTURES, build);
    assert.throws(() => new BpfTestRun(path), (e: unknown) => e instanceof XdpsimError && e.code === 'EINVAL' && re.test(e.message));
  });
}

for (const build of BUILDS) test(`refused: no BTF (compiled without -g), big-endian, not ELF, an unknown opcode (${build})`, { skip: buildSkip(build) }, () => {
  assert.throws(() => new BpfTestRun(fixture('xdp_count', 'v3', ['-g0'], FIXTURES, build)), /section '\.maps': the object has no \.BTF section, so its maps have no definitions \(compile with -g\)/);
  assert.throws(() => new BpfTestRun(fixture('xdp_count', 'v3', ['-mbig-endian'], FIXTURES, build)), /not a little-endian ELF object/);
  assert.throws(() => new BpfTestRun(new Uint8Array(64)), /not an ELF file/);
  const bytes = Uint8Array.from(readFileSync(fixture('oob', 'v3', [], FIXTURES, build)));
  const elf = parseElf(bytes);
  const xdp = elf.byName('xdp')!;
  bytes[xdp.data.byteOffset + 8 * 1] = 0xff; /* instruction 1 of section xdp */
  assert.throws(() => new BpfTestRun(bytes, { name: 'patched' }), /program read_past_end, instruction 1 \(xdp\+1\): unknown .*opcode 0xff/);
});

for (const build of BUILDS) test(`the runtime refuses a bad object with the same error, and takes a good one next to TypeScript objects (${build})`, { skip: buildSkip(build) }, async () => {
  await withRuntime({ cpus: 1 }, async (rt) => {
    await assert.rejects(rt.loadObject(fixture('errors', 'v3', ['-DHELPER'], FIXTURES, build)), /calls bpf_get_current_pid_tgid \(helper 14\)/);
    const o = await rt.loadObject(fixture('sections', 'v3', [], FIXTURES, build));
    assert.deepEqual(Object.keys(o.progs), ['first', 'second', 'with_frags', 'on_egress']);
    assert.equal(o.license, 'Dual BSD/GPL');
    assert.deepEqual(Object.keys(o.maps), ['.bss', '.rodata']);
    assert.equal(o.maps['.bss']!.name, 'sections.bss');
  });
});

/* ---- malformed objects: each is an XdpsimError (EINVAL) naming the section and the offset, never a RangeError ---- */

/** A fresh copy of the committed xdp_count.v3.o, to patch. */
const goodObject = (): Uint8Array => Uint8Array.from(readFileSync(fixture('xdp_count', 'v3')));
const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
/** File offset of section header i. */
const shdrAt = (b: Uint8Array, i: number): number => Number(view(b).getBigUint64(40, true)) + i * 64;
/** File offset of a section's data (parseElf returns subarrays of the bytes it is given). */
const dataAt = (b: Uint8Array, name: string): number => parseElf(b).byName(name)!.data.byteOffset - b.byteOffset;

function refused(bytes: Uint8Array, re: RegExp): void {
  assert.throws(() => new BpfTestRun(bytes, { name: 'bad' }), (e: unknown) => {
    assert.ok(e instanceof XdpsimError, `not an XdpsimError: ${(e as Error).stack}`);
    assert.equal(e.code, 'EINVAL');
    assert.equal(e.errno, 22);
    assert.match(e.message, re);
    return true;
  });
}

test('malformed: a section name offset past the section name table (elf.ts cstr)', () => {
  for (const off of [0xffffffff, 335]) {
    const b = goodObject();
    view(b).setUint32(shdrAt(b, 3), off, true); /* sh_name of section 3 (xdp); .strtab (section 1) has 335 bytes */
    refused(b, new RegExp(`^EINVAL: object bad: section 3: name at offset ${off} is past the end of the section name table \\(section 1 '\\.strtab', 335 bytes\\)$`));
  }
  /* a symbol's st_name */
  const b = goodObject();
  view(b).setUint32(dataAt(b, '.symtab') + 2 * 24, 0xfffffff0, true);
  refused(b, /^EINVAL: object bad: section 30 '\.symtab', symbol 2: name at offset 4294967280 is past the end of the string table \(section 1 '\.strtab', 335 bytes\)$/);
});

test('malformed: a relocation offset past the section it applies to (object.ts)', () => {
  for (const off of [240n, 0xffffffffffffffffn]) {
    const b = goodObject();
    view(b).setBigUint64(dataAt(b, '.relxdp'), off, true); /* r_offset of relocation 0; xdp has 240 bytes */
    refused(b, new RegExp(`^EINVAL: object bad: section 4 '\\.relxdp', relocation 0: offset ${off} is past the end of section 3 'xdp' \\(240 bytes\\)$`));
  }
});

/* bytes after struct btf_type: INT, ARRAY, VAR, DECL_TAG; per vlen: STRUCT, UNION, ENUM, FUNC_PROTO, DATASEC, ENUM64 */
const BTF_FIXED: Record<number, number> = { 1: 4, 3: 12, 14: 4, 17: 4 };
const BTF_PER_VLEN: Record<number, number> = { 4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12 };
/** Each BTF type's kind, vlen and offset in the .BTF section (btf_type_size() of include/uapi/linux/btf.h). */
function btfTypes(btf: Uint8Array): { id: number; kind: number; vlen: number; off: number }[] {
  const dv = view(btf);
  const t0 = dv.getUint32(4, true) + dv.getUint32(8, true);
  const end = t0 + dv.getUint32(12, true);
  const out = [];
  for (let o = t0, id = 1; o < end; id++) {
    const info = dv.getUint32(o + 4, true);
    const kind = (info >>> 24) & 0x1f, vlen = info & 0xffff;
    out.push({ id, kind, vlen, off: o });
    o += 12 + (BTF_FIXED[kind] ?? 0) + vlen * (BTF_PER_VLEN[kind] ?? 0);
  }
  return out;
}

test('malformed: a BTF vlen past the type section (btf.ts)', () => {
  const b = goodObject();
  const btf = parseElf(b).byName('.BTF')!.data;
  const sec = btfTypes(btf).filter((t) => t.kind === BTF_KIND_DATASEC).at(-1)!;
  view(btf).setUint16(sec.off + 4, 0xffff, true); /* vlen of the last DATASEC */
  const typeEnd = view(btf).getUint32(4, true) + view(btf).getUint32(8, true) + view(btf).getUint32(12, true);
  refused(b, new RegExp(`^EINVAL: object bad: \\.BTF: type ${sec.id} \\(DATASEC '[^']+'\\) at offset ${sec.off}: 65535 entries of 12 bytes run past the end of the type section \\(offset ${typeEnd}\\)$`));
});
