/**
 * Starts one of this package's worker entries (io-worker, stack-worker): the built
 * `.js` next to the caller, or, when running from source (tests, tsx with the
 * `development` condition), the `.ts` through tsx's loader.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

export function startWorker(callerUrl: string, entry: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${entry}.js`, callerUrl), { workerData });
  // tsx's CommonJS entry of esm/api points at a missing file: use the .mjs beside it.
  const tsxApi = pathToFileURL(
    createRequire(callerUrl)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const url = new URL(`./${entry}.ts`, callerUrl).href;
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
  return new Worker(boot, { eval: true, workerData, execArgv: ['--conditions=development'] });
}
