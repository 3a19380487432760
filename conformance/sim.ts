/*
 * The xdpsim half: a case in xdpsim. A runtime of its own per case (one
 * CPU), the case's veth pairs (MTUs, a device left down), the object loaded
 * with rt.loadObject (the clang-compiled .o, or with --twins a hand-written
 * TypeScript equivalent from conformance/corpus/ts/), programs attached,
 * maps filled with device names translated to this runtime's ifindexes,
 * every xdp:* tracepoint on, an onPass handler on every device (what it
 * hands to its stack), then each frame injected into the ingress device's RX
 * queue and the runtime quiesced before the next (one NAPI poll per frame,
 * as the kernel half waits for each). The result is read back as a RawRun.
 */
import {
  BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, Runtime, devmapVal, type BpfObject, type Device, type MapHandle,
} from '../src/index.ts';
import { caseDevices, keyLabel, type CaseSpec, type Scalar } from './cases.ts';
import { frameBytes } from './kernel.ts';
import { TRACEPOINTS, type RawRun, type RawTrace, type Tracepoint } from './result.ts';

const codeOf = (e: unknown): string => {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' ? c : `${(e as Error).message ?? e}`;
};

const u32le = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
};

export async function runSim(c: CaseSpec, objPath: string): Promise<RawRun> {
  const rt = await Runtime.start({ cpus: 1 });
  try {
    return await runIn(rt, c, objPath);
  } finally {
    await rt.stop();
  }
}

async function runIn(rt: Runtime, c: CaseSpec, objPath: string): Promise<RawRun> {
  for (const v of c.veths) {
    rt.createVeth(v.name, v.peer, { mtu: v.mtu ?? 1500, up: !v.down }, { mtu: v.peerMtu ?? 1500, up: !v.peerDown });
  }
  const devices = new Map<string, Device>(caseDevices(c).map((d) => [d, rt.device(d)]));
  const run: RawRun = {
    loadError: null, setupErrors: [],
    ifnames: new Map<number, string>([[1, 'lo'], ...[...devices].map(([n, d]) => [d.ifindex, n] as [number, string])]),
    progNames: new Map(), mapNames: new Map(), maps: new Map(), delivered: new Map(), trace: [],
  };
  let obj: BpfObject;
  try {
    obj = await rt.loadObject(objPath);
  } catch (e) {
    run.loadError = codeOf(e);
    return run;
  }
  for (const [name, p] of Object.entries(obj.progs)) run.progNames.set(p.id, name);
  for (const [name, m] of Object.entries(obj.maps)) run.mapNames.set(m.id, name);
  const idx = (s: Scalar): number => {
    if (typeof s === 'number') return s;
    const d = devices.get(s.dev);
    if (!d) throw new Error(`case ${c.name}: no device ${s.dev}`);
    return d.ifindex;
  };
  const mapOf = (name: string): MapHandle => {
    const m = obj.maps[name];
    if (!m) throw new Error(`case ${c.name}: the object has no map ${name}`);
    return m;
  };

  for (const [d, p] of Object.entries(c.attach)) {
    const prog = obj.progs[p];
    if (!prog) throw new Error(`case ${c.name}: the object has no program ${p}`);
    try {
      devices.get(d)!.attachXdp(prog);
    } catch (e) {
      run.setupErrors.push(`attach ${d} ${p}: ${codeOf(e)}`);
    }
  }
  const update = (map: string, key: Scalar, value: Uint8Array | number): void => {
    try {
      mapOf(map).update(idx(key), value);
    } catch (e) {
      if (!(e as { code?: unknown }).code) throw e;
      run.setupErrors.push(`update ${map} key ${keyLabel(key)}: ${codeOf(e)}`);
    }
  };
  for (const [k, v] of Object.entries(c.cfg ?? {})) update('cfg', Number(k), u32le(idx(v)));
  for (const u of c.updates ?? []) {
    if (Array.isArray(u.value)) {
      const b = new Uint8Array(u.value.length * 4);
      u.value.forEach((w, i) => b.set(u32le(idx(w)), i * 4));
      update(u.map, u.key, b);
      continue;
    }
    const m = mapOf(u.map);
    if (m.type !== BPF_MAP_TYPE_DEVMAP && m.type !== BPF_MAP_TYPE_DEVMAP_HASH) throw new Error(`case ${c.name}: ${u.map} is not a devmap`);
    const ifindex = idx({ dev: u.value.dev });
    let progId = 0;
    if (u.value.prog) {
      const p = obj.progs[u.value.prog];
      if (!p) throw new Error(`case ${c.name}: the object has no program ${u.value.prog}`);
      progId = p.id;
    }
    update(u.map, u.key, m.valueSize === 4 ? u32le(ifindex) : devmapVal(ifindex, progId));
  }

  await rt.setTracepoints([...TRACEPOINTS], true);
  await rt.quiesce();
  rt.clearTraceEvents();
  for (const [name, d] of devices) {
    const frames: Uint8Array[] = [];
    run.delivered.set(name, frames);
    d.onPass((p) => { frames.push(p.data.slice(0, p.len)); });
  }
  const ingress = devices.get(c.ingress)!;
  for (const f of c.frames) {
    await ingress.inject({ packet: frameBytes(f), count: 1 });
    if (!(await rt.quiesce())) throw new Error(`case ${c.name}: xdpsim did not go idle`);
  }
  rt.collect();
  for (const e of rt.traceEvents()) {
    if (!(TRACEPOINTS as readonly string[]).includes(e.event)) continue;
    const fields: Record<string, number> = {};
    for (const [k, v] of Object.entries(e)) if (typeof v === 'number' && k !== 'cpu' && k !== 'ts') fields[k] = v;
    run.trace.push({ event: e.event as Tracepoint, fields } satisfies RawTrace);
  }
  for (const d of devices.values()) d.onPass(null);

  for (const name of c.dump) {
    const m = obj.maps[name];
    if (!m) continue;
    const entries: Array<[Uint8Array, Uint8Array]> = [];
    for (const k of m.keys()) {
      const v = m.lookup(m.keySize === 4 ? new DataView(k.buffer, k.byteOffset).getUint32(0, true) : k);
      if (v !== null) entries.push([k, v]);
    }
    run.maps.set(name, { type: m.type, keySize: m.keySize, valueSize: m.valueSize, entries });
  }
  return run;
}
