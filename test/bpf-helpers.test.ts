/*
 * The helpers a clang-compiled XDP program calls, with their kernel
 * numbers and return values (test/fixtures/bpf/helpers.c writes what each
 * returned into res[] in .bss): map lookup/update/delete with the maps'
 * errnos, bpf_redirect and bpf_redirect_map's verdicts, adjust_head/tail/
 * meta, xdp_load/store_bytes and get_buff_len, ktime, the CPU id, prandom,
 * csum_diff and trace_printk. The same object compiled for -mcpu v1 to v4
 * gives the same results: the committed objects, and where clang is
 * installed the objects rebuilt from the source (v4 with clang 18+).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUILDS, buildSkip, fixture, type Build } from './objects.ts';
import { BpfTestRun } from '../src/bpf/load.ts';
import { bpfCsumDiff } from '../src/cpu/helpers.ts';
import { E2BIG, EACCES, EEXIST, EFAULT, EINVAL, ENOENT, XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_REDIRECT } from '../src/index.ts';
import { withRuntime } from './helpers.ts';

const PKT = Uint8Array.from({ length: 64 }, (_, i) => i);

function runProg(t: BpfTestRun, name: string, data = PKT) {
  t.maps['.bss']!.update(0, new Uint8Array(128));
  const r = t.run(name, { data });
  const v = t.maps['.bss']!.lookup(0)!;
  const dv = new DataView(v.buffer, v.byteOffset);
  return { r, res: Array.from({ length: 16 }, (_, i) => dv.getBigInt64(i * 8, true)) };
}

const CPUS = ['v1', 'v2', 'v3', 'v4'];
const objs = new Map<string, BpfTestRun>();
function obj(cpu: string, build: Build): BpfTestRun {
  let t = objs.get(`${build} ${cpu}`);
  if (t === undefined) {
    t = new BpfTestRun(fixture('helpers', cpu, [], undefined, build), { cpus: 2, cpu: 1 });
    objs.set(`${build} ${cpu}`, t);
  }
  return t;
}

for (const build of BUILDS) for (const cpu of CPUS) {
  const skip = buildSkip(build, cpu);
  test(`-mcpu=${cpu} (${build}): map helpers return the kernel's values and errnos`, { skip }, () => {
    const { r, res } = runProg(obj(cpu, build), 'maps');
    assert.equal(r.error, undefined);
    assert.equal(r.retval, XDP_PASS);
    assert.deepEqual(res.map(Number), [
      1, 1, /* lookup: a value; past max_entries NULL */
      0, -EEXIST, -E2BIG, -EINVAL, -EINVAL, /* array: update, BPF_NOEXIST, index past max, flags 3, delete */
      -ENOENT, 0, 0, -E2BIG, 0, -ENOENT, /* hash: BPF_EXIST on a missing key, insert, insert, full, delete, delete again */
      5, -1, 8, /* what the lookups found */
    ]);
  });

  test(`-mcpu=${cpu} (${build}): bpf_redirect and bpf_redirect_map verdicts`, { skip }, () => {
    const { r, res } = runProg(obj(cpu, build), 'redir');
    assert.equal(r.error, undefined);
    assert.deepEqual(res.slice(0, 5).map(Number), [XDP_REDIRECT, XDP_ABORTED, XDP_PASS, XDP_ABORTED, XDP_DROP]);
  });

  test(`-mcpu=${cpu} (${build}): adjust_head, adjust_tail, adjust_meta`, { skip }, () => {
    const { r, res } = runProg(obj(cpu, build), 'adjust');
    assert.equal(r.error, undefined);
    assert.deepEqual(res.slice(0, 8).map(Number), [0, 78, -EINVAL, 0, -EINVAL, 0, -EACCES, 4]);
    /* 14 new bytes in front (the first written by the program), the tail cut by 10 */
    assert.equal(r.data.length, 68);
    assert.deepEqual([...r.data.subarray(0, 15)], [0xaa, ...new Array<number>(13).fill(0), 0]);
    assert.deepEqual([...r.data.subarray(14)], [...PKT.subarray(0, 54)]);
    assert.equal(r.meta.length, 4);
  });

  test(`-mcpu=${cpu} (${build}): xdp_get_buff_len, xdp_load_bytes, xdp_store_bytes`, { skip }, () => {
    const { r, res } = runProg(obj(cpu, build), 'bytes');
    assert.equal(r.error, undefined);
    assert.deepEqual(res.slice(0, 7), [64n, 0n, 0x0908070605040302n, BigInt(-EINVAL), BigInt(-EFAULT), 0n, BigInt(-EINVAL)]);
    assert.deepEqual([...r.data.subarray(8, 16)], [8, 9, 1, 2, 3, 4, 14, 15]);
    assert.deepEqual([...r.data.subarray(60)], [60, 61, 62, 63]);
  });

  test(`-mcpu=${cpu} (${build}): ktime, smp_processor_id, prandom, csum_diff, trace_printk`, { skip }, () => {
    const { r, res } = runProg(obj(cpu, build), 'misc');
    assert.equal(r.error, undefined);
    assert.ok(res[0]! > 0n && res[1]! >= res[0]!, `ktime ${res[0]} then ${res[1]}`);
    assert.equal(res[2], 1n, 'the test run is CPU 1');
    assert.ok(res[3]! >= 0n && res[3]! <= 0xffffffffn);
    assert.deepEqual(res.slice(4, 10), [
      refCsum([0x11223344], [0x55667788], 0), refCsum([], [0x55667788, 0x01020304], 0x1234),
      refCsum([0x11223344, 0xaabbccdd], [], 0), BigInt(-EINVAL),
      BigInt('len 64 cpu 1\n'.length), BigInt(-EINVAL),
    ]);
  });
}

/* csum_partial over 32-bit words (as stored, little endian), with end-around carry */
function refCsum(from: number[], to: number[], seed: number): bigint {
  let s = BigInt(seed >>> 0);
  for (const w of [...from.map((x) => ~x >>> 0), ...to]) {
    s += BigInt(w >>> 0);
    if (s > 0xffffffffn) s -= 0xffffffffn;
  }
  return s;
}

test('bpf_csum_diff limits: sizes multiples of 4, 512 bytes in all', () => {
  assert.equal(bpfCsumDiff(new Uint8Array(256), new Uint8Array(256), 0), refNumber(256));
  assert.equal(bpfCsumDiff(new Uint8Array(256), new Uint8Array(260), 0), -EINVAL);
  assert.equal(bpfCsumDiff(new Uint8Array(2), null, 0), -EINVAL);
  assert.equal(bpfCsumDiff(null, null, 77), 77);
});
/* 64 words of ~0 (from) and 64 of 0 (to): 64 * 0xffffffff folded */
function refNumber(fromBytes: number): number {
  let s = 0;
  for (let i = 0; i < fromBytes / 4; i++) {
    s += 0xffffffff;
    if (s > 0xffffffff) s -= 0xffffffff;
  }
  return s;
}

for (const build of BUILDS) test(`on CPUs: printk records, the CPU id, and bpf_redirect_map through a devmap of the object (${build})`, { skip: buildSkip(build) }, async () => {
  const path = fixture('helpers', 'v3', [], undefined, build);
  await withRuntime({ cpus: 2 }, async (rt) => {
    const [a0] = rt.createVeth('hla', 'hlb', { rxQueues: 2 });
    const [b0, b1] = rt.createVeth('hlc', 'hld');
    const o = await rt.loadObject(path);
    a0.attachXdp(o.progs.misc!);
    await a0.inject({ count: 2, size: 70 });
    assert.equal(await rt.quiesce(), true);
    rt.collect();
    const msgs = rt.traceEvents('bpf_trace_printk').map((e) => e.msg);
    assert.equal(msgs.length, 2);
    for (const m of msgs) assert.match(String(m), /^len 70 cpu [01]\n$/);
    /* redir: dm[1] holds b0, so bpf_redirect_map(&dm, 1, XDP_DROP) sends every frame through b0 to its peer */
    o.maps.dm!.update(1, b0.ifindex);
    /* a veth transmits XDP frames only to a peer with a program (veth_xdp_xmit: -ENXIO otherwise) */
    b1.attachXdp(o.progs.bytes!);
    a0.attachXdp(o.progs.redir!);
    await a0.inject({ count: 5 });
    assert.equal(await rt.quiesce(), true);
    assert.equal(a0.stats().xdp_redirect, 5);
    assert.equal(b0.stats().tx_packets, 5);
    assert.equal(b1.stats().xdp_pass, 5);
    const st = await rt.stop();
    assert.equal(st.conserved, true);
  });
});

for (const build of BUILDS) test(`-mcpu=v4 objects (${build}): the v4 translation differs from v3`, { skip: buildSkip(build, 'v4') }, () => {
  /* the loop above already ran every helper test at v4; here the v4 object must differ from v3 */
  const v3 = obj('v3', build).obj.progs.map((p) => p.js).join('\n');
  const v4 = obj('v4', build).obj.progs.map((p) => p.js).join('\n');
  assert.notEqual(v3, v4);
});
