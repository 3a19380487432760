/*
 * The kernel half: a case on the real kernel. For each case it creates a
 * network namespace (xdpconf-PID-N) with the case's veth pairs (explicit
 * ifindexes in a range of their own, so the xdp:* records of this case can be
 * told from anyone else's), runs conformance/kernel/loader.c in it (libbpf:
 * load the object, attach in driver mode, fill the maps, open AF_PACKET
 * captures on every device, send each frame on the ingress device's peer and
 * wait until the ingress program has counted it, collect, dump the maps), and
 * reads the xdp:* records from a tracefs instance of its own
 * (instances/xdpconf-PID on a tracefs mounted in a temporary directory).
 *
 * Everything it creates (namespaces, the trace instance, the tracefs mount)
 * is removed in close(), which also runs on SIGINT/SIGTERM and process exit
 * (registered by the caller through cleanupOnExit()).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildUdp4 } from '../src/index.ts';
import { caseDevices, ingressPeer, keyLabel, type CaseSpec, type Scalar } from './cases.ts';
import { compileLoader } from './compile.ts';
import { TRACEPOINTS, hex, type RawMap, type RawRun, type RawTrace, type Tracepoint } from './result.ts';

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));
export const errnoCode = (n: number): string => ERRNO_NAMES.get(n) ?? `errno ${n}`;

const ACTION_VALUES: Record<string, number> = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 };

/** Why the kernel half cannot run here, or null if it may (the first case still proves it). */
export function kernelUnavailable(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (network namespaces, BPF and tracefs need CAP_SYS_ADMIN and CAP_NET_ADMIN)';
  if (spawnSync('cc', ['--version']).status !== 0) return 'cc is not installed (the loader is C)';
  if (!existsSync('/usr/include/bpf/libbpf.h')) return 'libbpf headers are missing (apt-get install libbpf-dev)';
  if (spawnSync('ip', ['-V']).status !== 0) return 'iproute2 (ip) is not installed';
  return null;
}

export const frameBytes = (f: { size: number; srcPort?: number }): Uint8Array => buildUdp4({ size: f.size, srcPort: f.srcPort ?? 9 });

const le32 = (n: number): string => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b.toString('hex');
};

class Tracer {
  readonly inst: string;
  private constructor(readonly mnt: string, name: string) {
    this.inst = join(mnt, 'instances', name);
  }

  static open(): Tracer {
    const mnt = mkdtempSync(join(tmpdir(), 'xdpconf-tracefs-'));
    try {
      execFileSync('mount', ['-t', 'tracefs', 'nodev', mnt], { stdio: 'pipe' });
    } catch (e) {
      rmdirSync(mnt);
      throw new Error(`cannot mount tracefs: ${(e as Error).message.split('\n')[0]}`);
    }
    const t = new Tracer(mnt, `xdpconf-${process.pid}`);
    try {
      mkdirSync(t.inst);
      for (const tp of TRACEPOINTS) writeFileSync(join(t.inst, 'events', 'xdp', tp, 'enable'), '1');
    } catch (e) {
      t.close();
      throw e;
    }
    return t;
  }

  clear(): void { writeFileSync(join(this.inst, 'trace'), ''); }

  /** The records of the devices in `ifindexes` (the case's own range). */
  read(ifindexes: Set<number>): RawTrace[] {
    const out: RawTrace[] = [];
    for (const line of readFileSync(join(this.inst, 'trace'), 'utf8').split('\n')) {
      const m = /\s(xdp_\w+): (.*)$/.exec(line);
      if (!m || !(TRACEPOINTS as readonly string[]).includes(m[1]!)) continue;
      const fields: Record<string, number> = {};
      for (const [, k, v] of m[2]!.matchAll(/(\w+)=(\S+)/g)) {
        const key = k === 'action' ? 'act' : k!;
        fields[key] = v! in ACTION_VALUES ? ACTION_VALUES[v!]! : Number(v);
      }
      const who = fields.ifindex ?? fields.from_ifindex;
      if (who === undefined || !ifindexes.has(who)) continue;
      out.push({ event: m[1] as Tracepoint, fields });
    }
    return out;
  }

  close(): void {
    try {
      for (const tp of TRACEPOINTS) {
        try { writeFileSync(join(this.inst, 'events', 'xdp', tp, 'enable'), '0'); } catch { /* gone */ }
      }
      if (existsSync(this.inst)) rmdirSync(this.inst);
    } finally {
      spawnSync('umount', [this.mnt]);
      try { rmdirSync(this.mnt); } catch { /* still mounted: reported by the caller's check */ }
    }
  }
}

export class KernelHarness {
  private readonly namespaces = new Set<string>();
  private nsCount = 0;
  /* each case gets 16 ifindexes from here on */
  private nextBase = 10000 + 16 * Math.floor(Math.random() * 2500);
  private closed = false;

  private constructor(private readonly loader: string, private readonly tracer: Tracer, readonly kernel: string) {}

  /** Compile the loader into workDir and open the trace instance; throws with the reason if it cannot. */
  static open(workDir: string): KernelHarness {
    const loader = compileLoader(workDir);
    const tracer = Tracer.open();
    const kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
    return new KernelHarness(loader, tracer, kernel);
  }

  /** Remove every namespace still there and the trace instance and mount. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const ns of this.namespaces) spawnSync('ip', ['netns', 'del', ns]);
    this.namespaces.clear();
    this.tracer.close();
  }

  async run(c: CaseSpec, obj: string): Promise<RawRun> {
    if (this.closed) throw new Error('kernel harness closed');
    const ns = `xdpconf-${process.pid}-${this.nsCount++}`;
    const devs = caseDevices(c);
    if (devs.length > 16) throw new Error(`case ${c.name}: more than 16 devices`);
    const base = this.nextBase;
    this.nextBase += 16;
    const ifindex = new Map(devs.map((d, i) => [d, base + i]));
    const ifnames = new Map<number, string>([[1, 'lo'], ...[...ifindex].map(([d, i]) => [i, d] as [number, string])]);
    const idx = (s: Scalar): number => {
      if (typeof s === 'number') return s;
      const i = ifindex.get(s.dev);
      if (i === undefined) throw new Error(`case ${c.name}: no device ${s.dev}`);
      return i;
    };

    this.namespaces.add(ns);
    try {
      execFileSync('ip', ['netns', 'add', ns], { stdio: 'pipe' });
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], { stdio: 'pipe' });
      const batch: string[] = [];
      for (const v of c.veths) {
        batch.push(`link add ${v.name} index ${ifindex.get(v.name)} mtu ${v.mtu ?? 1500} type veth peer name ${v.peer} index ${ifindex.get(v.peer)} mtu ${v.peerMtu ?? 1500}`);
      }
      for (const v of c.veths) {
        if (!v.down) batch.push(`link set ${v.name} up`);
        if (!v.peerDown) batch.push(`link set ${v.peer} up`);
      }
      execFileSync('ip', ['-n', ns, '-batch', '-'], { input: batch.join('\n') + '\n', stdio: ['pipe', 'pipe', 'pipe'] });

      const script: string[] = [`open ${obj}`];
      /* map and key hex -> the key as the case names it, for setup errors */
      const labels = new Map<string, string>();
      for (const [k] of Object.entries(c.cfg ?? {})) labels.set(`cfg ${le32(Number(k))}`, k);
      for (const u of c.updates ?? []) labels.set(`${u.map} ${le32(idx(u.key))}`, keyLabel(u.key));
      for (const [d, p] of Object.entries(c.attach)) script.push(`attach ${d} ${p}`);
      for (const [k, v] of Object.entries(c.cfg ?? {})) script.push(`update cfg ${le32(Number(k))} ${le32(idx(v))}`);
      for (const u of c.updates ?? []) {
        if (Array.isArray(u.value)) script.push(`update ${u.map} ${le32(idx(u.key))} ${u.value.map((w) => le32(idx(w))).join('')}`);
        else script.push(`devupdate ${u.map} ${le32(idx(u.key))} ${idx({ dev: u.value.dev })}${u.value.prog ? ` ${u.value.prog}` : ''}`);
      }
      script.push(`capture ${devs.join(' ')}`);
      const peer = ingressPeer(c);
      c.frames.forEach((f, i) => {
        script.push(`inject ${peer} ${hex(frameBytes(f))}`, `wait verdicts ${i + 1} 2000`, 'sleep 5');
      });
      script.push('sleep 30', 'collect', ...c.dump.map((m) => `dump ${m}`));

      this.tracer.clear();
      const out = await runLoader(['ip', 'netns', 'exec', ns, this.loader], script.join('\n') + '\n');
      const trace = this.tracer.read(new Set(ifindex.values()));
      return parseLoaderOutput(c, out, ifnames, trace, labels);
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
      this.namespaces.delete(ns);
    }
  }
}

function runLoader(argv: string[], input: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('close', (code, sig) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`loader exited with ${code ?? sig}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
      else resolve({ stdout, stderr });
    });
    p.stdin.end(input);
  });
}

function parseLoaderOutput(c: CaseSpec, out: { stdout: string; stderr: string }, ifnames: Map<number, string>, trace: RawTrace[],
  labels: Map<string, string>): RawRun {
  const run: RawRun = {
    loadError: null, setupErrors: [], ifnames, progNames: new Map(), mapNames: new Map(),
    maps: new Map(), delivered: new Map(), trace,
  };
  const mapInfo = new Map<string, Omit<RawMap, 'entries'>>();
  const problems: string[] = [];
  for (const line of out.stdout.split('\n')) {
    const a = line.split(' ');
    switch (a[0]) {
      case 'load':
        if (a[1] === 'err') run.loadError = errnoCode(Number(a[2]));
        break;
      case 'prog': run.progNames.set(Number(a[2]), a[1]!); break;
      case 'map':
        run.mapNames.set(Number(a[2]), a[1]!);
        mapInfo.set(a[1]!, { type: Number(a[3]), keySize: Number(a[4]), valueSize: Number(a[5]) });
        break;
      case 'frame': {
        const l = run.delivered.get(a[1]!) ?? [];
        l.push(new Uint8Array(Buffer.from(a[3]!, 'hex')));
        run.delivered.set(a[1]!, l);
        break;
      }
      case 'entry': {
        const info = mapInfo.get(a[1]!)!;
        if (!run.maps.has(a[1]!)) run.maps.set(a[1]!, { ...info, entries: [] });
        run.maps.get(a[1]!)!.entries.push([new Uint8Array(Buffer.from(a[2]!, 'hex')), new Uint8Array(Buffer.from(a[3]!, 'hex'))]);
        break;
      }
      case 'dumped':
        if (!run.maps.has(a[1]!)) run.maps.set(a[1]!, { ...mapInfo.get(a[1]!)!, entries: [] });
        break;
      case 'error':
        if (a[1] === 'attach') run.setupErrors.push(`attach ${a[2]} ${a[3]}: ${errnoCode(Number(a[4]))}`);
        else if (a[1] === 'update' || a[1] === 'devupdate') run.setupErrors.push(`update ${a[2]} key ${labels.get(`${a[2]} ${a[3]}`) ?? a[3]}: ${errnoCode(Number(a.at(-1)))}`);
        else problems.push(line);
        break;
      default:
        break;
    }
  }
  if (problems.length > 0) throw new Error(`case ${c.name}: the kernel half failed: ${problems.join('; ')}${out.stderr ? `\n${out.stderr.trim()}` : ''}`);
  return run;
}
