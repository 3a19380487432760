/*
 * The translator: one linked BPF program (object.ts) becomes the source of
 * a JavaScript function, once, at load; V8 then compiles it like any other
 * function. Every BPF function becomes a JS function; each register is a
 * pair of int32 locals (rNl, rNh: the low and high halves of the 64-bit
 * value, exact two's complement arithmetic with carries, Math.imul-based
 * multiplication) plus rNo, the map value a map-value pointer points into.
 *
 * Pointers are tagged in their high half: a pointer into the packet, the
 * stack, the context, a map value or to a map has a high half that no
 * number a program computes has by accident (PKT_HI, STK_HI, ...), and a
 * low half that is the offset in that region. Pointer arithmetic is plain
 * 64-bit arithmetic, so `data + 14 > data_end` compares as the kernel's
 * does; a load or store checks at run time that its address is in its
 * region (the packet between data_meta and data_end, the frame's 512 bytes
 * of stack and those of its callers, the map value's value_size bytes, the
 * fields of struct xdp_md), and otherwise throws: the program ends as
 * XDP_ABORTED with an xdp_exception (src/cpu/cpu.ts), having touched
 * nothing. A small abstract interpretation (the verifier's register types,
 * without its proofs) tells which region a base register points to at each
 * instruction, so most accesses check one region only; the others dispatch
 * on the tag.
 *
 * Control flow: a function without backward jumps becomes nested labeled
 * blocks (a forward jump is a `break`); one with loops becomes a
 * `for (;;) switch (pc)` over its basic blocks.
 *
 * Concurrency: pure functions producing source text; safe on any thread.
 * The generated code runs on one CPU worker against that worker's Vm
 * (vm.ts).
 */
import {
  BPF_ADD, BPF_ALU, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_ATOMIC, BPF_B, BPF_CALL, BPF_CMPXCHG, BPF_DIV, BPF_DW, BPF_END,
  BPF_EXIT, BPF_FETCH, BPF_H, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JMP, BPF_JMP32, BPF_JNE,
  BPF_JSET, BPF_JSGE, BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_LD, BPF_LDX, BPF_LSH, BPF_MEM, BPF_MEMSX, BPF_MOD, BPF_MOV,
  BPF_MUL, BPF_NEG, BPF_OR, BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE, BPF_RSH,
  BPF_ST, BPF_STX, BPF_SUB, BPF_W, BPF_X, BPF_XCHG, BPF_XOR, BPF_FUNC_map_lookup_elem, BPF_FUNC_trace_printk,
  MAX_BPF_STACK, MAX_CALL_FRAMES, SUPPORTED_HELPERS, decodeInsns, helperName,
  BPF_FUNC_map_update_elem, BPF_FUNC_map_delete_elem, BPF_FUNC_ktime_get_ns, BPF_FUNC_get_prandom_u32,
  BPF_FUNC_get_smp_processor_id, BPF_FUNC_redirect, BPF_FUNC_csum_diff, BPF_FUNC_xdp_adjust_head, BPF_FUNC_redirect_map,
  BPF_FUNC_xdp_adjust_meta, BPF_FUNC_xdp_adjust_tail, BPF_FUNC_xdp_get_buff_len, BPF_FUNC_xdp_load_bytes,
  BPF_FUNC_xdp_store_bytes, BPF_TO_BE,
} from './insn.ts';
import { BpfLoadError, licenseIsGplCompatible, type BpfProgSpec } from './object.ts';
import { E2BIG } from '../shared/errno.ts';

/* the high halves of tagged pointers (see vm.ts, which uses the same values) */
export const CTX_HI = 0x43545800;
export const PKT_HI = 0x504b5400;
export const STK_HI = 0x53544b00;
export const MV_HI = 0x4d565700;
export const MVRO_HI = 0x4d565200;
export const MAP_HI = 0x4d415000;
/**
 * The cost one run may take before it is ended as an exception: the
 * verifier refuses a loop it cannot prove bounded, and explores at most a
 * million instructions (BPF_COMPLEXITY_LIMIT_INSNS), every iteration of a
 * bounded loop included; so no program the kernel loads runs more. This is
 * the run-time stand-in, charged over the whole call chain of one run: a
 * backward jump charges the instructions of the loop it closes (from its
 * target to itself), a call charges its callee's instructions, so the
 * charge bounds the instructions run, and a program that never ends is
 * stopped after about a million (a millisecond or two).
 */
export const MAX_RUN_INSNS = 1_000_000;
/** the stack: MAX_CALL_FRAMES frames of MAX_BPF_STACK bytes; the program's frame is the top one */
export const STACK_SIZE = MAX_BPF_STACK * MAX_CALL_FRAMES;

/* register kinds of the abstract interpretation */
const K_ANY = 0;
const K_SCALAR = 1;
const K_CTX = 2;
const K_PKT = 3;
const K_STK = 4;
const K_MV = 5;
const K_MAP = 6;
const isPtr = (k: number): boolean => k >= K_CTX;

export interface TranslateMap {
  keySize: number;
  valueSize: number;
}

export interface TranslateInput {
  prog: BpfProgSpec;
  maps: TranslateMap[];
  license: string;
}

/*
 * The source of the body of `function (S) { ... }` that returns the
 * program's function (ctx) => verdict. S is the CPU's Vm for the object.
 */
export function translate(input: TranslateInput): string {
  const { prog } = input;
  const ins = decodeInsns(prog.insns);
  const n = ins.code.length;
  const where = (pc: number): string => `program ${prog.name}, instruction ${pc} (${prog.origin[pc] ?? '?'})`;
  const fail = (pc: number, msg: string): never => {
    throw new BpfLoadError(`${where(pc)}: ${msg}`);
  };
  const starts = prog.funcs.map((f) => f.start);
  /* a function ends where the next one (in address order) starts */
  const sorted = [...starts].sort((a, b) => a - b);
  const ends = starts.map((s0) => sorted.find((s) => s > s0) ?? n);
  checkCallDepth();
  const out: string[] = [];
  out.push('"use strict";');
  for (let k = 1; k < starts.length; k++) out.push(func(k));
  out.push(func(0));
  out.push('return F0;');
  return out.join('\n');

  /*
   * check_max_stack_depth(): follow the calls from the program's entry; a
   * chain of more than MAX_CALL_FRAMES frames is refused (E2BIG), and so is
   * recursion, which the kernel finds the same way (its chain never ends).
   * Each function's deepest chain is computed once.
   */
  function checkCallDepth(): void {
    const calls: Array<Array<[number, number]>> = starts.map(() => []);
    for (let k = 0; k < starts.length; k++) {
      for (let pc = starts[k]!; pc < ends[k]!; pc++) {
        const c = ins.code[pc]!;
        if (c === (BPF_LD | BPF_IMM | BPF_DW)) {
          pc++;
          continue;
        }
        if (c === (BPF_JMP | BPF_CALL) && ins.src[pc] === BPF_PSEUDO_CALL) {
          const k2 = starts.indexOf(pc + ins.imm[pc]! + 1);
          if (k2 < 0) fail(pc, `call to instruction ${pc + ins.imm[pc]! + 1}, which starts no function`);
          calls[k]!.push([pc, k2]);
        }
      }
    }
    /* deepest[k]: frames of the deepest chain from function k (itself included); onPath: recursion */
    const deepest = new Array<number>(starts.length).fill(0);
    const onPath = new Uint8Array(starts.length);
    const depth = (k: number, frames: number): number => {
      if (deepest[k]! > 0) return deepest[k]!;
      onPath[k] = 1;
      let d = 1;
      for (const [pc, k2] of calls[k]!) {
        if (onPath[k2] === 1) {
          throw new BpfLoadError(`${where(pc)}: the call stack of ${MAX_CALL_FRAMES + 1} frames is too deep: the function at instruction ${starts[k2]} calls itself, directly or through others (recursion)`, E2BIG);
        }
        const sub = depth(k2, frames + 1);
        if (frames + sub > MAX_CALL_FRAMES) {
          throw new BpfLoadError(`${where(pc)}: the call stack of ${frames + sub} frames is too deep (at most ${MAX_CALL_FRAMES}, MAX_CALL_FRAMES)`, E2BIG);
        }
        d = Math.max(d, sub + 1);
      }
      onPath[k] = 0;
      deepest[k] = d;
      return d;
    };
    depth(0, 1);
  }

  function func(k: number): string {
    const lo = starts[k]!;
    const hi = ends[k]!;
    const main = k === 0;
    /* ---- validate, find leaders and edges ---- */
    const isWide = new Uint8Array(n);
    const leaders = new Set<number>([lo]);
    /* the targets of jumps that do not fall through: the labels of the emitted blocks */
    const targets = new Set<number>();
    let backward = false;
    const jumpTarget = (pc: number): number => {
      const c = ins.code[pc]!;
      const off = (c & 0x07) === BPF_JMP32 && (c & 0xf0) === BPF_JA ? ins.imm[pc]! : ins.off[pc]!;
      const t = pc + off + 1;
      if (t < lo || t >= hi) fail(pc, `jump to instruction ${t}, outside its function (${lo}..${hi - 1})`);
      if (isWide[t - 1] === 1 && t - 1 >= lo) fail(pc, `jump into the middle of an ld_imm64 at ${t - 1}`);
      if (t <= pc) backward = true;
      return t;
    };
    for (let pc = lo; pc < hi; pc++) {
      const c = ins.code[pc]!;
      if (c === (BPF_LD | BPF_IMM | BPF_DW)) {
        if (pc + 1 >= hi) fail(pc, 'ld_imm64 without its second half');
        isWide[pc] = 1;
        pc++;
      }
    }
    for (let pc = lo; pc < hi; pc++) {
      if (isWide[pc]) {
        pc++;
        continue;
      }
      const c = ins.code[pc]!;
      const cl = c & 0x07;
      if (cl === BPF_JMP || cl === BPF_JMP32) {
        const o = c & 0xf0;
        if (o === BPF_CALL || o === BPF_EXIT) {
          if (o === BPF_EXIT && pc + 1 < hi) leaders.add(pc + 1);
          continue;
        }
        const t = jumpTarget(pc);
        leaders.add(t);
        if (t !== pc + 1) targets.add(t);
        if (pc + 1 < hi) leaders.add(pc + 1);
      }
    }
    const blocks = [...leaders].sort((a, b) => a - b);
    /* ---- abstract interpretation: the kind of each register before each instruction ---- */
    const kinds = analyze(lo, hi, main, isWide, jumpTarget);
    const kindAt = (pc: number, r: number): number => (r === 10 ? K_STK : kinds[pc] === null ? K_ANY : kinds[pc]![r]!);

    /* ---- emit ---- */
    const L = (r: number): string => `r${r}l`;
    const H = (r: number): string => `r${r}h`;
    const O = (r: number): string => `r${r}o`;
    const body: string[] = [];
    const emit = (s: string): void => {
      body.push(s);
    };
    const labelMode = !backward && blocks.length < 800;
    const sortedTargets = [...targets].sort((a, b) => a - b);
    const goto = (from: number, t: number): string => {
      if (labelMode) return t === from + 1 ? '' : `break L${t};`;
      /* no verifier proved the loop ends: a backward jump charges the loop's instructions, and too many end the program */
      if (t <= from) return `{ if ((S.bj += ${from - t + 1}) > ${MAX_RUN_INSNS}) throw S.spin(${from}); pc = ${t}; continue; }`;
      return `{ pc = ${t}; continue; }`;
    };
    if (labelMode) {
      for (let i = sortedTargets.length - 1; i >= 0; i--) emit(`L${sortedTargets[i]}: {`);
    } else {
      emit('let pc = ' + lo + ';');
      emit('for (;;) switch (pc) {');
    }
    for (let pc = lo; pc < hi; pc++) {
      if (labelMode && targets.has(pc)) emit(`} /* L${pc} */`);
      if (!labelMode && leaders.has(pc)) emit(`case ${pc}:`);
      const c = ins.code[pc]!;
      const d = ins.dst[pc]!;
      const s = ins.src[pc]!;
      const off = ins.off[pc]!;
      const imm = ins.imm[pc]!;
      const cl = c & 0x07;
      if (d > 10 || s > 10) fail(pc, `register r${Math.max(d, s)} does not exist`);
      const writesDst = (cl === BPF_ALU || cl === BPF_ALU64 || cl === BPF_LDX || cl === BPF_LD);
      if (writesDst && d === 10) fail(pc, 'writes r10, the read-only frame pointer');
      if (c === (BPF_LD | BPF_IMM | BPF_DW)) {
        const imm2 = ins.imm[pc + 1]!;
        if (s === 0) {
          emit(`${L(d)} = ${imm | 0}; ${H(d)} = ${imm2 | 0};`);
        } else if (s === BPF_PSEUDO_MAP_IDX) {
          if (imm < 0 || imm >= input.maps.length) fail(pc, `map index ${imm} out of range`);
          emit(`${L(d)} = ${imm}; ${H(d)} = ${MAP_HI};`);
        } else if (s === BPF_PSEUDO_MAP_IDX_VALUE) {
          const m = input.maps[imm];
          if (m === undefined) return fail(pc, `map index ${imm} out of range`);
          emit(`${L(d)} = ${imm2 | 0}; ${H(d)} = S.gh[${imm}]; ${O(d)} = S.gv[${imm}];`);
        } else {
          fail(pc, `ld_imm64 with src_reg ${s} (${['', 'map fd', 'map value', 'BTF id (ksym)', 'function pointer'][s] ?? 'unknown'}) is not supported`);
        }
        pc++;
        continue;
      }
      switch (cl) {
        case BPF_ALU64:
        case BPF_ALU:
          alu(pc, c, d, s, off, imm, cl === BPF_ALU64);
          break;
        case BPF_JMP:
        case BPF_JMP32:
          jmp(pc, c, d, s, imm, cl === BPF_JMP32);
          break;
        case BPF_LDX: {
          const m = c & 0xe0;
          if (m !== BPF_MEM && m !== BPF_MEMSX) fail(pc, `unknown load mode 0x${m.toString(16)}`);
          if (m === BPF_MEMSX && (c & 0x18) === BPF_DW) fail(pc, 'sign-extending load of 8 bytes does not exist');
          load(pc, d, s, off, (c & 0x18), m === BPF_MEMSX);
          break;
        }
        case BPF_ST:
        case BPF_STX: {
          const m = c & 0xe0;
          if (m === BPF_MEM) store(pc, d, s, off, c & 0x18, cl === BPF_ST, imm);
          else if (m === BPF_ATOMIC && cl === BPF_STX) atomic(pc, d, s, off, c & 0x18, imm);
          else fail(pc, `unknown store mode 0x${m.toString(16)}${cl === BPF_ST && m === BPF_ATOMIC ? ' (atomics take a register)' : ''}`);
          break;
        }
        case BPF_LD:
          fail(pc, `legacy packet access (BPF_LD | BPF_ABS/BPF_IND, opcode 0x${c.toString(16)}) is for socket filters, not XDP`);
          break;
      }
    }
    if (labelMode) {
      emit(`throw S.fell(${hi - 1});`);
    } else {
      emit(`default: throw S.fell(${hi - 1});`);
      emit('}');
    }
    const regs: string[] = [];
    for (let r = 0; r <= 9; r++) {
      if (!main && r >= 1 && r <= 5) continue;
      regs.push(`r${r}l = 0`, `r${r}h = 0`, `r${r}o = null`);
    }
    if (main) {
      return `function F0(ctx) {
S.ctx = ctx; S.pe = 0; S.pm = 0; S.bj = 0;
let P = S.pdv, PM = 0, PE = 0;
const fp = ${STACK_SIZE}, sb = ${STACK_SIZE - MAX_BPF_STACK};
let ${regs.join(', ')}, t = 0, a = 0;
r1h = ${CTX_HI};
const r10l = fp, r10h = ${STK_HI}, r10o = null;
${body.join('\n')}
}`;
    }
    return `function F${k}(r1l, r1h, r1o, r2l, r2h, r2o, r3l, r3h, r3o, r4l, r4h, r4o, r5l, r5h, r5o, fp) {
if (fp < ${MAX_BPF_STACK}) throw S.deep(${lo});
const sb = fp - ${MAX_BPF_STACK};
let P = S.pdv, PM = S.pm, PE = S.pe;
let ${regs.join(', ')}, t = 0, a = 0;
const r10l = fp, r10h = ${STK_HI}, r10o = null;
${body.join('\n')}
}`;

    /* ---------------- ALU ---------------- */
    function alu(pc: number, c: number, d: number, s: number, off: number, imm: number, is64: boolean): void {
      const o = c & 0xf0;
      const x = (c & BPF_X) !== 0;
      const dl = L(d), dh = H(d);
      const sl = x ? L(s) : String(imm | 0);
      const sh = x ? H(s) : String(imm >> 31);
      if (o === BPF_NEG && x) fail(pc, 'NEG with a register source does not exist');
      if (o === BPF_END) {
        if (imm !== 16 && imm !== 32 && imm !== 64) fail(pc, `byte swap of ${imm} bits`);
        const swap = !is64 ? (c & BPF_TO_BE) !== 0 : true;
        if (is64 && (c & BPF_X) !== 0) fail(pc, 'BPF_ALU64 | BPF_END with the source bit set');
        if (!swap) {
          /* to little endian on a little-endian machine: a truncation */
          if (imm === 16) emit(`${dl} &= 0xffff; ${dh} = 0;`);
          else if (imm === 32) emit(`${dh} = 0;`);
        } else if (imm === 16) {
          emit(`${dl} = ((${dl} & 0xff) << 8) | ((${dl} >>> 8) & 0xff); ${dh} = 0;`);
        } else if (imm === 32) {
          emit(`${dl} = ${bswap32(dl)}; ${dh} = 0;`);
        } else {
          emit(`t = ${bswap32(dl)}; ${dl} = ${bswap32(dh)}; ${dh} = t;`);
        }
        return;
      }
      if (off !== 0 && !((o === BPF_DIV || o === BPF_MOD) && off === 1) && !(o === BPF_MOV && x && (off === 8 || off === 16 || (off === 32 && is64)))) {
        fail(pc, `ALU opcode 0x${c.toString(16)} with offset ${off}`);
      }
      if (o === BPF_MOV && off !== 0) {
        const sx = off === 8 ? `(${sl} << 24) >> 24` : off === 16 ? `(${sl} << 16) >> 16` : sl;
        if (is64) emit(`${dl} = ${sx}; ${dh} = ${dl} >> 31;`);
        else emit(`${dl} = ${sx}; ${dh} = 0;`);
        return;
      }
      if (!is64) {
        const z = `${dh} = 0;`;
        switch (o) {
          case BPF_ADD: emit(`${dl} = (${dl} + ${sl}) | 0; ${z}`); return;
          case BPF_SUB: emit(`${dl} = (${dl} - ${sl}) | 0; ${z}`); return;
          case BPF_MUL: emit(`${dl} = Math.imul(${dl}, ${sl}); ${z}`); return;
          case BPF_DIV:
            if (off === 1) emit(`${dl} = S.sdiv32(${dl}, ${sl}); ${z}`);
            else emit(`${dl} = ${sl} === 0 ? 0 : ((${dl} >>> 0) / (${sl} >>> 0)) | 0; ${z}`);
            return;
          case BPF_MOD:
            if (off === 1) emit(`${dl} = S.smod32(${dl}, ${sl}); ${z}`);
            else emit(`${dl} = ${sl} === 0 ? ${dl} : ((${dl} >>> 0) % (${sl} >>> 0)) | 0; ${z}`);
            return;
          case BPF_OR: emit(`${dl} |= ${sl}; ${z}`); return;
          case BPF_AND: emit(`${dl} &= ${sl}; ${z}`); return;
          case BPF_XOR: emit(`${dl} ^= ${sl}; ${z}`); return;
          case BPF_LSH: emit(`${dl} <<= ${x ? `${sl} & 31` : imm & 31}; ${z}`); return;
          case BPF_RSH: emit(`${dl} = (${dl} >>> ${x ? `(${sl} & 31)` : imm & 31}) | 0; ${z}`); return;
          case BPF_ARSH: emit(`${dl} >>= ${x ? `${sl} & 31` : imm & 31}; ${z}`); return;
          case BPF_NEG: emit(`${dl} = (-${dl}) | 0; ${z}`); return;
          case BPF_MOV: emit(`${dl} = ${sl}; ${z}`); return;
          default: fail(pc, `unknown ALU opcode 0x${c.toString(16)}`);
        }
        return;
      }
      const kd = kindAt(pc, d);
      const ks = x ? kindAt(pc, s) : K_SCALAR;
      switch (o) {
        case BPF_MOV:
          emit(x ? `${dl} = ${sl}; ${dh} = ${sh}; ${O(d)} = ${O(s)};` : `${dl} = ${sl}; ${dh} = ${sh};`);
          return;
        case BPF_ADD:
          if (!x && imm === 0) return;
          if (!x && imm > 0) {
            /* the common pointer + small constant: a carry is rare */
            emit(`t = (${dl} >>> 0) + ${imm}; if (t > 4294967295) ${dh} = (${dh} + 1) | 0; ${dl} = t | 0;`);
          } else {
            emit(`t = (${dl} >>> 0) + (${sl} >>> 0); ${dh} = (${dh} + ${sh} + (t > 4294967295 ? 1 : 0)) | 0; ${dl} = t | 0;`);
          }
          if (x && ks === K_MV) emit(`${O(d)} = ${O(s)};`);
          else if (x && ks === K_ANY && kd !== K_MV) emit(`if (${H(s)} === ${MV_HI} || ${H(s)} === ${MVRO_HI}) ${O(d)} = ${O(s)};`);
          return;
        case BPF_SUB:
          emit(`t = (${dl} >>> 0) - (${sl} >>> 0); ${dh} = (${dh} - ${sh} - (t < 0 ? 1 : 0)) | 0; ${dl} = t | 0;`);
          return;
        case BPF_MUL: emit(`${dl} = S.mul64(${dl}, ${dh}, ${sl}, ${sh}); ${dh} = S.mh;`); return;
        case BPF_DIV:
          if (off === 1) emit(`${dl} = S.sdiv64(${dl}, ${dh}, ${sl}, ${sh}); ${dh} = S.mh;`);
          else emit(`if (${dh} === 0 && ${sh} === 0) { ${dl} = ${sl} === 0 ? 0 : ((${dl} >>> 0) / (${sl} >>> 0)) | 0; } else { ${dl} = S.udiv64(${dl}, ${dh}, ${sl}, ${sh}); ${dh} = S.mh; }`);
          return;
        case BPF_MOD:
          if (off === 1) emit(`${dl} = S.smod64(${dl}, ${dh}, ${sl}, ${sh}); ${dh} = S.mh;`);
          else emit(`if (${dh} === 0 && ${sh} === 0) { ${dl} = ${sl} === 0 ? ${dl} : ((${dl} >>> 0) % (${sl} >>> 0)) | 0; } else { ${dl} = S.umod64(${dl}, ${dh}, ${sl}, ${sh}); ${dh} = S.mh; }`);
          return;
        case BPF_OR: emit(`${dl} |= ${sl}; ${dh} |= ${sh};`); return;
        case BPF_AND: emit(`${dl} &= ${sl}; ${dh} &= ${sh};`); return;
        case BPF_XOR: emit(`${dl} ^= ${sl}; ${dh} ^= ${sh};`); return;
        case BPF_NEG: emit(`${dh} = (~${dh} + (${dl} === 0 ? 1 : 0)) | 0; ${dl} = (-${dl}) | 0;`); return;
        case BPF_LSH: case BPF_RSH: case BPF_ARSH:
          if (x) {
            emit(`t = ${sl} & 63;`);
            emit(`if (t >= 32) { ${shiftBig(o, dl, dh, 't - 32')} } else if (t !== 0) { ${shiftSmall(o, dl, dh, 't', '32 - t')} }`);
          } else {
            const k2 = imm & 63;
            if (k2 >= 32) emit(shiftBig(o, dl, dh, String(k2 - 32)));
            else if (k2 !== 0) emit(shiftSmall(o, dl, dh, String(k2), String(32 - k2)));
          }
          return;
        default: fail(pc, `unknown ALU64 opcode 0x${c.toString(16)}`);
      }
    }

    /* ---------------- jumps, calls, exit ---------------- */
    function jmp(pc: number, c: number, d: number, s: number, imm: number, is32: boolean): void {
      const o = c & 0xf0;
      const x = (c & BPF_X) !== 0;
      if (o === BPF_EXIT) {
        if (is32) fail(pc, 'EXIT in the JMP32 class does not exist');
        emit(main ? 'return r0l;' : 'S.mh = r0h; S.mo = r0o; return r0l;');
        return;
      }
      if (o === BPF_CALL) {
        if (is32) fail(pc, 'CALL in the JMP32 class does not exist');
        if (s === BPF_PSEUDO_CALL) {
          const t = pc + imm + 1;
          const k2 = starts.indexOf(t);
          if (k2 < 0) fail(pc, `call to instruction ${t}, which starts no function`);
          emit(`if ((S.bj += ${ends[k2]! - starts[k2]!}) > ${MAX_RUN_INSNS}) throw S.spin(${pc});`);
          emit(`r0l = F${k2}(r1l, r1h, r1o, r2l, r2h, r2o, r3l, r3h, r3o, r4l, r4h, r4o, r5l, r5h, r5o, fp - ${MAX_BPF_STACK}); r0h = S.mh; r0o = S.mo; P = S.pdv; PM = S.pm; PE = S.pe;`);
          return;
        }
        if (s === BPF_PSEUDO_KFUNC_CALL) fail(pc, 'kfunc calls are not supported');
        if (s !== 0) fail(pc, `call with src_reg ${s}`);
        helper(pc, imm);
        return;
      }
      if (o === BPF_JA) {
        if (x) fail(pc, 'JA with a register source does not exist');
        emit(goto(pc, jumpTarget(pc)));
        return;
      }
      const dl = L(d), dh = H(d);
      const sl = x ? L(s) : String(imm | 0);
      const sh = x ? H(s) : String(imm >> 31);
      const u = (v: string): string => (x || v !== sl ? `(${v} >>> 0)` : String(imm >>> 0));
      let cond: string;
      if (is32) {
        switch (o) {
          case BPF_JEQ: cond = `${dl} === ${sl}`; break;
          case BPF_JNE: cond = `${dl} !== ${sl}`; break;
          case BPF_JGT: cond = `(${dl} >>> 0) > ${u(sl)}`; break;
          case BPF_JGE: cond = `(${dl} >>> 0) >= ${u(sl)}`; break;
          case BPF_JLT: cond = `(${dl} >>> 0) < ${u(sl)}`; break;
          case BPF_JLE: cond = `(${dl} >>> 0) <= ${u(sl)}`; break;
          case BPF_JSGT: cond = `${dl} > ${sl}`; break;
          case BPF_JSGE: cond = `${dl} >= ${sl}`; break;
          case BPF_JSLT: cond = `${dl} < ${sl}`; break;
          case BPF_JSLE: cond = `${dl} <= ${sl}`; break;
          case BPF_JSET: cond = `(${dl} & ${sl}) !== 0`; break;
          default: return fail(pc, `unknown JMP32 opcode 0x${c.toString(16)}`);
        }
      } else {
        const ucmp = (op: string): string => `(${dh} !== ${sh} ? (${dh} >>> 0) ${op} (${sh} >>> 0) : (${dl} >>> 0) ${op} ${u(sl)})`;
        const scmp = (op: string): string => `(${dh} !== ${sh} ? ${dh} ${op} ${sh} : (${dl} >>> 0) ${op} ${u(sl)})`;
        switch (o) {
          case BPF_JEQ: cond = `${dl} === ${sl} && ${dh} === ${sh}`; break;
          case BPF_JNE: cond = `${dl} !== ${sl} || ${dh} !== ${sh}`; break;
          case BPF_JGT: cond = ucmp('>'); break;
          case BPF_JGE: cond = ucmp('>='); break;
          case BPF_JLT: cond = ucmp('<'); break;
          case BPF_JLE: cond = ucmp('<='); break;
          case BPF_JSGT: cond = scmp('>'); break;
          case BPF_JSGE: cond = scmp('>='); break;
          case BPF_JSLT: cond = scmp('<'); break;
          case BPF_JSLE: cond = scmp('<='); break;
          case BPF_JSET: cond = `(${dl} & ${sl}) !== 0 || (${dh} & ${sh}) !== 0`; break;
          default: return fail(pc, `unknown JMP opcode 0x${c.toString(16)}`);
        }
      }
      const t = jumpTarget(pc);
      const g = goto(pc, t);
      if (g !== '') emit(`if (${cond}) ${g}`);
    }

    function helper(pc: number, id: number): void {
      if (!SUPPORTED_HELPERS.has(id)) {
        fail(pc, `calls ${helperName(id)} (helper ${id}), which xdpsim does not provide to XDP programs`);
      }
      if (id === BPF_FUNC_trace_printk && !licenseIsGplCompatible(input.license)) {
        fail(pc, `calls ${helperName(id)}, which is GPL-only, from a program whose license '${input.license}' is not GPL-compatible`);
      }
      const sx = 'r0h = r0l >> 31;';
      const a = (r: number): string => `${H(r)}, ${L(r)}, ${O(r)}`;
      switch (id) {
        case BPF_FUNC_map_lookup_elem: emit(`r0l = S.lookup(${pc}, r1h, r1l, ${a(2)}, sb); r0h = S.mh; r0o = S.mo;`); break;
        case BPF_FUNC_map_update_elem: emit(`r0l = S.update(${pc}, r1h, r1l, ${a(2)}, ${a(3)}, r4h, r4l, sb); ${sx}`); break;
        case BPF_FUNC_map_delete_elem: emit(`r0l = S.delete(${pc}, r1h, r1l, ${a(2)}, sb); ${sx}`); break;
        case BPF_FUNC_ktime_get_ns: emit('r0l = S.ktime(); r0h = S.mh;'); break;
        case BPF_FUNC_trace_printk: emit(`r0l = S.printk(${pc}, ${a(1)}, r2l, ${a(3)}, ${a(4)}, ${a(5)}, sb); ${sx}`); break;
        case BPF_FUNC_get_prandom_u32: emit('r0l = S.prandom(); r0h = 0;'); break;
        case BPF_FUNC_get_smp_processor_id: emit('r0l = S.smpId(); r0h = 0;'); break;
        case BPF_FUNC_redirect: emit(`r0l = S.redirect(r1l, r2h, r2l); ${sx}`); break;
        case BPF_FUNC_csum_diff: emit(`r0l = S.csumDiff(${pc}, ${a(1)}, r2h, r2l, ${a(3)}, r4h, r4l, r5l, sb); r0h = S.mh;`); break;
        case BPF_FUNC_xdp_adjust_head: emit(`r0l = S.adjustHead(${pc}, r1h, r1l, r2l); ${sx} P = S.pdv; PM = S.pm; PE = S.pe;`); break;
        case BPF_FUNC_xdp_adjust_meta: emit(`r0l = S.adjustMeta(${pc}, r1h, r1l, r2l); ${sx} P = S.pdv; PM = S.pm; PE = S.pe;`); break;
        case BPF_FUNC_xdp_adjust_tail: emit(`r0l = S.adjustTail(${pc}, r1h, r1l, r2l); ${sx} P = S.pdv; PM = S.pm; PE = S.pe;`); break;
        case BPF_FUNC_redirect_map: emit(`r0l = S.redirectMap(${pc}, r1h, r1l, r2l, r3h, r3l); ${sx}`); break;
        case BPF_FUNC_xdp_get_buff_len: emit(`r0l = S.buffLen(${pc}, r1h, r1l); r0h = 0;`); break;
        case BPF_FUNC_xdp_load_bytes: emit(`r0l = S.loadBytes(${pc}, r1h, r1l, r2l, ${a(3)}, r4l, sb); ${sx}`); break;
        case BPF_FUNC_xdp_store_bytes: emit(`r0l = S.storeBytes(${pc}, r1h, r1l, r2l, ${a(3)}, r4l, sb); ${sx}`); break;
        default: fail(pc, `helper ${helperName(id)} has no translation`);
      }
    }

    /* ---------------- memory ---------------- */
    function accessors(sz: number, sx: boolean): { get: string; set: string; n: number } {
      switch (sz) {
        case BPF_B: return { get: sx ? 'getInt8' : 'getUint8', set: 'setUint8', n: 1 };
        case BPF_H: return { get: sx ? 'getInt16' : 'getUint16', set: 'setUint16', n: 2 };
        case BPF_W: return { get: 'getInt32', set: 'setInt32', n: 4 };
        default: return { get: 'getInt32', set: 'setInt32', n: 8 };
      }
    }
    function le(n: number): string {
      return n === 1 ? '' : ', true';
    }

    /* the data view and the checked address of an access through base register b, by its kind; null: dispatch at run time */
    function region(pc: number, b: number, off: number, n: number, store: boolean): { dv: string; addr: string; pre: string; obj?: string } | null {
      const k = kindAt(pc, b);
      const bl = L(b), bh = H(b);
      const bad = `throw S.oob(${pc}, ${store}, ${bh}, ${bl}, ${O(b)}, ${off}, ${n});`;
      if (b === 10) {
        if (off < -MAX_BPF_STACK || off + n > 0) return { dv: 'S.sdv', addr: '0', pre: bad };
        return { dv: 'S.sdv', addr: `fp - ${-off}`, pre: '' };
      }
      switch (k) {
        case K_STK:
          return { dv: 'S.sdv', addr: 'a', pre: `a = (${bl} + ${off}) | 0; if (${bh} !== ${STK_HI} || a < sb || a > ${STACK_SIZE - n}) ${bad}` };
        case K_PKT:
          return { dv: 'P', addr: 'a', pre: `a = (${bl} + ${off}) | 0; if (${bh} !== ${PKT_HI} || a < PM || a > PE - ${n}) ${bad}` };
        case K_MV:
          if (store) {
            return { dv: `${O(b)}.view`, addr: 'a', pre: `a = (${bl} + ${off}) | 0; if (${bh} !== ${MV_HI} || a < 0 || a > ${O(b)}.size - ${n}) ${bad}` };
          }
          return { dv: `${O(b)}.view`, addr: 'a', pre: `a = (${bl} + ${off}) | 0; if ((${bh} !== ${MV_HI} && ${bh} !== ${MVRO_HI}) || a < 0 || a > ${O(b)}.size - ${n}) ${bad}` };
        default:
          return null;
      }
    }

    function load(pc: number, d: number, b: number, off: number, sz: number, sx: boolean): void {
      const { get, n } = accessors(sz, sx);
      const dl = L(d), dh = H(d);
      const k = kindAt(pc, b);
      if (k === K_CTX) {
        /* struct xdp_md: u32 fields only */
        const field = n === 4 && !sx ? ['data', 'data_end', 'data_meta', 'ingress_ifindex', 'rx_queue_index', 'egress_ifindex'][off / 4] : undefined;
        if (field === undefined || off % 4 !== 0 || off < 0) {
          emit(`throw S.oob(${pc}, false, ${H(b)}, ${L(b)}, null, ${off}, ${n});`);
          return;
        }
        const guard = `if (${H(b)} !== ${CTX_HI} || ${L(b)} !== 0) throw S.oob(${pc}, false, ${H(b)}, ${L(b)}, null, ${off}, ${n});`;
        if (off <= 8) emit(`${guard} if (PE === 0) { S.pkt(); P = S.pdv; PM = S.pm; PE = S.pe; } ${dl} = S.ctx.${field}; ${dh} = ${PKT_HI};`);
        else emit(`${guard} ${dl} = S.ctx.${field} | 0; ${dh} = 0;`);
        return;
      }
      const r = region(pc, b, off, n, false);
      if (r === null) {
        emit(`${dl} = S.ld(${pc}, ${H(b)}, ${L(b)}, ${O(b)}, ${off}, ${n}, ${sx}, sb); ${dh} = S.mh;${n === 8 ? ` ${O(d)} = S.mo;` : ''} if (PE === 0) { P = S.pdv; PM = S.pm; PE = S.pe; }`);
        return;
      }
      if (r.pre !== '') emit(r.pre);
      if (n === 8) {
        emit(`${dh} = ${r.dv}.getInt32(${r.addr} + 4, true); ${dl} = ${r.dv}.getInt32(${r.addr}, true);`);
        if (b === 10 && (off & 7) === 0) emit(`${O(d)} = S.so[(fp - ${-off}) >> 3];`);
        else if (kindAt(pc, b) === K_STK) emit(`${O(d)} = (a & 7) === 0 ? S.so[a >> 3] : null;`);
      } else {
        emit(`${dl} = ${r.dv}.${get}(${r.addr}${le(n)}); ${dh} = ${sx ? `${dl} >> 31` : '0'};`);
      }
    }

    function store(pc: number, b: number, s: number, off: number, sz: number, isImm: boolean, imm: number): void {
      const { set, n } = accessors(sz, false);
      const vl = isImm ? String(imm | 0) : L(s);
      const vh = isImm ? String(imm >> 31) : H(s);
      const vo = isImm ? 'null' : O(s);
      const k = kindAt(pc, b);
      if (k === K_CTX) {
        emit(`throw S.oob(${pc}, true, ${H(b)}, ${L(b)}, null, ${off}, ${n});`);
        return;
      }
      const r = region(pc, b, off, n, true);
      if (r === null) {
        emit(`S.st(${pc}, ${H(b)}, ${L(b)}, ${O(b)}, ${off}, ${n}, ${vl}, ${vh}, ${vo}, sb);`);
        return;
      }
      if (r.pre !== '') emit(r.pre);
      if (n === 8) {
        emit(`${r.dv}.setInt32(${r.addr}, ${vl}, true); ${r.dv}.setInt32(${r.addr} + 4, ${vh}, true);`);
        if (b === 10 && (off & 7) === 0) emit(`S.so[(fp - ${-off}) >> 3] = ${vo};`);
        else if (k === K_STK) emit(`if ((a & 7) === 0) S.so[a >> 3] = ${vo};`);
      } else {
        emit(`${r.dv}.${set}(${r.addr}, ${vl}${le(n)});`);
      }
    }

    function atomic(pc: number, b: number, s: number, off: number, sz: number, op: number): void {
      if (sz !== BPF_W && sz !== BPF_DW) fail(pc, 'atomic operations are 4 or 8 bytes wide');
      const base = op & ~BPF_FETCH;
      const okOps = [BPF_ADD, BPF_OR, BPF_AND, BPF_XOR];
      if (!(okOps.includes(op) || okOps.includes(base) && (op & BPF_FETCH) !== 0 || op === BPF_XCHG || op === BPF_CMPXCHG)) {
        fail(pc, `unknown atomic operation 0x${op.toString(16)}`);
      }
      const n = sz === BPF_W ? 4 : 8;
      emit(`t = S.atomic(${pc}, ${H(b)}, ${L(b)}, ${O(b)}, ${off}, ${n}, ${op}, ${L(s)}, ${H(s)}, r0l, r0h, sb);`);
      if (op === BPF_CMPXCHG) emit(`r0l = t; r0h = S.mh;`);
      else if ((op & BPF_FETCH) !== 0) emit(`${L(s)} = t; ${H(s)} = S.mh;`);
    }
  }

  /* ------------ the abstract interpretation (register kinds) ------------ */
  function analyze(lo: number, hi: number, main: boolean, isWide: Uint8Array, jumpTarget: (pc: number) => number): (Uint8Array | null)[] {
    const st: (Uint8Array | null)[] = new Array<Uint8Array | null>(n).fill(null);
    const entry = new Uint8Array(11).fill(K_SCALAR);
    if (main) entry[1] = K_CTX;
    else for (let r = 1; r <= 5; r++) entry[r] = K_ANY;
    entry[10] = K_STK;
    st[lo] = entry;
    const work: number[] = [lo];
    const flow = (to: number, s: Uint8Array): void => {
      if (to < lo || to >= hi) return;
      const cur = st[to];
      if (cur === null || cur === undefined) {
        st[to] = Uint8Array.from(s);
        work.push(to);
        return;
      }
      let changed = false;
      for (let r = 0; r < 11; r++) {
        if (cur[r] !== s[r] && cur[r] !== K_ANY) {
          cur[r] = K_ANY;
          changed = true;
        }
      }
      if (changed) work.push(to);
    };
    let guard = 0;
    while (work.length > 0) {
      if (++guard > 200000) break; /* the lattice is 2 high: this never happens */
      const pc = work.pop()!;
      const s = Uint8Array.from(st[pc]!);
      const c = ins.code[pc]!;
      const d = ins.dst[pc]! & 0xf;
      const sr = ins.src[pc]! & 0xf;
      const cl = c & 0x07;
      if (isWide[pc]) {
        s[d] = sr === BPF_PSEUDO_MAP_IDX ? K_MAP : sr === BPF_PSEUDO_MAP_IDX_VALUE ? K_MV : K_SCALAR;
        flow(pc + 2, s);
        continue;
      }
      if (d > 10 || sr > 10) continue;
      switch (cl) {
        case BPF_ALU64: {
          const o = c & 0xf0;
          const x = (c & BPF_X) !== 0;
          const ks = x ? s[sr]! : K_SCALAR;
          const kd = s[d]!;
          if (o === BPF_MOV) s[d] = x && ins.off[pc] === 0 ? ks : K_SCALAR;
          else if (o === BPF_ADD) s[d] = ks === K_SCALAR ? kd : kd === K_SCALAR ? ks : K_ANY;
          else if (o === BPF_SUB) s[d] = ks === K_SCALAR ? kd : isPtr(kd) && isPtr(ks) ? K_SCALAR : K_ANY;
          else s[d] = K_SCALAR;
          flow(pc + 1, s);
          break;
        }
        case BPF_ALU:
          s[d] = K_SCALAR;
          flow(pc + 1, s);
          break;
        case BPF_LDX: {
          const kb = s[sr]!;
          const w = c & 0x18;
          const off = ins.off[pc]!;
          if (kb === K_CTX) s[d] = w === BPF_W && off >= 0 && off <= 8 && off % 4 === 0 ? K_PKT : K_SCALAR;
          else s[d] = w === BPF_DW && kb !== K_PKT && kb !== K_MV ? K_ANY : K_SCALAR;
          flow(pc + 1, s);
          break;
        }
        case BPF_ST:
          flow(pc + 1, s);
          break;
        case BPF_STX:
          if ((c & 0xe0) === BPF_ATOMIC) {
            const op = ins.imm[pc]!;
            if (op === BPF_CMPXCHG) s[0] = K_SCALAR;
            else if ((op & BPF_FETCH) !== 0) s[sr] = K_SCALAR;
          }
          flow(pc + 1, s);
          break;
        case BPF_JMP:
        case BPF_JMP32: {
          const o = c & 0xf0;
          if (o === BPF_EXIT) break;
          if (o === BPF_CALL) {
            s[0] = sr === BPF_PSEUDO_CALL ? K_ANY : ins.imm[pc] === BPF_FUNC_map_lookup_elem ? K_MV : K_SCALAR;
            for (let r = 1; r <= 5; r++) s[r] = K_ANY;
            flow(pc + 1, s);
            break;
          }
          let t: number;
          try {
            t = jumpTarget(pc);
          } catch {
            break; /* reported by the emitter */
          }
          flow(t, s);
          if (o !== BPF_JA) flow(pc + 1, s);
          break;
        }
        default:
          flow(pc + 1, s);
      }
    }
    return st;
  }
}

function bswap32(v: string): string {
  return `(((${v} & 0xff) << 24) | ((${v} & 0xff00) << 8) | ((${v} >>> 8) & 0xff00) | (${v} >>> 24))`;
}

/* shift by k in 1..31; r = 32 - k */
function shiftSmall(o: number, dl: string, dh: string, k: string, r: string): string {
  if (o === BPF_LSH) return `${dh} = (${dh} << ${k}) | (${dl} >>> ${r}); ${dl} <<= ${k};`;
  if (o === BPF_RSH) return `${dl} = (${dl} >>> ${k}) | (${dh} << ${r}); ${dh} = (${dh} >>> ${k}) | 0;`;
  return `${dl} = (${dl} >>> ${k}) | (${dh} << ${r}); ${dh} >>= ${k};`;
}

/* shift by 32 + k, k in 0..31 */
function shiftBig(o: number, dl: string, dh: string, k: string): string {
  if (o === BPF_LSH) return `${dh} = ${dl} << ${k}; ${dl} = 0;`;
  if (o === BPF_RSH) return `${dl} = (${dh} >>> ${k}) | 0; ${dh} = 0;`;
  return `${dl} = ${dh} >> ${k}; ${dh} >>= 31;`;
}

