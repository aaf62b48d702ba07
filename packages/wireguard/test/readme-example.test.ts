/** The README's example is examples/two-peers.ts, as written, and it runs (issue 19). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertReadmeShows, runExample } from '@tapstack/interop/readme';

const dir = join(import.meta.dirname, '..');

describe('README example', () => {
  it('is the text of examples/two-peers.ts', () => {
    assertReadmeShows(dir, 'examples/two-peers.ts');
  });
  it('runs: a handshake on loopback, then the packet arrives at B from the tunnel address of A', () => {
    const out = runExample(dir, 'examples/two-peers.ts');
    expect(out).toMatch(/^B got 28 bytes from 10\.0\.0\.1 \(peer .{8}…\)$/m);
    expect(out).toMatch(/^A's peer 127\.0\.0\.1:\d+: sent \d+ bytes$/m);
  }, 30_000);
});
