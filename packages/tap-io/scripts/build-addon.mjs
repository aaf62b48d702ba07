#!/usr/bin/env node
// Builds the TAP addon at install time with the node-gyp dependency, pointing it at the
// headers of the Node that runs this script (--nodedir), so no header download is tried.
// Never fails the install: on other platforms, or when the build fails, it prints a
// warning and the package's other links still work (the TAP link then throws ENOTSUP).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const warn = (msg) =>
  console.warn(`@tapstack/tap-io: ${msg}; the TAP link will be unavailable (other links work)`);

function nodedir() {
  if (process.env.TAPIO_NODEDIR) return process.env.TAPIO_NODEDIR;
  // <prefix>/bin/node -> <prefix>; headers live in <prefix>/include/node.
  const candidates = [join(dirname(process.execPath), '..')];
  if (process.env.npm_config_nodedir) candidates.push(process.env.npm_config_nodedir);
  candidates.push('/usr', '/usr/local');
  return candidates.find(
    (d) =>
      existsSync(join(d, 'include', 'node', 'node_api.h')) &&
      existsSync(join(d, 'include', 'node', 'common.gypi')),
  );
}

function main() {
  if (process.platform !== 'linux') return warn(`TAP devices need Linux (this is ${process.platform})`);
  let gyp;
  try {
    gyp = createRequire(join(pkg, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return warn('node-gyp is not installed');
  }
  const dir = nodedir();
  if (!dir) return warn('no Node headers found (set TAPIO_NODEDIR to a prefix with include/node)');
  const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${dir}`], { cwd: pkg, stdio: 'inherit' });
  if (r.status !== 0) return warn(`native build failed (node-gyp exit ${r.status})`);
  console.log('@tapstack/tap-io: TAP addon built');
}

try {
  main();
} catch (e) {
  warn(String(e));
}
