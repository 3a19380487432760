// Entry of an AF_XDP consumer thread (src/xsk/consumer.ts): tsx's hooks do
// not reach worker threads on Node 20 (NODE-NOTES.md), so register them here.
import { register } from 'tsx/esm/api';

register();
await import('./consumer.ts');
