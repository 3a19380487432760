/*
 * No verifier, so memory is checked at run time: every load, store, atomic
 * and helper memory argument outside the packet (data_meta..data_end), the
 * frame's 512 bytes of stack (and its callers'), a map value, or the
 * fields of struct xdp_md ends the program with an exception naming the
 * instruction, and touches nothing. On a CPU that is XDP_ABORTED with an
 * xdp_exception record, like a TypeScript program that throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { I, arrayMap, cat } from './bpf-asm.ts';
import { BUILDS, buildSkip, fixture } from './objects.ts';
import { BpfTestRun, prepareInsns } from '../src/bpf/load.ts';
import type { BpfMapSpec } from '../src/bpf/object.ts';
import { BPF_F_RDONLY_PROG, BPF_MAP_TYPE_HASH, XDP_ABORTED, XDP_PASS } from '../src/index.ts';
import { withRuntime } from './helpers.ts';

const B = 0x10, W = 0x00, DW = 0x18;
/* r2 = data, r3 = data_end (64-byte packets: data + 64 == data_end) */
const PKT = [I.ldx(W, 2, 1, 0), I.ldx(W, 3, 1, 4)];
const PASS = [I.mov64(0, XDP_PASS), I.exit()];
/* r0 = lookup(map 0, key 0) (r1 is lost) */
const LOOKUP0 = [I.st(W, 10, -4, 0), I.ldMap(1, 0), I.mov64r(2, 10), I.alu64(0x00, 2, -4), I.call(1)];

function run(body: Uint8Array[], o: { maps?: BpfMapSpec[]; funcs?: number[]; data?: Uint8Array } = {}) {
  const t = new BpfTestRun(prepareInsns(cat(...body), { maps: o.maps ?? [arrayMap('v', 8)], ...(o.funcs ? { funcs: o.funcs } : {}) }));
  const data = o.data ?? Uint8Array.from({ length: 64 }, (_, i) => i);
  return { r: t.run('prog', { data }), t, data };
}

function aborted(body: Uint8Array[], re: RegExp, o: Parameters<typeof run>[1] = {}) {
  const x = run(body, o);
  assert.equal(x.r.retval, -1, `expected an exception, got retval ${x.r.retval}`);
  assert.match(x.r.error!, re);
  return x;
}

test('the packet: the last byte is readable, one past data_end or before data is not; a bad write changes nothing', () => {
  assert.equal(run([...PKT, I.ldx(B, 4, 2, 63), ...PASS]).r.retval, XDP_PASS);
  aborted([...PKT, I.ldx(B, 4, 2, 64), ...PASS], /prog: instruction 2 \(xdp\+2\): read of 1 byte at packet offset 64 is out of bounds \(the packet is data_meta\.\.data_end = 0\.\.64\)/);
  aborted([...PKT, I.ldx(B, 4, 2, -1), ...PASS], /read of 1 byte at packet offset -1 is out of bounds/);
  aborted([...PKT, I.ldx(DW, 4, 3, -7), ...PASS], /read of 8 bytes at packet offset 57/);
  const x = aborted([...PKT, I.st(W, 2, 0, -1), I.st(W, 2, 61, -1), ...PASS], /instruction 3 .*write of 4 bytes at packet offset 61/);
  /* the first store (in bounds) happened, the second did not */
  assert.deepEqual([...x.r.data.subarray(0, 4)], [255, 255, 255, 255]);
  assert.deepEqual([...x.r.data.subarray(56)], [56, 57, 58, 59, 60, 61, 62, 63]);
  /* through a pointer the analysis cannot type (spilled and reloaded): the same check at run time */
  aborted([...PKT, I.stx(DW, 10, 3, -8), I.ldx(DW, 4, 10, -8), I.ldx(B, 5, 4, 0), ...PASS], /read of 1 byte at packet offset 64/);
});

test('the stack: 512 bytes below the frame pointer, nothing above it or below it', () => {
  assert.equal(run([I.st(DW, 10, -512, 1), I.ldx(DW, 2, 10, -512), I.ldx(B, 2, 10, -1), ...PASS]).r.retval, XDP_PASS);
  aborted([I.ldx(DW, 2, 10, -520), ...PASS], /instruction 0 .*read of 8 bytes at stack offset -520 \(from the program's frame pointer\) is outside the stack of this frame and its callers/);
  aborted([I.st(DW, 10, 0, 1), ...PASS], /write of 8 bytes at stack offset 0/);
  aborted([I.st(W, 10, -2, 1), ...PASS], /write of 4 bytes at stack offset -2/);
  aborted([I.mov64r(2, 10), I.alu64(0x10, 2, 600), I.ldx(B, 3, 2, 0), ...PASS], /read of 1 byte at stack offset -600/);
  aborted([I.mov64r(2, 10), I.alu64(0x00, 2, 8), I.stx(B, 2, 2, -1), ...PASS], /write of 1 byte at stack offset 7/);
  /* a callee's frame is the 512 bytes below its own frame pointer; its caller's frame stays reachable through a pointer */
  const main = [I.mov64r(1, 10), I.callLocal(1), I.exit()];
  const ok = [I.ldx(DW, 0, 1, -8), I.st(DW, 10, -512, 0), I.mov64(0, XDP_PASS), I.exit()];
  assert.equal(run([I.st(DW, 10, -8, 0), ...main, ...ok], { funcs: [0, 4] }).r.retval, XDP_PASS);
  aborted([...main, I.ldx(DW, 0, 10, -520), I.exit()], /instruction 3 .*read of 8 bytes at stack offset -1032/, { funcs: [0, 3] });
});

test('map values: value_size bytes from the pointer lookup returned; read-only maps refuse stores', () => {
  assert.equal(run([...LOOKUP0, I.jmp(0x10, 0, 0, 1), I.ldx(DW, 1, 0, 0), ...PASS]).r.retval, XDP_PASS);
  aborted([...LOOKUP0, I.ldx(W, 1, 0, 5), ...PASS], /instruction 6 .*read of 4 bytes at offset 5 of a 8-byte map value is out of bounds/);
  aborted([...LOOKUP0, I.ldx(B, 1, 0, -1), ...PASS], /read of 1 byte at offset -1 of a 8-byte map value/);
  const x = aborted([...LOOKUP0, I.st(W, 0, 0, 7), I.st(DW, 0, 1, -1), ...PASS], /write of 8 bytes at offset 1 of a 8-byte map value/);
  assert.deepEqual([...x.t.maps.v!.lookup(0)!], [7, 0, 0, 0, 0, 0, 0, 0]);
  /* a global in .rodata: readable, not writable */
  const ro = [arrayMap('.rodata', 4, { kind: '.rodata', mapFlags: BPF_F_RDONLY_PROG })];
  assert.equal(run([I.ldMapValue(2, 0), I.ldx(W, 0, 2, 0), I.exit()], { maps: ro }).r.retval, 0);
  const y = aborted([I.ldMapValue(2, 0), I.st(W, 2, 0, 9), ...PASS], /write of 4 bytes at offset 0 of a map value: the map is read-only to programs/, { maps: ro });
  assert.deepEqual([...y.t.maps['.rodata']!.lookup(0)!], [0, 0, 0, 0]);
});

test('the context: u32 fields at 0..20 only, read-only, through the pointer the program got', () => {
  assert.equal(run([I.ldx(W, 0, 1, 16), I.ldx(W, 2, 1, 20), I.alu64r(0x00, 0, 2), I.exit()]).r.retval, 0);
  aborted([I.ldx(W, 2, 1, 24), ...PASS], /read of 4 bytes at context offset 24: struct xdp_md has u32 fields at offsets 0\.\.20/);
  aborted([I.ldx(DW, 2, 1, 0), ...PASS], /read of 8 bytes at context offset 0/);
  aborted([I.ldx(B, 2, 1, 12), ...PASS], /read of 1 byte at context offset 12/);
  aborted([I.st(W, 1, 12, 5), ...PASS], /write of 4 bytes to the context \(struct xdp_md is read-only\)/);
  aborted([I.alu64(0x00, 1, 4), I.ldx(W, 2, 1, 0), ...PASS], /context offset 4.*the context pointer was moved/);
});

test('NULL, scalars and map pointers are not memory', () => {
  const hash: BpfMapSpec = { name: 'h', kernelName: 'h', type: BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, kind: '.maps' };
  aborted([...LOOKUP0, I.ldx(DW, 1, 0, 0), ...PASS], /instruction 6 .*read of 8 bytes through a NULL pointer/, { maps: [hash] });
  aborted([I.mov64(2, 0x1000), I.ldx(W, 3, 2, 0), ...PASS], /read of 4 bytes at 0x0000000000001000 \+ 0: not a pointer into the packet, the stack, a map value or the context/);
  aborted([I.ldMap(2, 0), I.ldx(W, 3, 2, 0), ...PASS], /through a pointer to a map/);
  aborted([I.ldMap(2, 0), I.st(W, 2, 0, 0), ...PASS], /write of 4 bytes through a pointer to a map/);
});

test('helper memory arguments: keys, values and buffers are checked like loads and stores', () => {
  aborted([I.st(W, 10, -4, 0), I.ldMap(1, 0), I.mov64r(2, 10), I.alu64(0x00, 2, -2), I.call(1), ...PASS],
    /key of map 'v': read of 4 bytes at stack offset -2/);
  aborted([I.ldMap(1, 0), I.mov64r(2, 10), I.alu64(0x00, 2, -4), I.mov64r(3, 10), I.alu64(0x00, 3, -4), I.mov64(4, 0), I.call(2), ...PASS],
    /value for map 'v': read of 8 bytes at stack offset -4/);
  /* bpf_xdp_load_bytes(ctx, 0, fp - 4, 8) */
  aborted([I.mov64(2, 0), I.mov64r(3, 10), I.alu64(0x00, 3, -4), I.mov64(4, 8), I.call(189), ...PASS],
    /buffer of bpf_xdp_load_bytes: write of 8 bytes at stack offset -4/);
  aborted([I.mov64r(6, 1), I.mov64(1, 0), I.mov64(2, 0), I.call(44), ...PASS], /R1 of bpf_xdp_adjust_head is not the context pointer/);
});

test('atomics: only the stack and map values, in bounds and aligned', () => {
  aborted([...PKT, I.mov64(4, 1), I.atomic(W, 2, 4, 0, 0x00), ...PASS], /atomic operation on the packet/);
  aborted([...LOOKUP0, I.mov64(4, 1), I.atomic(DW, 0, 4, 4, 0x00), ...PASS], /write of 8 bytes at offset 4 of a 8-byte map value/);
  aborted([...LOOKUP0, I.mov64(4, 1), I.atomic(W, 0, 4, 2, 0x00), ...PASS], /misaligned 4-byte atomic at offset 2 of a map value/, { maps: [arrayMap('v', 16)] });
  aborted([I.mov64(4, 1), I.atomic(DW, 10, 4, -516, 0x00), ...PASS], /write of 8 bytes at stack offset -516/);
});

test('a loop that does not end is ended: more than a million instructions in one run, over the whole call chain', () => {
  const spin = /prog: instruction 2 \(xdp\+2\): more than 1000000 instructions in one run \(BPF_COMPLEXITY_LIMIT_INSNS\)/;
  const t0 = performance.now();
  aborted([I.mov64(1, 0), I.alu64(0x00, 1, 1), I.ja(-2), ...PASS], spin);
  /* bounded cost: a millisecond or two on a quiet machine; 100 ms is room for a busy one */
  assert.ok(performance.now() - t0 < 100, `${performance.now() - t0} ms`);
  /* a bounded loop of 100,000 iterations of 2 instructions is fine; 600,000 is past what the verifier would explore */
  assert.equal(run([I.mov64(1, 0), I.alu64(0x00, 1, 1), I.jmp(0xa0, 1, 100000, -2), I.mov64r(0, 1), I.exit()]).r.retval, 100000);
  aborted([I.mov64(1, 0), I.alu64(0x00, 1, 1), I.jmp(0xa0, 1, 600000, -2), I.mov64r(0, 1), I.exit()], spin);
  /* the charge runs across calls: a loop of calls to a function without loops of its own is ended too */
  const main = [I.mov64(6, 0), I.callLocal(2), I.alu64(0x00, 6, 1), I.ja(-3)];
  const f = [I.mov64(0, 0), I.mov64(0, 1), I.exit()];
  aborted([...main, ...f], /prog: instruction (1|3) .*more than 1000000 instructions in one run/, { funcs: [0, 4] });
});

for (const build of BUILDS) test(`on a CPU: an out-of-bounds access is XDP_ABORTED with an xdp_exception record, the note names the instruction, the CPU runs on (${build} oob.o)`, { skip: buildSkip(build) }, async () => {
  const obj = fixture('oob', 'v3', [], undefined, build);
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [v0] = rt.createVeth('ooba', 'oobb', { rxQueues: 2 });
    const o = await rt.loadObject(obj);
    v0.attachXdp(o.progs.read_past_end!);
    await v0.inject({ count: 50, flows: 8, size: 64 });
    assert.equal(await rt.quiesce(), true);
    const s = v0.stats();
    assert.equal(s.xdp_exception, 50);
    assert.equal(s.dropReasons.XDP_EXCEPTION, 50);
    rt.collect();
    const ex = rt.traceEvents('xdp_exception');
    assert.equal(ex.length, 50);
    for (const e of ex) {
      assert.equal(e.act, XDP_ABORTED);
      assert.equal(e.prog_id, o.progs.read_past_end!.id);
    }
    const notes = rt.stats().cpus.map((c) => c.last_exception).filter((n) => n !== '');
    assert.ok(notes.length > 0);
    for (const n of notes) assert.match(n, /read_past_end: instruction \d+ \(xdp\+\d+\): read of 1 byte at packet offset 64 is out of bounds \(the packet is data_meta\.\.data_end = 0\.\.64\)/);
    /* the CPUs keep running: the in-bounds program passes the same frames */
    v0.attachXdp(o.progs.read_last!);
    await v0.inject({ count: 50, flows: 8, size: 64 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(v0.stats().xdp_pass, 50);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
  });
});
