/** The README's example is examples/two-stacks.ts, as written, and it runs (issue 19). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertReadmeShows, runExample } from '@tapstack/interop/readme';

const dir = join(import.meta.dirname, '..');

describe('README example', () => {
  it('is the text of examples/two-stacks.ts', () => {
    assertReadmeShows(dir, 'examples/two-stacks.ts');
  });
  it('runs: B gets the datagram', () => {
    expect(runExample(dir, 'examples/two-stacks.ts')).toMatch(/^B got "hi" from 192\.0\.2\.1:\d+$/m);
  }, 30_000);
});
