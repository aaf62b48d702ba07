/** The README's example is examples/http-and-bridge.ts, as written, and it runs (issue 19). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertReadmeShows, runExample } from '@tapstack/interop/readme';

const dir = join(import.meta.dirname, '..');

describe('README example', () => {
  it('is the text of examples/http-and-bridge.ts', () => {
    assertReadmeShows(dir, 'examples/http-and-bridge.ts');
  });
  it('runs: http.get over the stacks, then the same server through the AF_UNIX bridge', () => {
    const out = runExample(dir, 'examples/http-and-bridge.ts');
    expect(out).toMatch(/^http\.get: hello from B, you are 192\.0\.2\.1$/m);
    expect(out).toMatch(/^bridge: HTTP\/1\.1 200 OK \(192\.0\.2\.1:\d+ -> 192\.0\.2\.2:80\)$/m);
  }, 30_000);
});
