/*
 * ELF64 little-endian relocatable objects, as clang -target bpf writes
 * them: the section headers, the section name table, the symbol table and
 * the SHT_REL relocation sections (include/uapi/linux/elf.h). Only what a
 * BPF loader needs; nothing is mapped or executed here.
 *
 * Concurrency: pure functions over a byte array the caller owns; the result
 * holds subarrays of that array (no copies). Safe on any thread.
 */

import { EINVAL, XdpsimError } from '../shared/errno.ts';

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

/*
 * A malformed or unsupported object: an XdpsimError (EINVAL), as libbpf's
 * bpf_object__open() fails with -EINVAL or -LIBBPF_ERRNO__FORMAT. The
 * message names the section (by index, and by name once it is known) and
 * the offset at fault; `detail` is the message without the errno prefix,
 * for callers that put it in a message of their own.
 */
export class ElfError extends XdpsimError {
  readonly detail: string;
  constructor(message: string) {
    super(EINVAL, message);
    this.name = 'ElfError';
    this.detail = message;
  }
}

export const ET_REL = 1;
const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/** "section 3 'xdp'", or 'section 3' while (or if) it has no name, for messages. */
export function sectionLabel(s: { index: number; name: string }): string {
  return s.name === '' ? `section ${s.index}` : `section ${s.index} '${s.name}'`;
}

/*
 * The NUL-terminated string at `off` of a string table (elf_strptr()):
 * `what` says whose name it is, for the error when the offset is past the
 * table or the string runs to its end without a NUL.
 */
function cstr(tab: ElfSection, off: number, what: string, table: string): string {
  const b = tab.data;
  if (off >= b.length) throw new ElfError(`${what}: name at offset ${off} is past the end of the ${table} (${sectionLabel(tab)}, ${b.length} bytes)`);
  const e = b.indexOf(0, off);
  if (e < 0) throw new ElfError(`${what}: name at offset ${off} of the ${table} (${sectionLabel(tab)}) is not NUL-terminated`);
  return Buffer.from(b.buffer, b.byteOffset + off, e - off).toString('latin1');
}

/**
 * Parse an ELF64 LE object. Every offset, size and count is checked
 * against the file (or its section) before it is used: a malformed object
 * throws ElfError naming the section and the offset, never reads out of
 * bounds and never allocates more than the file's size implies.
 */
export function parseElf(bytes: Uint8Array): ElfFile {
  if (!isElf(bytes)) throw new ElfError('not an ELF file (no \\x7fELF magic)');
  if (bytes.length < EHDR_SIZE) throw new ElfError(`ELF header truncated: the file has ${bytes.length} bytes, the header needs ${EHDR_SIZE}`);
  if (bytes[4] !== 2) throw new ElfError('not a 64-bit ELF object (EI_CLASS is not ELFCLASS64)');
  if (bytes[5] !== 1) throw new ElfError('not a little-endian ELF object (EI_DATA is not ELFDATA2LSB): xdpsim runs bpfel objects (clang -target bpf on x86 or -target bpfel)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fileLen = BigInt(bytes.length);
  const etype = dv.getUint16(16, true);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_BPF) throw new ElfError(`e_machine is ${machine}, not EM_BPF (247): compile with clang -target bpf`);
  if (etype !== ET_REL) throw new ElfError(`e_type is ${etype}, not ET_REL (1): a BPF object is a relocatable file (clang -c)`);
  const shoff = dv.getBigUint64(40, true);
  const shentsize = dv.getUint16(58, true);
  const shnum = dv.getUint16(60, true);
  const shstrndx = dv.getUint16(62, true);
  if (shnum === 0) throw new ElfError(`e_shnum is 0: no section headers (or extended section numbering, which BPF objects do not use)`);
  if (shentsize !== SHDR_SIZE) throw new ElfError(`e_shentsize is ${shentsize}, not ${SHDR_SIZE} (sizeof(Elf64_Shdr))`);
  if (shoff > fileLen || BigInt(shnum * SHDR_SIZE) > fileLen - shoff) {
    throw new ElfError(`section header table at offset ${shoff} (${shnum} headers of ${SHDR_SIZE} bytes) is past the end of the file (${bytes.length} bytes)`);
  }
  const sections: ElfSection[] = [];
  const nameOffs: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = Number(shoff) + i * SHDR_SIZE;
    const type = dv.getUint32(o + 4, true);
    const off = dv.getBigUint64(o + 24, true);
    const size = dv.getBigUint64(o + 32, true);
    if (type !== SHT_NOBITS && (off > fileLen || size > fileLen - off)) {
      throw new ElfError(`section ${i}: data at offset ${off} (${size} bytes) is past the end of the file (${bytes.length} bytes)`);
    }
    nameOffs.push(dv.getUint32(o, true));
    sections.push({
      index: i, name: '', type, flags: Number(dv.getBigUint64(o + 8, true) & 0xffffffffn),
      data: type === SHT_NOBITS ? new Uint8Array(0) : bytes.subarray(Number(off), Number(off + size)),
      /* sh_size of SHT_NOBITS is not bounded by the file: kept exact up to 2^53, the loader checks it */
      size: Number(size),
      link: dv.getUint32(o + 40, true), info: dv.getUint32(o + 44, true), entsize: Number(dv.getBigUint64(o + 56, true)),
    });
  }
  const shstr = sections[shstrndx];
  if (shstr === undefined) throw new ElfError(`e_shstrndx is ${shstrndx}: there is no such section (the object has ${shnum}), so no section name table`);
  if (shstr.type !== SHT_STRTAB) throw new ElfError(`e_shstrndx is ${shstrndx}: ${sectionLabel(shstr)} is of type ${shstr.type}, not SHT_STRTAB (3)`);
  /* the table's own name first, so that the other sections' errors can name it */
  for (const s of [shstr, ...sections]) s.name = cstr(shstr, nameOffs[s.index]!, `section ${s.index}`, 'section name table');
  for (const s of sections) if (s.type === SHT_RELA) throw new ElfError(`${sectionLabel(s)}: SHT_RELA relocations are not used by BPF objects`);

  /* ---- the symbol table (libbpf: exactly one, of Elf64_Sym entries) ---- */
  const symbols: ElfSymbol[] = [];
  const symtabs = sections.filter((s) => s.type === SHT_SYMTAB);
  if (symtabs.length > 1) throw new ElfError(`${sectionLabel(symtabs[1]!)}: a second symbol table (the first is ${sectionLabel(symtabs[0]!)})`);
  const symtab = symtabs[0];
  if (symtab !== undefined) {
    const where = sectionLabel(symtab);
    if (symtab.entsize !== SYM_SIZE) throw new ElfError(`${where}: sh_entsize is ${symtab.entsize}, not ${SYM_SIZE} (sizeof(Elf64_Sym))`);
    if (symtab.size % SYM_SIZE !== 0) throw new ElfError(`${where}: size ${symtab.size} is not a multiple of ${SYM_SIZE} (sizeof(Elf64_Sym))`);
    const strtab = sections[symtab.link];
    if (strtab === undefined) throw new ElfError(`${where}: sh_link ${symtab.link} is no section, so the symbols have no string table`);
    if (strtab.type !== SHT_STRTAB) throw new ElfError(`${where}: sh_link ${symtab.link} is ${sectionLabel(strtab)} of type ${strtab.type}, not a string table`);
    const sd = new DataView(symtab.data.buffer, symtab.data.byteOffset, symtab.data.byteLength);
    const n = symtab.data.length / SYM_SIZE;
    for (let i = 0; i < n; i++) {
      const o = i * SYM_SIZE;
      const info = sd.getUint8(o + 4);
      symbols.push({
        index: i, name: cstr(strtab, sd.getUint32(o, true), `${where}, symbol ${i}`, 'string table'), type: info & 0xf, bind: info >> 4,
        shndx: sd.getUint16(o + 6, true), value: Number(sd.getBigUint64(o + 8, true)), size: Number(sd.getBigUint64(o + 16, true)),
      });
    }
  }

  /* ---- SHT_REL relocations, each within the section it applies to ---- */
  const rels = new Map<number, ElfRel[]>();
  for (const s of sections) {
    if (s.type !== SHT_REL) continue;
    const where = sectionLabel(s);
    if (s.entsize !== REL_SIZE) throw new ElfError(`${where}: sh_entsize is ${s.entsize}, not ${REL_SIZE} (sizeof(Elf64_Rel))`);
    if (s.size % REL_SIZE !== 0) throw new ElfError(`${where}: size ${s.size} is not a multiple of ${REL_SIZE} (sizeof(Elf64_Rel))`);
    const target = sections[s.info];
    if (target === undefined || s.info === 0) throw new ElfError(`${where}: sh_info ${s.info} is no section to apply relocations to (the object has ${shnum})`);
    if (symtab === undefined || s.link !== symtab.index) {
      throw new ElfError(`${where}: sh_link ${s.link} is not the symbol table (${symtab === undefined ? 'the object has none' : sectionLabel(symtab)})`);
    }
    const rd = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength);
    const list = rels.get(s.info) ?? [];
    for (let o = 0, k = 0; o < s.data.length; o += REL_SIZE, k++) {
      const off = rd.getBigUint64(o, true);
      const sym = rd.getUint32(o + 12, true);
      if (off >= BigInt(target.size)) throw new ElfError(`${where}, relocation ${k}: offset ${off} is past the end of ${sectionLabel(target)} (${target.size} bytes)`);
      if (sym >= symbols.length) throw new ElfError(`${where}, relocation ${k} (offset ${off}): symbol ${sym} is past the end of the symbol table (${symbols.length} symbols)`);
      list.push({ offset: Number(off), type: rd.getUint32(o + 8, true), sym });
    }
    rels.set(s.info, list);
  }
  return { sections, symbols, rels, byName: (name) => sections.find((s) => s.name === name) };
}
