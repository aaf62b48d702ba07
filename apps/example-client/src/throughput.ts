/**
 * `throughput`: streams N bytes of seeded pseudo-random data to an echo service and
 * reads them back, checking a SHA-256 of both directions, so every byte really went
 * through both stacks and back. A progress bar on a TTY (cli-progress), plain lines
 * otherwise.
 */
import { createHash } from 'node:crypto';
import { connectVirtual, type Target } from './connect.js';

export interface ThroughputResult {
  bytes: number;
  seconds: number;
  /** Payload MiB/s (each byte crosses the network twice: there and back). */
  mibPerSecond: number;
  sha256: string;
  path: string;
}

export interface Progress {
  start(total: number): void;
  update(done: number): void;
  stop(): void;
}

const CHUNK = 64 * 1024;

/** xorshift32 keystream: cheap, deterministic test data. */
function fill(buf: Buffer, state: { s: number }): void {
  let s = state.s;
  for (let i = 0; i + 4 <= buf.length; i += 4) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    buf.writeUInt32LE(s >>> 0, i);
  }
  state.s = s;
}

export async function throughput(
  bridge: string,
  target: Target,
  opts: { bytes: number; progress?: Progress; timeoutMs?: number },
): Promise<ThroughputResult> {
  const total = Math.ceil(opts.bytes / 4) * 4;
  const sock = await connectVirtual(bridge, target);
  const sent = createHash('sha256');
  const got = createHash('sha256');
  let received = 0;
  const t0 = performance.now();
  opts.progress?.start(total);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            Object.assign(new Error(`throughput: timed out after ${received} bytes`), { code: 'ETIMEDOUT' }),
          ),
        opts.timeoutMs ?? 120_000,
      );
      sock.on('data', (c: Buffer) => {
        got.update(c);
        received += c.length;
        opts.progress?.update(received);
        if (received >= total) sock.end();
      });
      sock.once('end', () => {
        clearTimeout(timer);
        if (received === total) resolve();
        else reject(new Error(`throughput: got ${received} of ${total} bytes back`));
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      const state = { s: 0x9e3779b9 };
      let offset = 0;
      const pump = () => {
        while (offset < total) {
          const n = Math.min(CHUNK, total - offset);
          const buf = Buffer.allocUnsafe(n);
          fill(buf, state);
          sent.update(buf);
          offset += n;
          if (!sock.write(buf)) {
            sock.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  } finally {
    opts.progress?.stop();
    sock.destroy();
  }
  const seconds = (performance.now() - t0) / 1000;
  const a = sent.digest('hex');
  const b = got.digest('hex');
  if (a !== b) throw new Error(`throughput: data came back different (sha256 ${b} != ${a})`);
  return {
    bytes: total,
    seconds,
    mibPerSecond: total / 1048576 / seconds,
    sha256: a,
    path: `${sock.tapstack.local} -> ${sock.tapstack.remote}`,
  };
}
