/*
 * What the conformance runner (scripts/conformance.ts) and the test
 * (test/conformance.test.ts) share: the recorded expectations and the
 * verdict on one case.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaseSpec } from './cases.ts';
import { EXPECTED_DIR } from './compile.ts';
import { diffResults, type CaseResult, type Expectation } from './result.ts';

export const expectedPath = (name: string): string => join(EXPECTED_DIR, `${name}.json`);

export function loadExpected(name: string): Expectation | null {
  const p = expectedPath(name);
  if (!existsSync(p)) return null;
  return JSON.parse(readFileSync(p, 'utf8')) as Expectation;
}

export function saveExpected(name: string, kernel: string, result: CaseResult): void {
  const e: Expectation = { case: name, recorded: { kernel, date: new Date().toISOString().slice(0, 10) }, result };
  writeFileSync(expectedPath(name), JSON.stringify(e, null, 2) + '\n');
}

export type Status = 'pass' | 'fail' | 'known' | 'fixed';

export interface Verdict {
  status: Status;
  /** what differs, one line each */
  diff: string[];
}

/**
 * xdpsim's result against the kernel's (live or recorded). A case marked
 * knownDifference is 'known' while it differs and 'fixed' (a failure: the
 * mark is stale) once it does not.
 */
export function judge(c: CaseSpec, xdpsim: CaseResult, kernel: CaseResult, kernelName = 'kernel'): Verdict {
  const diff = diffResults(kernel, xdpsim, kernelName, 'xdpsim');
  if (c.knownDifference !== undefined) return { status: diff.length > 0 ? 'known' : 'fixed', diff };
  return { status: diff.length > 0 ? 'fail' : 'pass', diff };
}
