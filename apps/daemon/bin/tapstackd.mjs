#!/usr/bin/env node
// tapstackd. In a clone of the repository it runs from TypeScript source, with no build
// step: register tsx, and a resolve hook that adds the `development` export condition so
// that workspace packages load from their src/ (as `node --conditions=development
// --import tsx` would). Installed from the packed package (no src/ there), it runs the
// built dist/main.js. Either way everything runs in this one process, so its PID is the
// daemon's PID.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const fromSource = existsSync(new URL('../src/main.ts', import.meta.url));
let main;
if (fromSource) {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  register(
    'data:text/javascript,export async function resolve(s,c,n){return n(s,{...c,conditions:[...new Set([...c.conditions,"development"])]})}',
  );
  ({ main } = await import('../src/main.ts'));
} else {
  ({ main } = await import('../dist/main.js'));
}
await main(process.argv.slice(2));
