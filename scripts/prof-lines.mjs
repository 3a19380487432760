// Hot lines of one function in a V8 .cpuprofile: node scripts/prof-lines.mjs FILE FUNCTION
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const fn = process.argv[3];
const lines = new Map();
for (const n of p.nodes) {
  if (n.callFrame.functionName !== fn) continue;
  for (const t of n.positionTicks ?? []) lines.set(t.line, (lines.get(t.line) ?? 0) + t.ticks);
}
for (const [l, t] of [...lines].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(String(t).padStart(6), 'line', l);
