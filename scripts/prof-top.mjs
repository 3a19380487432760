// Self time per function of a V8 .cpuprofile: node scripts/prof-top.mjs FILE [N]
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const n = Number(process.argv[3] ?? 25);
const self = new Map();
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const counts = new Map();
for (const s of p.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
let total = 0;
for (const [id, c] of counts) {
  const node = byId.get(id);
  const f = node.callFrame;
  const key = `${f.functionName || '(anon)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + c);
  total += c;
}
for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${(100 * c / total).toFixed(1).padStart(5)}%  ${k}`);
