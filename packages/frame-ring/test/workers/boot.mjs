// Worker entry: registers tsx in this thread (Node 20 does not apply `--import tsx` hooks to
// a worker's first module reliably), then loads the real worker script, which imports the
// package's TypeScript source through the `development` condition.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(new URL(workerData.script, import.meta.url).href);
