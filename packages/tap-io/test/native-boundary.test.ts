// The native addon never aborts or stalls on a throwing callback: an exception thrown by a
// frame handler that a reader's wake runs (thread mode: a threadsafe call; loop mode: a
// uv_poll callback) arrives as an ordinary uncaught JS exception, and the link keeps
// receiving. Before the fix both modes hung here: Node swallowed the exception (a DEP0168
// warning) and the pump never announced its next sleep, so the reader never woke it again;
// and the threadsafe-call path let a C++ Napi::Error unwind toward std::terminate.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rootSkipReason } from './helpers.js';

const skip = rootSkipReason();
const here = dirname(fileURLToPath(import.meta.url));
const tag = `${process.pid % 100000}`;

describe.skipIf(skip !== undefined)('native boundary (root)', () => {
  for (const rxMode of ['thread', 'loop'] as const) {
    it(`${rxMode} mode: a throwing frame handler is a JS exception, not an abort`, () => {
      const r = spawnSync(
        process.execPath,
        [
          '--conditions=development',
          '--import',
          'tsx',
          join(here, 'fixtures', 'throwing-handler.ts'),
          `tsnb${rxMode[0]}${tag}`,
          rxMode,
        ],
        { encoding: 'utf8', timeout: 30_000, cwd: join(here, '..') },
      );
      expect(r.signal).toBeNull();
      expect(r.stdout).toContain('caught: handler threw; frames after the throw: yes');
      expect(r.status).toBe(0);
    });
  }

  it('terminating workers whose TAP readers are flooded never aborts the process (issue 13)', () => {
    // A wake that lands while a worker's environment shuts down cannot run JS there; the
    // addon's callbacks used node-addon-api calls that threw Napi::Error in that state, and
    // rethrowing it threw again: "terminate called after throwing an instance of
    // 'Napi::Error'" or "FATAL ERROR: Error::Error napi_define_properties", 3 runs in 3.
    const r = spawnSync(
      process.execPath,
      [
        '--conditions=development',
        '--import',
        'tsx',
        join(here, 'fixtures', 'worker-terminate.ts'),
        `tswt${tag.slice(-4)}`,
        '30',
      ],
      { encoding: 'utf8', timeout: 60_000, cwd: join(here, '..') },
    );
    expect(r.stderr).not.toMatch(/terminate called|FATAL ERROR/);
    expect(r.signal).toBeNull();
    // 30 rounds, or as many as 30 s allow on a loaded machine (each boots a worker with
    // its TypeScript loader): at least 8 terminations mid-flood.
    const done = Number(/terminated (\d+) workers/.exec(r.stdout)?.[1] ?? 0);
    expect(done).toBeGreaterThanOrEqual(8);
    expect(r.status).toBe(0);
  }, 90_000);
});
