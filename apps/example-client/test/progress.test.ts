/** The throughput progress: a cli-progress bar on a TTY, quarter lines otherwise. */
import { describe, expect, it } from 'vitest';
import { createProgress } from '../src/progress.js';

function fakeStream(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = {
    isTTY,
    columns: 120,
    write: (s: string) => {
      chunks.push(s);
      return true;
    },
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
    on: () => stream,
    removeListener: () => stream,
  };
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => chunks.join('') };
}

describe('progress', () => {
  it('draws a bar with MiB and rate on a TTY', () => {
    const { stream, text } = fakeStream(true);
    const p = createProgress(stream, 'tp');
    p.start(8 * 1048576);
    p.update(4 * 1048576);
    p.update(8 * 1048576);
    p.stop();
    const out = text();
    expect(out).toContain('tp [');
    expect(out).toMatch(/100% \| 8\.0\/8\.0 MiB \| [\d.]+ MiB\/s/);
  });

  it('prints a plain line per quarter off a TTY; a jump over several prints the last', () => {
    const { stream, text } = fakeStream(false);
    const p = createProgress(stream, 'tp');
    p.start(4 * 1048576);
    p.update(3 * 1048576); // 25% and 50% and 75% at once
    p.update(4 * 1048576);
    p.stop();
    expect(text().trim().split('\n')).toEqual(['tp: 3.0 / 4.0 MiB (75%)', 'tp: 4.0 / 4.0 MiB (100%)']);
  });
});
