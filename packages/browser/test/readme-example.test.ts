/**
 * The README's example is examples/fetch-and-echo.ts, as written, and it runs (issue 19):
 * against a real tapstackd started as its comment says, in a network namespace of its
 * own (the example's fixed port 8765 is then nobody else's). The page code runs in Node
 * with the `ws` package as its global WebSocket; apps/browser-demo's test runs the same
 * API in headless Chromium. The namespace needs root (CI); skipped with a message otherwise.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNamespace, skipReason } from '@tapstack/interop/netns';
import { assertReadmeShows } from '@tapstack/interop/readme';

const dir = join(import.meta.dirname, '..');
const tapstackd = join(dir, '../../apps/daemon/bin/tapstackd.mjs');
const reason = skipReason();
if (reason) console.log(`browser README example run skipped: ${reason}`);

describe('README example', () => {
  it('is the text of examples/fetch-and-echo.ts', () => {
    assertReadmeShows(dir, 'examples/fetch-and-echo.ts');
  });

  it.skipIf(reason !== undefined)(
    'runs against `tapstackd --websocket 127.0.0.1:8765 --serve-http 80 --serve-echo 7`',
    async () => {
      const tmp = mkdtempSync(join(tmpdir(), 'tapstack-browser-example-'));
      const ready = join(tmp, 'ready.json');
      const ns = createNamespace();
      try {
        const daemon = ns.spawn([
          process.execPath,
          tapstackd,
          '--log-level',
          'warn',
          '--no-bridge',
          '--websocket',
          '127.0.0.1:8765',
          '--serve-http',
          '80',
          '--serve-echo',
          '7',
          '--ready-file',
          ready,
        ]);
        let stderr = '';
        daemon.stderr!.on('data', (d) => {
          stderr += d;
        });
        while (!existsSync(ready)) {
          expect(daemon.exitCode, stderr).toBe(null);
          await new Promise((r) => setTimeout(r, 50));
        }
        const r = await ns.exec([
          'env',
          '-C',
          dir,
          process.execPath,
          '--conditions=development',
          '--import',
          'tsx',
          '--import',
          './test/fixtures/global-websocket.mjs',
          'examples/fetch-and-echo.ts',
        ]);
        expect(r.stdout).toMatch(/^my addresses \[ '198\.51\.100\.2\/24', '2001:db8:77::2\/64' \]$/m);
        expect(r.stdout).toMatch(/^200 <!doctype html>$/m);
        expect(r.stdout).toMatch(
          /served by a userspace TCP\/IP stack at 2001:db8:77::1:80, to 2001:db8:77::2:\d+/,
        );
        expect(r.stdout).toMatch(/^Uint8Array\(5\) \[ 104, 101, 108, 108, 111 \]$/m);
      } finally {
        ns.delete();
        rmSync(tmp, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
