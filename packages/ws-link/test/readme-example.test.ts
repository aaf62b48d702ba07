/** The README's example is examples/node-client.ts, as written, and it runs (issue 19). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertReadmeShows, runExample } from '@tapstack/interop/readme';

const dir = join(import.meta.dirname, '..');

describe('README example', () => {
  it('is the text of examples/node-client.ts', () => {
    assertReadmeShows(dir, 'examples/node-client.ts');
  });
  it('runs: a Node stack joins over WebSocket and fetches the page of the server stack over IPv4 and IPv6', () => {
    const out = runExample(dir, 'examples/node-client.ts');
    expect(out).toMatch(/^joined as 198\.51\.100\.2\/24, 2001:db8:77::2\/64$/m);
    expect(out).toMatch(/^198\.51\.100\.1: hello 198\.51\.100\.2$/m);
    expect(out).toMatch(/^2001:db8:77::1: hello 2001:db8:77::2$/m);
  }, 30_000);
});
