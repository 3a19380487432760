/*
 * Fuzzing the capture reader: good pcap and pcapng files (both byte orders,
 * usec and nsec, several interfaces, comments, two sections of different
 * byte orders), mutated (random bytes, truncation, every header, block and
 * option field set to boundary values in its section's byte order, blocks
 * dropped, repeated, moved or added), each parsed as a replay reads it.
 * Every refusal is a CaptureError, an XdpsimError (EINVAL) naming the file
 * and the byte offset at fault, never a RangeError, a hang or an allocation
 * larger than the file; what parses is consistent (each packet's bytes
 * within its original length and its interface defined). Some mutants are
 * replayed onto a device of a running Runtime, which afterwards has every
 * CPU alive, replays the good file byte for byte and conserves every frame.
 *
 * Seeded and deterministic: XDPSIM_FUZZ_SEED=N explores another sequence
 * (XDPSIM_FUZZ_MUTANTS=N parses N instead of 6000 in the first test); every
 * failure names the seed, the mutant and its mutation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureError, parseCapture, readCapture, writePcap, writePcapng, type CaptureFile } from '../src/gen/pcap.ts';
import { compileTraffic } from '../src/gen/packets.ts';
import { XdpsimError, type TapPacket } from '../src/index.ts';
import { withRuntime } from './helpers.ts';
import { prng } from '../src/shared/prng.ts';

const SEED = Number(process.env.XDPSIM_FUZZ_SEED ?? 0x9ca9);
const IN_THREAD = Number(process.env.XDPSIM_FUZZ_MUTANTS ?? 6000);
const IN_RUNTIME = 40;

/* ---- good files ---- */

const TS = 1_700_000_000_000_000_000n;
const tr = compileTraffic({ flows: 8, size: { min: 60, max: 160 }, seed: 15 });
const FRAMES = Array.from({ length: 12 }, (_, i) => {
  const b = new Uint8Array(tr.sizes[i]!);
  tr.write(i % 8, b.length, b, 0);
  return b;
});
const pcapPackets = FRAMES.map((data, i) => ({ data, tsNs: TS + BigInt(i) * 1000n }));
const ngPackets = FRAMES.map((data, i) => ({ ifIndex: i % 2, data, tsNs: TS + BigInt(i) * 1000n, ...(i % 3 === 0 ? { comment: `packet ${i}` } : {}) }));

const pad4 = (n: number): number => (n + 3) & ~3;
const swap32 = (dv: DataView, at: number): void => dv.setUint32(at, dv.getUint32(at, true), false);
const swap16 = (dv: DataView, at: number): void => dv.setUint16(at, dv.getUint16(at, true), false);

/** A little-endian pcap file as the big-endian writer of the same packets would write it. */
function pcapToBe(le: Uint8Array): Uint8Array {
  const b = Uint8Array.from(le);
  const dv = new DataView(b.buffer);
  swap32(dv, 0); swap16(dv, 4); swap16(dv, 6); swap32(dv, 8); swap32(dv, 12); swap32(dv, 16); swap32(dv, 20);
  for (let o = 24; o < b.length;) {
    const incl = dv.getUint32(o + 8, true);
    for (let k = 0; k < 16; k += 4) swap32(dv, o + k);
    o += 16 + incl;
  }
  return b;
}

/** Options from `p` to `end` of a little-endian block: swap each code and length (the values here are bytes). */
function swapOptions(dv: DataView, p: number, end: number): void {
  while (p + 4 <= end) {
    const code = dv.getUint16(p, true), len = dv.getUint16(p + 2, true);
    swap16(dv, p); swap16(dv, p + 2);
    if (code === 0) break;
    p += 4 + pad4(len);
  }
}

/** The blocks writePcapng wrote (SHB, IDB, EPB), in big-endian. */
function pcapngToBe(le: Uint8Array): Uint8Array {
  const b = Uint8Array.from(le);
  const dv = new DataView(b.buffer);
  for (let o = 0; o < b.length;) {
    const type = dv.getUint32(o, true), len = dv.getUint32(o + 4, true);
    const end = o + len - 4;
    if (type === 0x0a0d0d0a) {
      swap32(dv, o + 8); swap16(dv, o + 12); swap16(dv, o + 14);
      dv.setBigInt64(o + 16, dv.getBigInt64(o + 16, true), false);
      swapOptions(dv, o + 24, end);
    } else if (type === 1) {
      swap16(dv, o + 8); swap16(dv, o + 10); swap32(dv, o + 12);
      swapOptions(dv, o + 16, end);
    } else if (type === 6) {
      const cap = dv.getUint32(o + 20, true);
      for (let k = 8; k < 28; k += 4) swap32(dv, o + k);
      swapOptions(dv, o + 28 + pad4(cap), end);
    } else {
      throw new Error(`block type ${type} at ${o}: not one writePcapng writes`);
    }
    swap32(dv, o); swap32(dv, o + 4); swap32(dv, end);
    o += len;
  }
  return b;
}

const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};

const IFACES = [{ name: 'eth0' }, { name: 'eth1', snapLen: 9000 }];
interface Good { name: string; bytes: Uint8Array }
const GOOD: Good[] = [
  { name: 'usec.pcap', bytes: writePcap(pcapPackets) },
  { name: 'nsec-snap.pcap', bytes: writePcap(pcapPackets, { nano: true, snapLen: 100 }) },
  { name: 'be.pcap', bytes: pcapToBe(writePcap(pcapPackets, { nano: true })) },
  { name: 'le.pcapng', bytes: writePcapng(IFACES, ngPackets) },
  { name: 'be.pcapng', bytes: pcapngToBe(writePcapng(IFACES, ngPackets)) },
  /* two sections: little-endian with two interfaces, then big-endian with one */
  { name: 'two-sections.pcapng', bytes: cat(writePcapng(IFACES, ngPackets.slice(0, 6)), pcapngToBe(writePcapng([{ name: 'eth9' }], ngPackets.slice(6).map((p) => ({ ...p, ifIndex: 0 }))))) },
];

/* ---- where the fields are ---- */

type Width = 8 | 16 | 32 | 64;
interface Field { at: number; width: Width; le: boolean; what: string; ctx: number[] }
interface Layout { name: string; bytes: Uint8Array; fields: Field[]; blocks: { off: number; len: number }[] }

function layout(g: Good): Layout {
  const b = g.bytes;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fields: Field[] = [];
  const blocks: Layout['blocks'] = [];
  const f = (at: number, width: Width, le: boolean, what: string, ...ctx: number[]): void => {
    fields.push({ at, width, le, what: `${what} at offset ${at}`, ctx: [b.length, ...ctx] });
  };
  if (g.name.endsWith('.pcap')) {
    const le = dv.getUint32(0, true) === 0xa1b2c3d4 || dv.getUint32(0, true) === 0xa1b23c4d;
    f(0, 32, le, 'magic'); f(4, 16, le, 'version_major', 2); f(6, 16, le, 'version_minor', 4);
    f(16, 32, le, 'snaplen', 262144, 100); f(20, 32, le, 'linktype', 1);
    for (let o = 24; o < b.length;) {
      const incl = dv.getUint32(o + 8, le), orig = dv.getUint32(o + 12, le);
      blocks.push({ off: o, len: 16 + incl });
      f(o, 32, le, 'ts_sec'); f(o + 4, 32, le, 'ts_frac', 999999, 999999999);
      f(o + 8, 32, le, 'incl_len', incl, orig, b.length - o - 16, 262144);
      f(o + 12, 32, le, 'orig_len', incl, orig);
      o += 16 + incl;
    }
  } else {
    let le = true;
    let nIf = 0;
    for (let o = 0; o < b.length;) {
      if (dv.getUint32(o, true) === 0x0a0d0d0a) le = dv.getUint32(o + 8, true) === 0x1a2b3c4d;
      const type = dv.getUint32(o, le), len = dv.getUint32(o + 4, le);
      blocks.push({ off: o, len });
      const end = o + len - 4;
      f(o, 32, le, 'block type', 1, 2, 3, 4, 5, 6, 0x0a0d0d0a);
      f(o + 4, 32, le, 'block total length', len, len - 4, len + 4, 12, b.length - o);
      f(end, 32, le, 'trailing block length', len, 12);
      let opts = end;
      if (type === 0x0a0d0d0a) {
        nIf = 0;
        f(o + 8, 32, le, 'byte-order magic', 0x1a2b3c4d, 0x4d3c2b1a);
        f(o + 12, 16, le, 'major version', 1); f(o + 16, 64, le, 'section length');
        opts = o + 24;
      } else if (type === 1) {
        nIf++;
        f(o + 8, 16, le, 'link type', 1); f(o + 12, 32, le, 'snaplen', 9000, 60);
        opts = o + 16;
      } else if (type === 6) {
        const cap = dv.getUint32(o + 20, le), orig = dv.getUint32(o + 24, le);
        f(o + 8, 32, le, 'interface id', nIf, nIf - 1, nIf + 1);
        f(o + 12, 32, le, 'timestamp high'); f(o + 16, 32, le, 'timestamp low');
        f(o + 20, 32, le, 'captured length', cap, orig, len - 32, len);
        f(o + 24, 32, le, 'original length', cap, orig);
        opts = o + 28 + pad4(cap);
      }
      for (let p = opts; p + 4 <= end;) {
        const code = dv.getUint16(p, le), olen = dv.getUint16(p + 2, le);
        f(p, 16, le, `option code`, 0, 1, 2, 9, 14);
        f(p + 2, 16, le, `option length`, olen, end - p - 4, end - p);
        if (code === 9) f(p + 4, 8, le, 'if_tsresol', 9, 0x80 | 63, 127);
        if (code === 0) break;
        p += 4 + pad4(olen);
      }
      o += len;
    }
  }
  return { name: g.name, bytes: b, fields, blocks };
}

/* ---- mutations ---- */

class Mutator {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }

  set(b: Uint8Array, f: Field): string {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const max = (1n << BigInt(f.width)) - 1n;
    const old = f.width === 8 ? BigInt(dv.getUint8(f.at)) : f.width === 16 ? BigInt(dv.getUint16(f.at, f.le))
      : f.width === 32 ? BigInt(dv.getUint32(f.at, f.le)) : dv.getBigUint64(f.at, f.le);
    const c = BigInt(this.pick(f.ctx));
    const v = this.pick([0n, 1n, max, max >> 1n, (max >> 1n) + 1n, old - 1n, old + 1n, old + 4n, old - 4n, c - 1n, c, c + 1n,
      BigInt(Math.floor(this.rnd() * 2 ** 32))]) & max;
    if (f.width === 8) dv.setUint8(f.at, Number(v));
    else if (f.width === 16) dv.setUint16(f.at, Number(v), f.le);
    else if (f.width === 32) dv.setUint32(f.at, Number(v), f.le);
    else dv.setBigUint64(f.at, v, f.le);
    return `${f.what}: ${old} -> ${v}`;
  }

  mutate(l: Layout): { bytes: Uint8Array; kind: string; what: string } {
    let b: Uint8Array = Uint8Array.from(l.bytes);
    const len = b.length;
    const kind = this.pick(['bytes', 'truncate', 'field', 'field', 'field', 'field', 'two fields', 'block'] as const);
    const whats: string[] = [];
    switch (kind) {
      case 'bytes':
        for (let n = 1 + this.int(6); n > 0; n--) {
          const at = this.int(len), v = this.int(256);
          whats.push(`byte ${at}: ${b[at]} -> ${v}`);
          b[at] = v;
        }
        break;
      case 'truncate': {
        const blk = this.pick(l.blocks);
        const to = this.pick([0, 1, 3, 4, 23, 24, 27, blk.off, blk.off + 4, blk.off + 8, blk.off + blk.len - 1, len - 1, this.int(len)]);
        b = b.subarray(0, Math.min(to, len));
        whats.push(`truncated to ${b.length} of ${len} bytes`);
        break;
      }
      case 'field': case 'two fields':
        for (let n = kind === 'field' ? 1 : 2; n > 0; n--) whats.push(this.set(b, this.pick(l.fields)));
        break;
      default: { /* block: drop, repeat or move one (a pcap record, a pcapng block), or add an unknown block */
        const k = this.int(l.blocks.length);
        const blk = l.blocks[k]!;
        const body = b.slice(blk.off, blk.off + blk.len);
        const without = cat(b.subarray(0, blk.off), b.subarray(blk.off + blk.len));
        const op = this.pick(['drop', 'repeat', 'move first', 'unknown'] as const);
        const first = l.blocks[0]!.off;
        if (op === 'drop') b = without;
        else if (op === 'repeat') b = cat(b.subarray(0, blk.off + blk.len), body, b.subarray(blk.off + blk.len));
        else if (op === 'move first') b = cat(without.subarray(0, first), body, without.subarray(first));
        else {
          const u = new Uint8Array(16);
          const dv = new DataView(u.buffer);
          dv.setUint32(0, 0x12345678, true); dv.setUint32(4, 16, true); dv.setUint32(12, 16, true);
          b = cat(b.subarray(0, blk.off), u, b.subarray(blk.off));
        }
        whats.push(`${op} block ${k} (offset ${blk.off}, ${blk.len} bytes)`);
      }
    }
    return { bytes: b, kind, what: whats.join(', ') };
  }
}

/* ---- the assertions ---- */

/** A refusal: a CaptureError (an XdpsimError, EINVAL) of one line naming the file and an offset in it. */
function assertRefusal(e: unknown, name: string, len: number, ctx: string): CaptureError {
  if (!(e instanceof CaptureError)) assert.fail(`${ctx}: not a CaptureError: ${e instanceof Error ? e.stack : String(e)}`);
  assert.ok(e instanceof XdpsimError, ctx);
  assert.equal(e.code, 'EINVAL', ctx);
  assert.equal(e.errno, 22, ctx);
  assert.ok(Number.isInteger(e.offset) && e.offset >= 0 && (e.offset < len || e.offset === 0), `${ctx}: offset ${e.offset} of ${len} bytes`);
  assert.ok(e.message.startsWith(`${name}: `), `${ctx}: ${e.message}`);
  assert.match(e.message, new RegExp(`at offset ${e.offset}: `), ctx);
  assert.ok(!e.message.includes('\n'), ctx);
  return e;
}

/** What parses is consistent: packets within their lengths and the file, each on an interface it defines. */
function assertSane(f: CaptureFile, len: number, ctx: string): void {
  let bytes = 0;
  for (const [i, p] of f.packets.entries()) {
    assert.ok(p.data.length <= p.origLen, `${ctx}: packet ${i} has ${p.data.length} bytes of ${p.origLen}`);
    assert.ok(p.ifIndex >= 0 && p.ifIndex < f.interfaces.length, `${ctx}: packet ${i} on interface ${p.ifIndex} of ${f.interfaces.length}`);
    bytes += p.data.length;
  }
  assert.ok(bytes <= len, `${ctx}: ${bytes} packet bytes from a file of ${len}`);
}

test('the good files parse: every packet byte for byte, in each byte order and section', () => {
  for (const g of GOOD) {
    const f = parseCapture(g.bytes, g.name);
    assert.equal(f.packets.length, 12, g.name);
    f.packets.forEach((p, i) => {
      const want = g.name === 'nsec-snap.pcap' ? FRAMES[i]!.subarray(0, 100) : FRAMES[i]!;
      assert.deepEqual(p.data, want, `${g.name} packet ${i}`);
      assert.equal(p.origLen, FRAMES[i]!.length);
    });
    assert.equal(f.byteOrder, g.name.startsWith('be') ? 'big' : 'little', g.name);
  }
  const two = parseCapture(GOOD[5]!.bytes);
  assert.deepEqual(two.interfaces.map((i) => [i.name, i.section]), [['eth0', 0], ['eth1', 0], ['eth9', 1]]);
  assert.deepEqual(two.packets.map((p) => p.ifIndex), [0, 1, 0, 1, 0, 1, 2, 2, 2, 2, 2, 2]);
});

test(`fuzz: ${IN_THREAD} mutated pcap and pcapng files parsed: every refusal is a CaptureError naming the file and the offset (seed ${SEED})`, () => {
  const layouts = GOOD.map(layout);
  const m = new Mutator(prng(SEED));
  const refused = new Map<string, number>();
  let parsed = 0;
  const t0 = performance.now();
  for (let i = 0; i < IN_THREAD; i++) {
    const l = m.pick(layouts);
    const { bytes, kind, what } = m.mutate(l);
    const ctx = `seed ${SEED}, mutant ${i}: ${l.name}, ${kind}: ${what}`;
    const name = `mutant.${l.name}`;
    let f: CaptureFile;
    try {
      f = parseCapture(bytes, name);
    } catch (e) {
      assertRefusal(e, name, bytes.length, ctx);
      refused.set(kind, (refused.get(kind) ?? 0) + 1);
      continue;
    }
    assertSane(f, bytes.length, ctx);
    parsed++;
  }
  const ms = performance.now() - t0;
  for (const k of ['bytes', 'truncate', 'field', 'two fields', 'block']) assert.ok((refused.get(k) ?? 0) > 0, `seed ${SEED}: no ${k} mutant was refused`);
  console.log(`# ${IN_THREAD} mutants in ${ms.toFixed(0)} ms: ${parsed} parsed, refused ${JSON.stringify(Object.fromEntries(refused))}`);
});

test('readCapture: a file that cannot be read is an XdpsimError with its errno, one line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xdpsim-fuzz-pcap-'));
  try {
    await assert.rejects(readCapture(join(dir, 'none.pcap')), (e: unknown) => {
      assert.ok(e instanceof XdpsimError);
      assert.equal(e.code, 'ENOENT');
      assert.equal(e.message, `ENOENT: ${join(dir, 'none.pcap')}: no such file or directory`);
      return true;
    });
    await assert.rejects(readCapture(dir), (e: unknown) => {
      assert.ok(e instanceof XdpsimError);
      assert.equal(e.errno, 21);
      assert.match(e.message, new RegExp(`^E(ISDIR|21): ${dir}: illegal operation on a directory`));
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`fuzz: ${IN_RUNTIME} mutated captures replayed onto a device, then the good one replays byte for byte on every CPU and every frame is conserved (seed ${SEED})`, async () => {
  const layouts = GOOD.map(layout);
  const m = new Mutator(prng(SEED ^ 0x5eed));
  const dir = mkdtempSync(join(tmpdir(), 'xdpsim-fuzz-pcap-'));
  try {
    await withRuntime({ cpus: 2 }, async (rt) => {
      const died: string[] = [];
      rt.on('cpu-error', (cpu: number, err: Error) => died.push(`cpu ${cpu}: ${err.message}`));
      const [v0] = rt.createVeth('fz0', 'fz1', { rxQueues: 2 });
      let sent = 0;
      let refusedParse = 0;
      for (let i = 0; i < IN_RUNTIME; i++) {
        const l = m.pick(layouts);
        const { bytes, kind, what } = m.mutate(l);
        const ctx = `seed ${SEED ^ 0x5eed}, replayed mutant ${i}: ${l.name}, ${kind}: ${what}`;
        const path = join(dir, `mutant.${i}.${l.name}`);
        writeFileSync(path, bytes);
        try {
          sent += (await (await v0!.generate({ replay: path })).done).sent;
        } catch (e) {
          if (!(e instanceof XdpsimError)) assert.fail(`${ctx}: not an XdpsimError: ${e instanceof Error ? e.stack : String(e)}`);
          assert.ok(!e.message.includes('\n'), ctx);
          /* the reader's refusals keep the file and the offset; the generator's own name the packet or the capture */
          if (e.message.includes(' at offset ')) {
            assert.match(e.message, new RegExp(`^EINVAL: generate on 'fz0': ${path}: .* at offset \\d+: `), ctx);
            refusedParse++;
          } else {
            assert.match(e.message, /^E[A-Z0-9]+: generate on 'fz0': (packet \d+ |the capture )/, ctx);
          }
        }
      }
      assert.ok(refusedParse > 0, 'no mutant was refused by the reader');
      assert.equal(await rt.quiesce(), true);
      assert.deepEqual(died, []);
      /* the good file after the bad ones: every packet, byte for byte, spread over both CPUs */
      const good = join(dir, 'good.pcapng');
      writeFileSync(good, GOOD[5]!.bytes);
      const got: TapPacket[] = [];
      v0!.onPass((p) => got.push(p));
      const r = await (await v0!.generate({ replay: good, loops: 2 })).done;
      assert.equal(r.sent, 24);
      assert.equal(await rt.quiesce(), true);
      rt.collect();
      assert.equal(got.length, 24);
      const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
      assert.deepEqual(got.map((p) => hex(p.data)).sort(), [...FRAMES, ...FRAMES].map(hex).sort());
      assert.deepEqual([...new Set(got.map((p) => p.cpu))].sort(), [0, 1]);
      assert.deepEqual(died, []);
      const st = await rt.stop();
      assert.equal(st.conserved, true);
      assert.equal(st.totals.injected, sent + 24);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
