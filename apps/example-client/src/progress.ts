/** Progress for the throughput test: a cli-progress bar on a TTY, plain lines otherwise. */
import { Presets, SingleBar } from 'cli-progress';
import type { Progress } from './throughput.js';

const MiB = 1048576;

export function createProgress(stream: NodeJS.WriteStream = process.stderr, label = 'throughput'): Progress {
  if (stream.isTTY) {
    const bar = new SingleBar(
      {
        stream,
        format: `${label} [{bar}] {percentage}% | {doneMiB}/{totalMiB} MiB | {rate} MiB/s`,
        hideCursor: true,
      },
      Presets.shades_classic,
    );
    let t0 = 0;
    return {
      start(total) {
        t0 = performance.now();
        bar.start(total, 0, { doneMiB: '0.0', totalMiB: (total / MiB).toFixed(1), rate: '0.0' });
      },
      update(done) {
        const s = (performance.now() - t0) / 1000;
        bar.update(done, {
          doneMiB: (done / MiB).toFixed(1),
          rate: s > 0 ? (done / MiB / s).toFixed(1) : '0.0',
        });
      },
      stop() {
        bar.stop();
      },
    };
  }
  // Not a TTY (CI, the demo's pipe): one line per quarter.
  let total = 0;
  let next = 0;
  return {
    start(t) {
      total = t;
      next = 0.25;
    },
    update(done) {
      if (total <= 0 || done / total < next) return;
      // One line for the highest quarter reached (a big update may cross several).
      let q = next;
      while (q + 0.25 <= 1 && done / total >= q + 0.25) q += 0.25;
      stream.write(
        `${label}: ${(done / MiB).toFixed(1)} / ${(total / MiB).toFixed(1)} MiB (${Math.round(q * 100)}%)\n`,
      );
      next = q + 0.25;
    },
    stop() {},
  };
}
