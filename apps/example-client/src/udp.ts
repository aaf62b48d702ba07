/**
 * `udp`: datagrams to a UDP echo service through the bridge's UDP verb (one bridge
 * connection carries framed datagrams). UDP may lose datagrams: each one has a timeout,
 * and the result counts what came back.
 */
import { bridgeUdp } from '@tapstack/socket-bridge';
import type { Target } from './connect.js';

export interface UdpResult {
  sent: number;
  received: number;
  rttMs: { min: number; avg: number; max: number } | undefined;
  /** The bridge-side UDP socket, e.g. "0.0.0.0:49152". */
  local: string;
}

export async function udpEcho(
  bridge: string,
  target: Target,
  opts: { count?: number; timeoutMs?: number; onReply?: (i: number, ms: number) => void } = {},
): Promise<UdpResult> {
  const count = opts.count ?? 3;
  const sock = await bridgeUdp({ path: bridge, port: 0 });
  const rtts: number[] = [];
  try {
    for (let i = 1; i <= count; i++) {
      const text = `datagram ${i} from the example client`;
      const t0 = performance.now();
      const ms = await new Promise<number | undefined>((resolve, reject) => {
        const timer = setTimeout(() => done(undefined), opts.timeoutMs ?? 2000);
        const onMessage = (msg: Buffer) => {
          if (msg.toString() === text) done(performance.now() - t0);
        };
        const onError = (e: Error) => {
          cleanup();
          reject(e);
        };
        const cleanup = () => {
          clearTimeout(timer);
          sock.off('message', onMessage);
          sock.off('error', onError);
        };
        const done = (v: number | undefined) => {
          cleanup();
          resolve(v);
        };
        sock.on('message', onMessage);
        sock.on('error', onError);
        sock.send(text, target.port, target.host);
      });
      if (ms !== undefined) {
        rtts.push(ms);
        opts.onReply?.(i, ms);
      }
    }
  } finally {
    sock.close();
  }
  const sum = rtts.reduce((a, b) => a + b, 0);
  return {
    sent: count,
    received: rtts.length,
    rttMs: rtts.length
      ? { min: Math.min(...rtts), avg: sum / rtts.length, max: Math.max(...rtts) }
      : undefined,
    local: sock.local,
  };
}
