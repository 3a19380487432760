/*
 * BTF, the BPF Type Format of the .BTF section (include/uapi/linux/btf.h):
 * the type table and string table, and what a loader reads from them, the
 * way libbpf does (tools/lib/bpf/btf.c, libbpf.c parse_btf_map_def()):
 * sizes of types, and the definitions of the maps declared in `.maps`,
 *
 *   struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); ... } m SEC(".maps");
 *
 * where __uint(name, N) is `int (*name)[N]` (a pointer to an array whose
 * nelems is the value) and __type(name, T) is `T *name` (the size of T).
 *
 * Concurrency: pure parsing over bytes the caller owns; safe on any thread.
 */
import { EINVAL, XdpsimError } from '../shared/errno.ts';

export const BTF_MAGIC = 0xeb9f;
export const BTF_KIND_INT = 1;
export const BTF_KIND_PTR = 2;
export const BTF_KIND_ARRAY = 3;
export const BTF_KIND_STRUCT = 4;
export const BTF_KIND_UNION = 5;
export const BTF_KIND_ENUM = 6;
export const BTF_KIND_FWD = 7;
export const BTF_KIND_TYPEDEF = 8;
export const BTF_KIND_VOLATILE = 9;
export const BTF_KIND_CONST = 10;
export const BTF_KIND_RESTRICT = 11;
export const BTF_KIND_FUNC = 12;
export const BTF_KIND_FUNC_PROTO = 13;
export const BTF_KIND_VAR = 14;
export const BTF_KIND_DATASEC = 15;
export const BTF_KIND_FLOAT = 16;
export const BTF_KIND_DECL_TAG = 17;
export const BTF_KIND_TYPE_TAG = 18;
export const BTF_KIND_ENUM64 = 19;

const KIND_NAMES = ['UNKN', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST',
  'RESTRICT', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64'];

export interface BtfMember { name: string; type: number; offset: number }
export interface BtfSecinfo { type: number; offset: number; size: number }

export interface BtfType {
  id: number;
  kind: number;
  name: string;
  vlen: number;
  kflag: boolean;
  /** size for INT/STRUCT/UNION/ENUM/DATASEC/FLOAT, else the referenced type */
  sizeOrType: number;
  /** ARRAY */
  elemType?: number;
  nelems?: number;
  /** STRUCT/UNION members, FUNC_PROTO params (offset 0) */
  members?: BtfMember[];
  /** DATASEC variables */
  secinfos?: BtfSecinfo[];
  /** VAR linkage */
  linkage?: number;
}

/** Malformed BTF: an XdpsimError (EINVAL); `detail` is the message without the errno prefix. */
export class BtfError extends XdpsimError {
  readonly detail: string;
  constructor(message: string) {
    super(EINVAL, message);
    this.name = 'BtfError';
    this.detail = message;
  }
}

const BTF_HDR_SIZE = 24;
const BTF_TYPE_SIZE = 12;

/*
 * The bytes after struct btf_type (btf_type_size() in libbpf's btf.c): a
 * fixed part and a part per vlen entry; null for an unknown kind.
 */
function extraSize(kind: number): { fixed: number; per: number } | null {
  switch (kind) {
    case BTF_KIND_INT: case BTF_KIND_VAR: case BTF_KIND_DECL_TAG: return { fixed: 4, per: 0 };
    case BTF_KIND_ARRAY: return { fixed: 12, per: 0 };
    case BTF_KIND_STRUCT: case BTF_KIND_UNION: case BTF_KIND_DATASEC: case BTF_KIND_ENUM64: return { fixed: 0, per: 12 };
    case BTF_KIND_ENUM: case BTF_KIND_FUNC_PROTO: return { fixed: 0, per: 8 };
    case BTF_KIND_PTR: case BTF_KIND_FWD: case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT: case BTF_KIND_FUNC: case BTF_KIND_FLOAT: case BTF_KIND_TYPE_TAG:
      return { fixed: 0, per: 0 };
    default: return null;
  }
}

export class Btf {
  /** types[id]; id 0 is void */
  readonly types: BtfType[] = [{ id: 0, kind: 0, name: 'void', vlen: 0, kflag: false, sizeOrType: 0 }];

  /*
   * Parse a .BTF section as libbpf's btf_parse_hdr(), btf_parse_str_sec()
   * and btf_parse_type_sec() do: the header's sections are checked against
   * the section's size and each other, and every type (with its vlen
   * entries) against the end of the type section before it is read.
   * Offsets in messages are from the start of the .BTF section.
   */
  constructor(bytes: Uint8Array) {
    const fail = (msg: string): never => {
      throw new BtfError(`.BTF: ${msg}`);
    };
    if (bytes.length < BTF_HDR_SIZE) fail(`header truncated: the section has ${bytes.length} bytes, struct btf_header needs ${BTF_HDR_SIZE}`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = dv.getUint16(0, true);
    if (magic !== BTF_MAGIC) fail(`bad magic 0x${magic.toString(16)} (a big-endian object?)`);
    if (bytes[2] !== 1) fail(`version ${bytes[2]} is not supported (BTF version 1)`);
    if (bytes[3] !== 0) fail(`flags 0x${bytes[3]!.toString(16)} are not supported (must be 0)`);
    const hdrLen = dv.getUint32(4, true);
    const typeOff = dv.getUint32(8, true);
    const typeLen = dv.getUint32(12, true);
    const strOff = dv.getUint32(16, true);
    const strLen = dv.getUint32(20, true);
    if (hdrLen < BTF_HDR_SIZE) fail(`hdr_len ${hdrLen} is less than ${BTF_HDR_SIZE} (sizeof(struct btf_header))`);
    if (hdrLen > bytes.length) fail(`hdr_len ${hdrLen} is past the end of the section (${bytes.length} bytes)`);
    const t0 = hdrLen + typeOff;
    const s0 = hdrLen + strOff;
    if (s0 + strLen > bytes.length) fail(`string section at offset ${s0} (${strLen} bytes) is past the end of the section (${bytes.length} bytes)`);
    if (typeOff + typeLen > strOff) fail(`type section at offset ${t0} (${typeLen} bytes) runs into the string section at offset ${s0}`);
    if (typeOff % 4 !== 0) fail(`type section at offset ${t0}: type_off ${typeOff} is not a multiple of 4`);
    if (strLen === 0 || bytes[s0] !== 0 || bytes[s0 + strLen - 1] !== 0) {
      fail(`string section at offset ${s0} (${strLen} bytes) does not start and end with a NUL`);
    }
    /* NUL-terminated: the string section's last byte is a NUL */
    const str = (off: number, what: string): string => {
      if (off >= strLen) fail(`${what}: name at offset ${off} is past the end of the string section (${strLen} bytes)`);
      const e = bytes.indexOf(0, s0 + off);
      return Buffer.from(bytes.buffer, bytes.byteOffset + s0 + off, e - s0 - off).toString('latin1');
    };
    let o = t0;
    const end = t0 + typeLen;
    while (o < end) {
      const id = this.types.length;
      if (end - o < BTF_TYPE_SIZE) fail(`type ${id} at offset ${o}: ${end - o} bytes left in the type section, struct btf_type needs ${BTF_TYPE_SIZE}`);
      const info = dv.getUint32(o + 4, true);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const sz = extraSize(kind);
      if (sz === null) return fail(`type ${id} at offset ${o} has unknown kind ${kind}`);
      const t: BtfType = {
        id, name: str(dv.getUint32(o, true), `type ${id} at offset ${o}`), vlen, kind,
        kflag: (info >>> 31) !== 0, sizeOrType: dv.getUint32(o + 8, true),
      };
      const what = `type ${id} (${Btf.kindName(kind)}${t.name ? ` '${t.name}'` : ''}) at offset ${o}`;
      const left = end - o - BTF_TYPE_SIZE;
      if (sz.fixed > left) fail(`${what}: its ${sz.fixed} bytes after struct btf_type run past the end of the type section (offset ${end})`);
      if (sz.fixed + vlen * sz.per > left) fail(`${what}: ${vlen} entries of ${sz.per} bytes run past the end of the type section (offset ${end})`);
      o += BTF_TYPE_SIZE;
      switch (kind) {
        case BTF_KIND_ARRAY:
          t.elemType = dv.getUint32(o, true);
          t.nelems = dv.getUint32(o + 8, true);
          break;
        case BTF_KIND_STRUCT: case BTF_KIND_UNION:
          t.members = [];
          for (let i = 0, m = o; i < vlen; i++, m += 12) {
            t.members.push({ name: str(dv.getUint32(m, true), `${what}, member ${i}`), type: dv.getUint32(m + 4, true), offset: dv.getUint32(m + 8, true) });
          }
          break;
        case BTF_KIND_FUNC_PROTO:
          t.members = [];
          for (let i = 0, m = o; i < vlen; i++, m += 8) t.members.push({ name: str(dv.getUint32(m, true), `${what}, parameter ${i}`), type: dv.getUint32(m + 4, true), offset: 0 });
          break;
        case BTF_KIND_VAR: t.linkage = dv.getUint32(o, true); break;
        case BTF_KIND_DATASEC:
          t.secinfos = [];
          for (let i = 0, m = o; i < vlen; i++, m += 12) {
            t.secinfos.push({ type: dv.getUint32(m, true), offset: dv.getUint32(m + 4, true), size: dv.getUint32(m + 8, true) });
          }
          break;
        default:
          break;
      }
      o += sz.fixed + vlen * sz.per;
      this.types.push(t);
    }
  }

  type(id: number): BtfType {
    const t = this.types[id];
    if (t === undefined) throw new BtfError(`.BTF: no type ${id}`);
    return t;
  }

  static kindName(kind: number): string {
    return KIND_NAMES[kind] ?? `kind ${kind}`;
  }

  /** Skip typedefs and qualifiers (btf__skip_mods_and_typedefs). */
  skipMods(id: number): BtfType {
    let t = this.type(id);
    for (let n = 0; n < 64; n++) {
      if (t.kind !== BTF_KIND_TYPEDEF && t.kind !== BTF_KIND_VOLATILE && t.kind !== BTF_KIND_CONST &&
        t.kind !== BTF_KIND_RESTRICT && t.kind !== BTF_KIND_TYPE_TAG) return t;
      t = this.type(t.sizeOrType);
    }
    throw new BtfError(`.BTF: type ${id}: modifier chain too long`);
  }

  /** btf__resolve_size(): the size in bytes of type id. */
  resolveSize(id: number): number {
    let nelems = 1;
    let t = this.type(id);
    /* libbpf returns -E2BIG past UINT32_MAX; a map's key or value size is a u32 */
    const total = (size: number): number => {
      if (nelems * size > 0xffffffff) throw new BtfError(`.BTF: type ${id}: size ${nelems} x ${size} is larger than 4294967295 bytes`);
      return nelems * size;
    };
    for (let depth = 0; depth < 64; depth++) {
      switch (t.kind) {
        case BTF_KIND_INT: case BTF_KIND_STRUCT: case BTF_KIND_UNION: case BTF_KIND_ENUM: case BTF_KIND_ENUM64:
        case BTF_KIND_DATASEC: case BTF_KIND_FLOAT:
          return total(t.sizeOrType);
        case BTF_KIND_PTR:
          return total(8);
        case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE: case BTF_KIND_CONST: case BTF_KIND_RESTRICT:
        case BTF_KIND_TYPE_TAG: case BTF_KIND_VAR:
          t = this.type(t.sizeOrType);
          break;
        case BTF_KIND_ARRAY:
          nelems *= t.nelems!;
          if (nelems > 0xffffffff) throw new BtfError(`.BTF: type ${id}: more than 4294967295 array elements`);
          t = this.type(t.elemType!);
          break;
        default:
          throw new BtfError(`.BTF: type ${id} (${Btf.kindName(t.kind)}${t.name ? ' ' + t.name : ''}) has no size`);
      }
    }
    throw new BtfError(`.BTF: type ${id}: type chain too long`);
  }

  datasec(name: string): BtfType | undefined {
    return this.types.find((t) => t.kind === BTF_KIND_DATASEC && t.name === name);
  }
}

/** What a BTF-defined map declares (libbpf's struct btf_map_def). */
export interface BtfMapDef {
  name: string;
  /** offset of the variable in .maps */
  offset: number;
  type?: number;
  keySize?: number;
  valueSize?: number;
  maxEntries?: number;
  mapFlags?: number;
  numaNode?: number;
  pinning?: number;
  mapExtra?: number;
}

/*
 * parse_btf_map_def(): every member of the map's struct, strictly (an
 * unknown member fails the load, as libbpf does for .maps).
 */
export function parseBtfMapDefs(btf: Btf): BtfMapDef[] {
  const sec = btf.datasec('.maps');
  if (sec === undefined) throw new BtfError('.BTF has no DATASEC \'.maps\': the object has a .maps section but no BTF describing it');
  const out: BtfMapDef[] = [];
  for (const vi of sec.secinfos!) {
    const v = btf.type(vi.type);
    if (v.kind !== BTF_KIND_VAR) throw new BtfError(`.maps: entry of BTF kind ${Btf.kindName(v.kind)} is not a variable`);
    const name = v.name;
    const def = btf.skipMods(v.sizeOrType);
    if (def.kind !== BTF_KIND_STRUCT) throw new BtfError(`map '${name}': its definition is a ${Btf.kindName(def.kind)}, not a struct`);
    const m: BtfMapDef = { name, offset: vi.offset };
    const intField = (mem: BtfMember): number => {
      const p = btf.skipMods(mem.type);
      if (p.kind !== BTF_KIND_PTR) throw new BtfError(`map '${name}': attr '${mem.name}': expected PTR, got ${Btf.kindName(p.kind)}`);
      const a = btf.skipMods(p.sizeOrType);
      if (a.kind !== BTF_KIND_ARRAY) throw new BtfError(`map '${name}': attr '${mem.name}': type is not an ARRAY (use __uint())`);
      return a.nelems!;
    };
    const typeSize = (mem: BtfMember): number => {
      const p = btf.skipMods(mem.type);
      if (p.kind !== BTF_KIND_PTR) throw new BtfError(`map '${name}': ${mem.name} spec is not PTR: ${Btf.kindName(p.kind)}`);
      return btf.resolveSize(p.sizeOrType);
    };
    for (const mem of def.members!) {
      switch (mem.name) {
        case 'type': m.type = intField(mem); break;
        case 'max_entries': m.maxEntries = intField(mem); break;
        case 'map_flags': m.mapFlags = intField(mem); break;
        case 'numa_node': m.numaNode = intField(mem); break;
        case 'pinning': m.pinning = intField(mem); break;
        case 'map_extra': m.mapExtra = intField(mem); break;
        case 'key_size': {
          const sz = intField(mem);
          if (m.keySize !== undefined && m.keySize !== sz) throw new BtfError(`map '${name}': conflicting key size ${m.keySize} != ${sz}`);
          m.keySize = sz;
          break;
        }
        case 'value_size': {
          const sz = intField(mem);
          if (m.valueSize !== undefined && m.valueSize !== sz) throw new BtfError(`map '${name}': conflicting value size ${m.valueSize} != ${sz}`);
          m.valueSize = sz;
          break;
        }
        case 'key': {
          const sz = typeSize(mem);
          if (m.keySize !== undefined && m.keySize !== sz) throw new BtfError(`map '${name}': conflicting key size ${m.keySize} != ${sz}`);
          m.keySize = sz;
          break;
        }
        case 'value': {
          const sz = typeSize(mem);
          if (m.valueSize !== undefined && m.valueSize !== sz) throw new BtfError(`map '${name}': conflicting value size ${m.valueSize} != ${sz}`);
          m.valueSize = sz;
          break;
        }
        case 'values':
          throw new BtfError(`map '${name}': 'values' (map-in-map and prog-array initial values) is not supported by xdpsim`);
        default:
          throw new BtfError(`map '${name}': unknown field '${mem.name}'`);
      }
    }
    out.push(m);
  }
  return out;
}
