/** The README's example is examples/push-drain.ts, as written, and it runs (issue 19). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertReadmeShows, runExample } from '@tapstack/interop/readme';

const dir = join(import.meta.dirname, '..');

describe('README example', () => {
  it('is the text of examples/push-drain.ts', () => {
    assertReadmeShows(dir, 'examples/push-drain.ts');
  });
  it('runs, and the high-water mark is the bytes the three frames took', () => {
    expect(runExample(dir, 'examples/push-drain.ts')).toMatch(
      /^drained 3 frames, 10574 bytes; pushed 3, dropped 0, high water 10608 bytes$/m,
    );
  }, 30_000);
});
