/*
 * A clang-compiled BPF object (.o), opened the way libbpf's
 * bpf_object__open() reads it (tools/lib/bpf/libbpf.c): the programs of the
 * XDP sections (one per global function), the BTF-defined maps of `.maps`,
 * the global data sections (.data*, .rodata*, .bss*) as single-element
 * ARRAY maps, the license, and the relocations: ld_imm64 of a map or of
 * global data becomes BPF_PSEUDO_MAP_IDX / BPF_PSEUDO_MAP_IDX_VALUE with
 * the map's index in the object, and calls to other functions
 * (BPF_PSEUDO_CALL) are linked by appending each called function to the
 * program, as bpf_object__reloc_code() does.
 *
 * The result (BpfObjectSpec) is plain data (structured-clonable): the
 * control plane opens the object once, creates the maps from it and posts
 * it to every CPU, which translates the programs (translate.ts).
 *
 * Concurrency: pure functions; safe on any thread.
 */
import { Btf, BtfError, parseBtfMapDefs } from './btf.ts';
import {
  ElfError, parseElf, R_BPF_64_32, R_BPF_64_64, R_BPF_64_ABS32, R_BPF_64_ABS64, R_BPF_64_NODYLD32, R_BPF_NONE,
  SHF_EXECINSTR, SHT_NOBITS, SHT_PROGBITS, STB_GLOBAL, STT_FUNC, STT_SECTION, type ElfFile, type ElfSection,
} from './elf.ts';
import {
  BPF_CALL, BPF_DW, BPF_IMM, BPF_JMP, BPF_LD, BPF_PSEUDO_CALL, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE,
} from './insn.ts';
import { EINVAL, XdpsimError } from '../shared/errno.ts';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_OBJ_NAME_LEN } from '../shared/uapi.ts';
import type { XdpSection } from '../cpu/program.ts';

export interface BpfMapSpec {
  /** the map's name in the object: the variable name, or the data section's name ('.bss', '.rodata.str1.1') */
  name: string;
  /** the name given to the kernel (libbpf's: the variable name, or '<obj>.<section>' for global data), at most 15 characters */
  kernelName: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  /** global data: the section's bytes (value 0 of the array); absent for .bss and for .maps maps */
  initial?: Uint8Array;
  /** global data: '.data', '.rodata' or '.bss' (kind of section), else '.maps' */
  kind: '.maps' | '.data' | '.rodata' | '.bss';
}

export interface BpfProgSpec {
  /** the C function's name */
  name: string;
  /** the ELF section ('xdp', 'xdp.frags', 'xdp/devmap', ...) */
  secName: string;
  section: XdpSection;
  /** the linked instructions, 8 bytes each: the program then every function it calls */
  insns: Uint8Array;
  /** entry instruction index of each function (0 is the program itself) with its name */
  funcs: { start: number; name: string }[];
  /** for messages: where instruction i came from ('xdp+12', '.text+3') */
  origin: string[];
}

export interface BpfObjectSpec {
  /** libbpf's object name: the file's base name up to its first '.' */
  name: string;
  license: string;
  maps: BpfMapSpec[];
  progs: BpfProgSpec[];
}

/*
 * An object xdpsim cannot load: an XdpsimError (EINVAL), as libbpf fails
 * bpf_object__open() and the verifier fails a load. `detail` is the message
 * without the errno prefix, for callers that put it in a message of their own.
 */
export class BpfLoadError extends XdpsimError {
  readonly detail: string;
  /* errno: EINVAL, or what the kernel's verifier returns for the case (E2BIG for a call chain too deep) */
  constructor(message: string, errno = EINVAL) {
    super(errno, message);
    this.name = 'BpfLoadError';
    this.detail = message;
  }
}

const XDP_SECTIONS: Record<string, XdpSection> = {
  'xdp': 'xdp', 'xdp.frags': 'xdp.frags', 'xdp/devmap': 'xdp/devmap', 'xdp.frags/devmap': 'xdp/devmap',
  'xdp/cpumap': 'xdp/cpumap', 'xdp.frags/cpumap': 'xdp/cpumap',
};

/* libbpf's license_is_gpl_compatible() list (include/linux/license.h) */
const GPL_COMPATIBLE = ['GPL', 'GPL v2', 'GPL and additional rights', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL'];
export function licenseIsGplCompatible(license: string): boolean {
  return GPL_COMPATIBLE.includes(license);
}

/* internal_map_name(): a prefix of the object name and the section name, 15 characters at most */
export function internalMapName(objName: string, secName: string): string {
  const sfxLen = Math.min(Math.max(7, secName.length), BPF_OBJ_NAME_LEN - 1);
  const pfxLen = secName.indexOf('.', 1) >= 0 ? 0 : Math.min(BPF_OBJ_NAME_LEN - sfxLen - 1, objName.length);
  return (objName.slice(0, pfxLen) + secName.slice(0, sfxLen)).replace(/[^A-Za-z0-9_.]/g, '_');
}

/** libbpf's object name for a path: its base name cut at the first '.'. */
export function objectName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.indexOf('.');
  return dot >= 0 ? base.slice(0, dot) : base;
}

function dataKind(name: string): BpfMapSpec['kind'] | null {
  for (const k of ['.data', '.rodata', '.bss'] as const) if (name === k || name.startsWith(k + '.')) return k;
  return null;
}

interface Func { sec: ElfSection; start: number; end: number; name: string }

/** Open a BPF ELF object. Throws BpfLoadError naming the section, instruction or feature at fault. */
export function openBpfObject(bytes: Uint8Array, name: string): BpfObjectSpec {
  let elf: ElfFile;
  try {
    elf = parseElf(bytes);
  } catch (e) {
    if (e instanceof ElfError) throw new BpfLoadError(`object ${name}: ${e.detail}`);
    throw e;
  }
  const fail = (msg: string): never => {
    throw new BpfLoadError(`object ${name}: ${msg}`);
  };
  const licSec = elf.byName('license');
  const license = licSec === undefined ? '' : Buffer.from(licSec.data).toString('latin1').replace(/\0.*$/s, '');
  if (elf.byName('maps') !== undefined) {
    fail("section 'maps': legacy map definitions (struct bpf_map_def SEC(\"maps\")) are not supported: declare maps with BTF in SEC(\".maps\")");
  }
  let btf: Btf | null = null;
  const btfSec = elf.byName('.BTF');
  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof BtfError) return fail(e.detail);
      throw e;
    }
  };
  if (btfSec !== undefined) btf = wrap(() => new Btf(btfSec.data));

  /* ---- maps ---- */
  const maps: BpfMapSpec[] = [];
  /* (section index, offset) -> map index, for relocations */
  const mapAt = new Map<string, number>();
  const mapsSec = elf.byName('.maps');
  if (mapsSec !== undefined) {
    if (btf === null) fail("section '.maps': the object has no .BTF section, so its maps have no definitions (compile with -g)");
    let defs;
    try {
      defs = parseBtfMapDefs(btf!);
    } catch (e) {
      if (e instanceof BtfError) return fail(`section '.maps': ${e.detail}`);
      throw e;
    }
    for (const d of defs) {
      /* clang leaves the offsets of a DATASEC's variables at 0: libbpf takes them from the symbols (btf_fixup_datasec) */
      const sym = elf.symbols.find((y) => y.shndx === mapsSec.index && y.name === d.name);
      if (sym === undefined) fail(`section '.maps': map '${d.name}' has no symbol`);
      d.offset = sym!.value;
      const miss = (f: string): never => fail(`section '.maps': map '${d.name}': ${f} is not set`);
      if (d.type === undefined) miss('type');
      if (d.maxEntries === undefined) miss('max_entries');
      if (d.numaNode !== undefined && d.numaNode !== 0) fail(`section '.maps': map '${d.name}': numa_node is not supported`);
      if (d.mapExtra !== undefined && d.mapExtra !== 0) fail(`section '.maps': map '${d.name}': map_extra is not supported`);
      mapAt.set(`${mapsSec.index}:${d.offset}`, maps.length);
      maps.push({
        name: d.name, kernelName: d.name.slice(0, BPF_OBJ_NAME_LEN - 1), type: d.type!, keySize: d.keySize ?? 0,
        valueSize: d.valueSize ?? 0, maxEntries: d.maxEntries!, mapFlags: d.mapFlags ?? 0, kind: '.maps',
      });
    }
  }
  for (const s of elf.sections) {
    const kind = dataKind(s.name);
    if (kind === null || (s.type !== SHT_PROGBITS && s.type !== SHT_NOBITS)) continue;
    if (s.size === 0) continue; /* libbpf skips empty data sections */
    /* a map's value_size is a u32 (the size of SHT_NOBITS .bss is only the header's word) */
    if (s.size > 0xffffffff) fail(`section '${s.name}': size ${s.size} does not fit a map's value_size (u32)`);
    mapAt.set(`${s.index}:data`, maps.length);
    maps.push({
      name: s.name, kernelName: internalMapName(name, s.name), type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: s.size,
      maxEntries: 1, mapFlags: (kind === '.rodata' ? BPF_F_RDONLY_PROG : 0) | BPF_F_MMAPABLE, kind,
      ...(s.type === SHT_NOBITS ? {} : { initial: Uint8Array.from(s.data) }),
    });
  }

  /* ---- functions of the code sections ---- */
  const codeSecs = elf.sections.filter((s) => s.type === SHT_PROGBITS && (s.flags & SHF_EXECINSTR) !== 0 && s.size > 0);
  const funcs = new Map<number, Func[]>();
  for (const s of codeSecs) {
    if (s.size % 8 !== 0) fail(`section '${s.name}': size ${s.size} is not a multiple of 8`);
    const n = s.size / 8;
    const syms = elf.symbols.filter((y) => y.shndx === s.index && y.type === STT_FUNC).sort((a, b) => a.value - b.value);
    const list: Func[] = [];
    for (const y of syms) {
      if (y.value % 8 !== 0) fail(`section '${s.name}': function ${y.name} is not at an instruction boundary`);
      /* libbpf: "program at offset %zu crosses section boundary" */
      if (y.value >= s.size || y.size > s.size - y.value) {
        fail(`section '${s.name}': function ${y.name} at offset ${y.value} (${y.size} bytes) crosses the end of the section (${s.size} bytes)`);
      }
      if (y.size % 8 !== 0) fail(`section '${s.name}': function ${y.name} at offset ${y.value}: size ${y.size} is not a multiple of 8`);
      const start = y.value / 8;
      const end = y.size > 0 ? start + y.size / 8 : n;
      list.push({ sec: s, start, end, name: y.name });
    }
    if (list.length === 0) list.push({ sec: s, start: 0, end: n, name: s.name });
    funcs.set(s.index, list);
  }
  const funcAt = (sec: ElfSection, insn: number): Func => {
    const f = funcs.get(sec.index)?.find((g) => insn >= g.start && insn < g.end);
    if (f === undefined) return fail(`section '${sec.name}': a call targets instruction ${insn}, which is in no function`);
    return f;
  };
  const textSec = elf.byName('.text');

  /* ---- relocations of the code sections, by (section, insn) ---- */
  interface Reloc { kind: 'map' | 'data' | 'call'; map?: number; symOff: number; target?: ElfSection }
  const relocs = new Map<string, Reloc>();
  for (const s of codeSecs) {
    for (const r of elf.rels.get(s.index) ?? []) {
      /* parseElf has checked the offset is in the section; libbpf: "sec '%s': invalid offset 0x%zx for relo #%d" */
      if (r.offset % 8 !== 0) fail(`section '${s.name}': relocation at offset ${r.offset} is not at an instruction boundary`);
      const insn = r.offset / 8;
      const where = `section '${s.name}', instruction ${insn}`;
      if (r.type === R_BPF_NONE) continue;
      if (r.type !== R_BPF_64_64 && r.type !== R_BPF_64_32 && r.type !== R_BPF_64_ABS64 && r.type !== R_BPF_64_ABS32 && r.type !== R_BPF_64_NODYLD32) {
        fail(`${where}: relocation type ${r.type} is not supported`);
      }
      const sym = elf.symbols[r.sym];
      if (sym === undefined) return fail(`${where}: relocation against symbol ${r.sym}, which does not exist`);
      if (sym.shndx === 0) fail(`${where}: relocation against '${sym.name}', which is not defined in the object (extern variables, kfuncs and kconfig are not supported)`);
      const tsec = elf.sections[sym.shndx];
      if (tsec === undefined) return fail(`${where}: relocation against '${sym.name}' in section ${sym.shndx}, which does not exist`);
      const code = s.data[r.offset]!;
      if (code === (BPF_JMP | BPF_CALL)) {
        const src = s.data[r.offset + 1]! >> 4;
        if (src !== BPF_PSEUDO_CALL) fail(`${where}: relocated call is not a BPF-to-BPF call (src_reg ${src})`);
        if (tsec !== textSec && (tsec.flags & SHF_EXECINSTR) === 0) fail(`${where}: call relocation against '${sym.name}' in non-code section '${tsec.name}'`);
        if (sym.value % 8 !== 0) fail(`${where}: call relocation against '${sym.name}' at offset ${sym.value} of '${tsec.name}', which is not an instruction boundary`);
        relocs.set(`${s.index}:${insn}`, { kind: 'call', symOff: sym.value, target: tsec });
      } else if (code === (BPF_LD | BPF_IMM | BPF_DW)) {
        if (tsec === mapsSec) {
          const m = mapAt.get(`${tsec.index}:${sym.value}`);
          if (m === undefined) return fail(`${where}: relocation against '${sym.name}' in .maps, which is no map`);
          relocs.set(`${s.index}:${insn}`, { kind: 'map', map: m, symOff: 0 });
        } else if (dataKind(tsec.name) !== null) {
          const m = mapAt.get(`${tsec.index}:data`);
          if (m === undefined) return fail(`${where}: relocation against '${sym.name}' in empty section '${tsec.name}'`);
          relocs.set(`${s.index}:${insn}`, { kind: 'data', map: m, symOff: sym.type === STT_SECTION ? 0 : sym.value });
        } else if ((tsec.flags & SHF_EXECINSTR) !== 0) {
          fail(`${where}: a function pointer (ld_imm64 of '${sym.name}': callbacks for bpf_loop and the like) is not supported`);
        } else {
          fail(`${where}: relocation against '${sym.name}' in section '${tsec.name}', which is neither .maps nor global data`);
        }
      } else {
        fail(`${where}: relocation on an instruction (opcode 0x${code.toString(16)}) that is neither ld_imm64 nor call`);
      }
    }
  }

  /* ---- programs ---- */
  const progs: BpfProgSpec[] = [];
  for (const s of codeSecs) {
    if (s === textSec) continue;
    const section = XDP_SECTIONS[s.name];
    if (section === undefined) {
      fail(`section '${s.name}': not an XDP program section (xdpsim runs SEC("xdp"), "xdp.frags", "xdp/devmap", "xdp/cpumap")`);
    }
    const entries = elf.symbols.filter((y) => y.shndx === s.index && y.type === STT_FUNC && y.bind === STB_GLOBAL);
    if (entries.length === 0) fail(`section '${s.name}': no global function (a program is a non-static function)`);
    for (const y of entries) progs.push(link(funcAt(s, y.value / 8), section!, s.name));
  }
  if (progs.length === 0) fail('no XDP program (no SEC("xdp") function)');

  function link(main: Func, section: XdpSection, secName: string): BpfProgSpec {
    const order: Func[] = [main];
    const base = new Map<Func, number>([[main, 0]]);
    let total = main.end - main.start;
    const out: Uint8Array[] = [];
    const origin: string[] = [];
    for (let k = 0; k < order.length; k++) {
      const f = order[k]!;
      const bytes = Uint8Array.from(f.sec.data.subarray(f.start * 8, f.end * 8));
      const dv = new DataView(bytes.buffer);
      const n = f.end - f.start;
      for (let i = 0; i < n; i++) {
        const si = f.start + i;
        origin.push(`${f.sec.name}+${si}`);
        const code = bytes[i * 8]!;
        const rel = relocs.get(`${f.sec.index}:${si}`);
        const where = `section '${f.sec.name}', instruction ${si}`;
        if (code === (BPF_LD | BPF_IMM | BPF_DW)) {
          if (i + 1 >= n) fail(`${where}: ld_imm64 without its second half`);
          if (rel !== undefined) {
            const imm = dv.getInt32(i * 8 + 4, true);
            bytes[i * 8 + 1] = (bytes[i * 8 + 1]! & 0x0f) | ((rel.kind === 'map' ? BPF_PSEUDO_MAP_IDX : BPF_PSEUDO_MAP_IDX_VALUE) << 4);
            dv.setInt32(i * 8 + 4, rel.map!, true);
            /* libbpf: insn[1].imm = insn[0].imm + sym_off for data; 0 for a map */
            dv.setInt32(i * 8 + 12, rel.kind === 'map' ? 0 : imm + rel.symOff, true);
          } else if ((bytes[i * 8 + 1]! >> 4) !== 0) {
            fail(`${where}: ld_imm64 with src_reg ${bytes[i * 8 + 1]! >> 4} and no relocation`);
          }
          origin.push(`${f.sec.name}+${si + 1}`);
          i++;
          continue;
        }
        if (code === (BPF_JMP | BPF_CALL) && (bytes[i * 8 + 1]! >> 4) === BPF_PSEUDO_CALL) {
          const imm = dv.getInt32(i * 8 + 4, true);
          let tsec = f.sec;
          let tgt: number;
          if (rel !== undefined) {
            tsec = rel.target!;
            tgt = rel.symOff / 8 + imm + 1;
          } else {
            tgt = si + imm + 1;
          }
          const g = funcAt(tsec, tgt);
          if (g.start !== tgt) fail(`${where}: call into the middle of function ${g.name}`);
          let b = base.get(g);
          if (b === undefined) {
            b = total;
            base.set(g, b);
            order.push(g);
            total += g.end - g.start;
          }
          /* the call is relative in the linked program */
          dv.setInt32(i * 8 + 4, b - (base.get(f)! + i) - 1, true);
        } else if (rel !== undefined) {
          fail(`${where}: relocation on an instruction that does not take one`);
        }
      }
      out.push(bytes);
    }
    const insns = new Uint8Array(total * 8);
    let o = 0;
    for (const b of out) {
      insns.set(b, o);
      o += b.length;
    }
    return { name: main.name, secName, section, insns, funcs: order.map((f) => ({ start: base.get(f)!, name: f.name })), origin };
  }

  return { name, license, maps, progs };
}
