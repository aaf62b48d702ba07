/**
 * 1,000 concurrent connections through the AF_UNIX bridge moving BRIDGE_STRESS_BYTES
 * in total (default 256 MiB: four 64 KiB windows per connection; see README), each
 * checked byte for byte by SHA-256 on the far side, then every session and stack handle
 * released. Throughput is `pnpm bench`'s job, not this test's.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BridgeSocket, bridgeConnect } from '../src/bridge-client.js';
import { BridgeServer } from '../src/bridge-server.js';
import { createNet } from '../src/net.js';
import { stackPair, until } from './helpers.js';

const CONNECTIONS = Number(process.env.BRIDGE_STRESS_CONNECTIONS ?? 1000);
const TOTAL = Number(process.env.BRIDGE_STRESS_BYTES ?? 1 << 28);
const SMALL = { sendBufferSize: 65536, recvBufferSize: 65536 };

let pair: Awaited<ReturnType<typeof stackPair>>;
let bridge: BridgeServer;
let dir: string;

beforeAll(async () => {
  // A deep switch queue: 1,000 windows in flight at once overflow the default 4,096 frames.
  pair = await stackPair({ queueFrames: 1 << 16 });
  // The sink answers "<length> <sha256>" after the client's FIN.
  createNet(pair.B.sockets)
    .createServer({ allowHalfOpen: true, tcp: SMALL }, (s) => {
      const h = createHash('sha256');
      let n = 0;
      s.on('data', (c: Buffer) => {
        h.update(c);
        n += c.length;
      });
      s.on('end', () => s.end(`${n} ${h.digest('hex')}`));
    })
    .listen({ port: 9, backlog: 2048 });
  dir = mkdtempSync(join(tmpdir(), 'tapstack-stress-'));
  bridge = new BridgeServer(pair.A.sockets, { path: join(dir, 'b.sock'), tcp: SMALL });
  await bridge.listen();
});

afterAll(async () => {
  await bridge.close();
  await pair.close();
  rmSync(dir, { recursive: true, force: true });
});

it(`${CONNECTIONS} concurrent bridge connections move ${TOTAL} bytes, byte for byte`, async () => {
  const block = randomFillSync(Buffer.allocUnsafe(1 << 20));
  const per = Math.floor(TOTAL / CONNECTIONS);
  const socks: BridgeSocket[] = [];
  // Open them in groups (a Unix socket's listen backlog is finite), then run them all at once.
  for (let i = 0; i < CONNECTIONS; i += 100) {
    const group = await Promise.all(
      Array.from({ length: Math.min(100, CONNECTIONS - i) }, () =>
        bridgeConnect({ path: bridge.path, host: '192.0.2.2', port: 9 }),
      ),
    );
    socks.push(...group);
  }
  expect(bridge.sessions).toBe(CONNECTIONS);
  const t0 = performance.now();
  const results = await Promise.all(
    socks.map(
      (s, i) =>
        new Promise<{ sent: string; got: string }>((resolve, reject) => {
          const h = createHash('sha256');
          let pos = 0;
          const start = (i * 7919) % block.length;
          const reply: Buffer[] = [];
          s.on('data', (c: Buffer) => reply.push(c));
          s.on('error', reject);
          s.on('end', () =>
            resolve({ sent: `${per} ${h.digest('hex')}`, got: Buffer.concat(reply).toString() }),
          );
          const write = () => {
            while (pos < per) {
              const off = (start + pos) % block.length;
              const chunk = block.subarray(off, Math.min(block.length, off + (per - pos)));
              h.update(chunk);
              pos += chunk.length;
              if (!s.write(chunk)) return void s.once('drain', write);
            }
            s.end();
          };
          write();
        }),
    ),
  );
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `stress: ${CONNECTIONS} connections, ${(per * CONNECTIONS) / 2 ** 20} MiB in ${secs.toFixed(1)} s (${((per * CONNECTIONS * 8) / secs / 1e9).toFixed(2)} Gbit/s)`,
  );
  for (const d of [pair.A, pair.B])
    console.log(
      'stress:',
      JSON.stringify(
        Object.fromEntries(
          Object.entries(d.stack.stats()).filter(
            ([k, v]) => v && /retrans|drop|full|timeout|bad|queue/i.test(k),
          ),
        ),
      ),
      JSON.stringify(d.loop.stats?.()),
    );
  const bad = results.filter((r) => r.sent !== r.got);
  expect(bad.length).toBe(0);
  expect(await until(() => bridge.sessions === 0 && bridge.openHandles === 0, 10_000)).toBe(true);
}, 170_000);
