#!/usr/bin/env node
// The xdpsim command. The sources are TypeScript, run through tsx's loader
// (registered here, and again in each CPU worker: see NODE-NOTES.md).
import { register } from 'tsx/esm/api';

register();
// `xdpsim bench drop | head`: a reader that closes the pipe ends the run quietly, as with any Unix tool
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
