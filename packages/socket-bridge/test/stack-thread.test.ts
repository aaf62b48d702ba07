/**
 * The same API over the other SocketHost: the stack on its own worker thread
 * (StackThread), its peer a StackDriver on this thread, joined by VXLAN over loopback.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StackDriver, StackThread } from '@tapstack/stack-driver';
import { loopbackVxlanPair } from '@tapstack/stack-driver/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeConnect } from '../src/bridge-client.js';
import { BridgeServer } from '../src/bridge-server.js';
import { type TapNet, createNet } from '../src/net.js';
import { pattern, until } from './helpers.js';

const base = 42000 + ((process.pid * 13) % 18000);
let thread: StackThread;
let peer: StackDriver;
let netT: TapNet;
let netP: TapNet;

beforeAll(async () => {
  const { link, spec } = await loopbackVxlanPair(
    base,
    { name: 'peer0', mac: '02:00:00:00:00:0b' },
    { name: 'thr0', mac: '02:00:00:00:00:0a' },
  );
  peer = await StackDriver.create({ links: [{ link, addresses: ['192.0.2.2/24'] }] });
  thread = await StackThread.start({
    links: [
      {
        spec,
        addresses: ['192.0.2.1/24'],
      },
    ],
  });
  netT = createNet(thread.sockets);
  netP = createNet(peer.sockets);
});

afterAll(async () => {
  await thread?.close();
  await peer?.close();
});

function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (c: Buffer) => parts.push(c));
  return new Promise((resolve, reject) => {
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

describe('over a StackThread SocketHost', () => {
  it('net: echo 4 MiB and an http.request', async () => {
    netP.createServer((s) => s.pipe(s)).listen(7);
    const c = netT.createConnection(7, '192.0.2.2');
    const data = pattern(4 << 20, 21);
    const got = readAll(c);
    c.end(data);
    expect((await got).equals(data)).toBe(true);

    const httpServer = http.createServer((req, res) => res.end(`thread ${req.url}`));
    netP.createServer((s) => httpServer.emit('connection', s)).listen(80);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get(
          {
            host: '192.0.2.2',
            path: '/x',
            createConnection: netT.createConnection as unknown as http.RequestOptions['createConnection'],
          },
          (res) => readAll(res).then((b) => resolve(b.toString()), reject),
        )
        .on('error', reject);
    });
    expect(body).toBe('thread /x');
  });

  it('the AF_UNIX bridge runs on it too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapstack-thr-'));
    const bridge = new BridgeServer(thread.sockets, { path: join(dir, 'b.sock') });
    await bridge.listen();
    try {
      const s = await bridgeConnect({ path: bridge.path, host: '192.0.2.2', port: 7 });
      const data = pattern(2 << 20, 22);
      const got = readAll(s);
      s.end(data);
      expect((await got).equals(data)).toBe(true);
      const err = await bridgeConnect({ path: bridge.path, host: '192.0.2.2', port: 1 }).catch((e) => e);
      expect(err.code).toBe('ECONNREFUSED');
      expect(await until(() => bridge.sessions === 0 && bridge.openHandles === 0)).toBe(true);
    } finally {
      await bridge.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
