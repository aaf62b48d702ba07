/** The README's example is examples/switch-and-wrappers.ts, as written, and it runs (issue 19). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertReadmeShows, runExample } from '@tapstack/interop/readme';

const dir = join(import.meta.dirname, '..');

describe('README example', () => {
  it('is the text of examples/switch-and-wrappers.ts', () => {
    assertReadmeShows(dir, 'examples/switch-and-wrappers.ts');
  });
  it('runs: B gets what the seeded loss lets through, the trace and the pcap are written', () => {
    const out = runExample(dir, 'examples/switch-and-wrappers.ts');
    expect(out).toMatch(/^b received 16 of 20 frames; a lost 4$/m);
    expect(out).toMatch(/^a's trace, first line: [\d.]+ a tx 60 ff:ff:ff:ff:ff:ff > ff:ff:ff:ff:ff:ff/m);
    expect(out).toMatch(/^b\.pcap: 1240 bytes$/m); // 24-byte header + 16 × (16 + 60)
  }, 30_000);
});
