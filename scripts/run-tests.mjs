// Runs every test/**/*.test.ts with node:test (Node 20 takes no globs, see
// NODE-NOTES.md). Extra arguments are test files to run instead of all.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = process.argv.length > 2 ? process.argv.slice(2) : find('test');
const r = spawnSync(process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=tap', '--test-concurrency=1', ...files],
  { stdio: 'inherit' });
process.exit(r.status ?? 1);
