// Entry of a CPU worker. tsx's hooks do not reach worker threads on Node 20
// (NODE-NOTES.md), so register them here, then load the TypeScript entry.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
