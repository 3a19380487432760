/*
 * ELF64 little-endian relocatable objects, as clang -target bpf writes
 * them: the section headers, the section name table, the symbol table and
 * the SHT_REL relocation sections (include/uapi/linux/elf.h). Only what a
 * BPF loader needs; nothing is mapped or executed here.
 *
 * Concurrency: pure functions over a byte array the caller owns; the result
 * holds subarrays of that array (no copies). Safe on any thread.
 */

export const EM_BPF = 247;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;

/* the BPF relocation types (llvm's BPFELFObjectWriter, Documentation/bpf/llvm_reloc.rst) */
export const R_BPF_NONE = 0;
export const R_BPF_64_64 = 1;
export const R_BPF_64_ABS64 = 2;
export const R_BPF_64_ABS32 = 3;
export const R_BPF_64_NODYLD32 = 4;
export const R_BPF_64_32 = 10;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  /** file bytes (empty for SHT_NOBITS) */
  data: Uint8Array;
  /** sh_size (for .bss, the size although there are no bytes) */
  size: number;
  link: number;
  info: number;
  entsize: number;
}

export interface ElfSymbol {
  index: number;
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  shndx: number;
}

export interface ElfRel {
  /** byte offset in the target section */
  offset: number;
  type: number;
  sym: number;
}

export interface ElfFile {
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** relocations by the index of the section they apply to */
  rels: Map<number, ElfRel[]>;
  byName(name: string): ElfSection | undefined;
}

export class ElfError extends Error {}

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

function cstr(b: Uint8Array, off: number): string {
  let e = off;
  while (e < b.length && b[e] !== 0) e++;
  return Buffer.from(b.buffer, b.byteOffset + off, e - off).toString('latin1');
}

/** Parse an ELF64 LE object. Throws ElfError naming what is malformed. */
export function parseElf(bytes: Uint8Array): ElfFile {
  if (!isElf(bytes)) throw new ElfError('not an ELF file (no \\x7fELF magic)');
  if (bytes.length < 64) throw new ElfError('ELF header truncated');
  if (bytes[4] !== 2) throw new ElfError('not a 64-bit ELF object (EI_CLASS is not ELFCLASS64)');
  if (bytes[5] !== 1) throw new ElfError('not a little-endian ELF object (EI_DATA is not ELFDATA2LSB): xdpsim runs bpfel objects (clang -target bpf on x86 or -target bpfel)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_BPF) throw new ElfError(`e_machine is ${machine}, not EM_BPF (247): compile with clang -target bpf`);
  const shoff = Number(dv.getBigUint64(40, true));
  const shentsize = dv.getUint16(58, true);
  const shnum = dv.getUint16(60, true);
  const shstrndx = dv.getUint16(62, true);
  if (shentsize !== 64 || shoff + shnum * 64 > bytes.length) throw new ElfError('section header table out of the file');
  const raw: Omit<ElfSection, 'name'>[] = [];
  const names: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * 64;
    const type = dv.getUint32(o + 4, true);
    const off = Number(dv.getBigUint64(o + 24, true));
    const size = Number(dv.getBigUint64(o + 32, true));
    if (type !== SHT_NOBITS && off + size > bytes.length) throw new ElfError(`section ${i}: data out of the file`);
    names.push(dv.getUint32(o, true));
    raw.push({
      index: i, type, flags: Number(dv.getBigUint64(o + 8, true)),
      data: type === SHT_NOBITS ? new Uint8Array(0) : bytes.subarray(off, off + size), size,
      link: dv.getUint32(o + 40, true), info: dv.getUint32(o + 44, true), entsize: Number(dv.getBigUint64(o + 56, true)),
    });
  }
  const shstr = raw[shstrndx];
  if (shstr === undefined) throw new ElfError('no section name table');
  const sections: ElfSection[] = raw.map((s, i) => ({ ...s, name: cstr(shstr.data, names[i]!) }));
  const symbols: ElfSymbol[] = [];
  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  if (symtab !== undefined) {
    const strtab = sections[symtab.link];
    if (strtab === undefined) throw new ElfError('.symtab has no string table');
    const sd = new DataView(symtab.data.buffer, symtab.data.byteOffset, symtab.data.byteLength);
    const n = Math.floor(symtab.data.length / 24);
    for (let i = 0; i < n; i++) {
      const o = i * 24;
      const info = sd.getUint8(o + 4);
      symbols.push({
        index: i, name: cstr(strtab.data, sd.getUint32(o, true)), type: info & 0xf, bind: info >> 4,
        shndx: sd.getUint16(o + 6, true), value: Number(sd.getBigUint64(o + 8, true)), size: Number(sd.getBigUint64(o + 16, true)),
      });
    }
  }
  const rels = new Map<number, ElfRel[]>();
  for (const s of sections) {
    if (s.type === SHT_RELA) throw new ElfError(`section ${s.name}: SHT_RELA relocations are not used by BPF objects`);
    if (s.type !== SHT_REL) continue;
    const rd = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength);
    const list: ElfRel[] = [];
    for (let o = 0; o + 16 <= s.data.length; o += 16) {
      list.push({ offset: Number(rd.getBigUint64(o, true)), type: rd.getUint32(o + 8, true), sym: rd.getUint32(o + 12, true) });
    }
    rels.set(s.info, list);
  }
  return { sections, symbols, rels, byName: (name) => sections.find((s) => s.name === name) };
}
