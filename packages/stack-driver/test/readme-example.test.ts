/** The README's example is examples/ping-and-stats.ts, as written, and it runs (issue 19). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertReadmeShows, runExample } from '../../../tools/interop/readme.js';

const dir = join(import.meta.dirname, '..');

describe('README example', () => {
  it('is the text of examples/ping-and-stats.ts', () => {
    assertReadmeShows(dir, 'examples/ping-and-stats.ts');
  });
  it('runs: pings over IPv4 and IPv6 are answered', () => {
    const out = runExample(dir, 'examples/ping-and-stats.ts');
    expect(out).toMatch(/^ping 192\.0\.2\.2: reply from 192\.0\.2\.2, ttl 64$/m);
    expect(out).toMatch(/^ping 2001:db8::2: reply from 2001:db8::2, ttl 64$/m);
    expect(out).toMatch(/^a: 1 ARP and 1 NDP entries, p1 sent \d+ frames$/m);
  }, 30_000);
});
