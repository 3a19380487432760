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
  const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.c') && f !== 'errors.c').map((f) => f.slice(0, -2));
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
