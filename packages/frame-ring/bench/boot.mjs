// Worker entry: register tsx in this thread, then load the bench worker (see test/workers/boot.mjs).
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
