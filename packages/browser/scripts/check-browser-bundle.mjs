#!/usr/bin/env node
// The browser check (run by `pnpm test` here and so by CI): bundles what a page loads —
// @tapstack/browser (stack-core, ws-link's client) and @tapstack/frame-ring — with
// esbuild for the browser platform, from source (the `development` condition), and
// fails on any `node:` import or Node built-in that would reach the page. Prints the
// bundle's size and inputs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'tapstack-browser-check-'));
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const offenders = [];
const extra = process.argv.includes('--also') ? [process.argv[process.argv.indexOf('--also') + 1]] : [];
try {
  const result = await build({
    stdin: {
      contents: [
        "export * from '@tapstack/browser';",
        "export { FrameRing } from '@tapstack/frame-ring';",
        // `--also <file>`: one more module in the bundle (how the check's own test shows it fails).
        ...extra.map((f) => `export * from ${JSON.stringify(f)};`),
      ].join('\n'),
      resolveDir: join(here, '..'),
      loader: 'ts',
    },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    conditions: ['development'],
    outfile: join(out, 'page.js'),
    metafile: true,
    logLevel: 'silent',
    plugins: [
      {
        name: 'no-node',
        setup(b) {
          b.onResolve({ filter: /.*/ }, (args) => {
            if (args.path.startsWith('node:') || builtins.has(args.path)) {
              offenders.push(`${args.path} (imported by ${args.importer})`);
              return { path: args.path, external: true };
            }
            return undefined;
          });
        },
      },
    ],
  }).catch((e) => {
    const lines = (e.errors ?? []).map((x) => `${x.location?.file ?? '?'}: ${x.text}`);
    throw new Error(`esbuild (platform browser) failed:\n${lines.join('\n') || e.message}`);
  });
  // Node globals that no import shows (a page has none of them).
  const text = readFileSync(join(out, 'page.js'), 'utf8');
  for (const [re, what] of [
    [/\bsetImmediate\s*\(/, 'setImmediate'],
    [/\bBuffer\.(from|alloc|concat|isBuffer)\b/, 'Buffer'],
    [/\bprocess\.(env|nextTick|hrtime|platform|pid)\b/, 'process'],
    [/\brequire\s*\(/, 'require'],
    [/\b__dirname\b/, '__dirname'],
  ])
    if (re.test(text)) offenders.push(`Node global ${what} in the bundle`);
  if (offenders.length) {
    console.error(`browser bundle check FAILED: Node imports reach the page:\n  ${offenders.join('\n  ')}`);
    process.exitCode = 1;
  } else {
    const o = Object.values(result.metafile.outputs)[0];
    const pkgs = new Set(
      Object.keys(result.metafile.inputs)
        .filter((p) => p !== '<stdin>')
        .map((p) => (/(?:packages\/|\.\.\/)([^/]+)\/src\//.exec(p) ?? [])[1] ?? 'browser'),
    );
    console.log(
      `browser bundle check: ok — ${(o.bytes / 1024).toFixed(0)} KiB for platform 'browser', no node: imports; packages: ${[...pkgs].sort().join(', ')}`,
    );
  }
} catch (e) {
  console.error(`browser bundle check FAILED: ${e.message}`);
  process.exitCode = 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
