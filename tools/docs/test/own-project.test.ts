/**
 * The root README's "Use it from your own project" runs as written (issue 19): build and
 * pack the packages, install the tarballs with npm in a project outside the clone, run
 * examples/hello.mjs (whose text the README shows) against `tapstackd` from the installed
 * @tapstack/daemon. The README's /tmp/ paths are moved into a temp dir of the test's own.
 * Needs the npm registry (for the packages' own dependencies): skipped with a message when
 * it cannot be reached.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '../../..');
const readme = readFileSync(join(repo, 'README.md'), 'utf8');

/** The ```sh block right after `<!-- readme-test:name -->`. */
function taggedBlock(name: string): string {
  const tag = `<!-- readme-test:${name} -->\n\`\`\`sh\n`;
  const at = readme.indexOf(tag);
  if (at < 0) throw new Error(`README.md: no block tagged ${name}`);
  const start = at + tag.length;
  return readme.slice(start, readme.indexOf('```', start));
}

function registryReason(): string | undefined {
  const r = spawnSync('npm', ['ping'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return `npm cannot run (${r.error.message})`;
  if (r.status !== 0)
    return `the npm registry cannot be reached (npm ping: ${r.stderr.trim().split('\n').pop()})`;
  return undefined;
}
const reason = registryReason();
if (reason) console.log(`"Use it from your own project" test skipped: ${reason}`);

describe('README: use it from your own project', () => {
  it('shows examples/hello.mjs as written', () => {
    const text = readFileSync(join(repo, 'examples/hello.mjs'), 'utf8');
    expect(
      readme.includes(`\`\`\`js\n${text}\`\`\`\n`),
      'paste examples/hello.mjs into its ```js block',
    ).toBe(true);
  });

  describe.skipIf(reason !== undefined)('from the clone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapstack-own-project-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('builds, packs, installs the tarballs outside the workspace, runs hello.mjs and tapstackd', () => {
      // Only the README's own /tmp/ paths move into the test's dir (the clone itself may
      // live under /tmp: CI clones there).
      const block = (name: string) => taggedBlock(name).replaceAll('/tmp/', `${dir}/`);
      const script = [
        'set -eu',
        `cd ${repo}`,
        block('own-project-install'),
        `cp ${join(repo, 'examples/hello.mjs')} hello.mjs`,
        // Stop the daemon (by PID) if the walkthrough failed before its own kill.
        'trap \'for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done\' EXIT',
        block('own-project-run'),
        'echo "--- tapstackd resolved to $(command -v tapstackd)"',
        'echo "--- hello.mjs runs from $PWD"',
      ].join('\n');
      let out = '';
      let code = 0;
      try {
        out = execFileSync('bash', ['-c', script], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 600_000,
          maxBuffer: 64 * 1024 * 1024,
        });
      } catch (e) {
        const x = e as { status: number; stdout: string; stderr: string };
        code = x.status;
        out = `${x.stdout}\n--- stderr\n${x.stderr}`;
      }
      expect(code, out).toBe(0);
      expect(out).toMatch(/^192\.0\.2\.1:\d+ -> 192\.0\.2\.1:80: HTTP\/1\.1 200 OK$/m);
      expect(out).toMatch(/Hello from tapstack node tapstackd/);
      expect(out).toMatch(/^LINK +TYPE/m); // tapstackd status
      // Outside the workspace, from the installed daemon package (its dist/, not the clone's src/).
      expect(out).toContain(`--- tapstackd resolved to ${dir}/my-app/node_modules/.bin/tapstackd`);
      expect(out).toContain(`--- hello.mjs runs from ${dir}/my-app`);
      // The installed packages' own .d.ts type the program (checkJs, strict, node16-style
      // resolution through their exports maps), with this repo's TypeScript and Node types.
      const tsc = spawnSync(
        process.execPath,
        [
          join(repo, 'node_modules/typescript/bin/tsc'),
          ...['--noEmit', '--allowJs', '--checkJs', '--strict', '--skipLibCheck'],
          ...['--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'],
          ...['--typeRoots', join(repo, 'node_modules/@types'), '--types', 'node', 'hello.mjs'],
        ],
        { cwd: join(dir, 'my-app'), encoding: 'utf8' },
      );
      expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
      expect(
        readFileSync(join(dir, 'my-app/node_modules/@tapstack/daemon/package.json'), 'utf8'),
      ).not.toContain('workspace:');
    }, 900_000);
  });
});
