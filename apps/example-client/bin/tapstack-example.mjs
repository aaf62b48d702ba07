#!/usr/bin/env node
// tapstack-example runs from TypeScript source, with no build step: register tsx, and a
// resolve hook that adds the `development` export condition so that workspace
// packages load from their src/ (as `node --conditions=development --import tsx`
// would). Everything runs in this one process, so its PID is the program's PID.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register(
  'data:text/javascript,export async function resolve(s,c,n){return n(s,{...c,conditions:[...new Set([...c.conditions,"development"])]})}',
);
const { main } = await import('../src/main.ts');
await main(process.argv.slice(2));
