#!/usr/bin/env node
// The xdpsim command. The sources are TypeScript, run through tsx's loader
// (registered here, and again in each CPU worker: see NODE-NOTES.md).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
