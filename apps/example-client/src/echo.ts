/** `echo`: a session with an echo service: each message must come back byte for byte. */
import type { Socket } from 'node:net';
import { connectVirtual, type Target } from './connect.js';

export interface EchoResult {
  messages: number;
  bytes: number;
  rttMs: { min: number; avg: number; max: number };
  path: string;
}

/** Reads exactly n bytes (rejects on EOF or error first). */
function readExactly(sock: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let have = 0;
    const onData = (c: Buffer) => {
      const need = n - have;
      if (c.length > need) {
        sock.unshift(c.subarray(need));
        c = c.subarray(0, need);
      }
      parts.push(c);
      have += c.length;
      if (have === n) {
        cleanup();
        resolve(Buffer.concat(parts));
      }
    };
    const onEnd = () => {
      cleanup();
      reject(
        Object.assign(new Error(`echo: connection ended after ${have} of ${n} bytes`), {
          code: 'ECONNRESET',
        }),
      );
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('error', onError);
      sock.pause();
    };
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.once('error', onError);
    sock.resume();
  });
}

export async function echoSession(
  bridge: string,
  target: Target,
  opts: { count?: number; size?: number; onMessage?: (i: number, text: string, ms: number) => void } = {},
): Promise<EchoResult> {
  const count = opts.count ?? 5;
  const size = opts.size ?? 0;
  const sock = await connectVirtual(bridge, target);
  sock.pause();
  sock.setNoDelay(true);
  const rtts: number[] = [];
  let bytes = 0;
  try {
    for (let i = 1; i <= count; i++) {
      let text = `hello ${i} from the example client via the bridge`;
      if (size > text.length) text = text.padEnd(size, '.');
      const msg = Buffer.from(text);
      const t0 = performance.now();
      sock.write(msg);
      const back = await readExactly(sock, msg.length);
      const ms = performance.now() - t0;
      if (!back.equals(msg)) throw new Error(`echo: message ${i} came back different`);
      rtts.push(ms);
      bytes += msg.length;
      opts.onMessage?.(i, text, ms);
    }
    sock.end();
    await new Promise<void>((resolve) => {
      sock.once('close', () => resolve());
      sock.resume();
    });
  } finally {
    sock.destroy();
  }
  const sum = rtts.reduce((a, b) => a + b, 0);
  return {
    messages: count,
    bytes,
    rttMs: { min: Math.min(...rtts), avg: sum / rtts.length, max: Math.max(...rtts) },
    path: `${sock.tapstack.local} -> ${sock.tapstack.remote}`,
  };
}
