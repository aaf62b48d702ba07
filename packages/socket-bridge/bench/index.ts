/**
 * socket-bridge benchmarks: bulk throughput and 1-byte request/response round trips
 * through the in-process API, the AF_UNIX bridge and the SOCKS5 front (two stacks on a
 * MemorySwitch), with Node's own net over loopback measured in the same run as the ceiling.
 * Bulk runs over a loopback-like link (MTU 65535, checksum offload) and over MTU 1500.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Socket, connect as nodeConnect, createServer as nodeCreateServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { medianOfRounds, quick, report } from '@tapstack/bench-kit';
import { bridgeConnect } from '../src/bridge-client.js';
import { BridgeServer } from '../src/bridge-server.js';
import { createNet } from '../src/net.js';
import { Socks5Server } from '../src/socks5-server.js';
import { stackPair } from '../test/helpers.js';

const PKG = 'socket-bridge';
// Enough that each round runs well past V8's GC cadence (a full GC per 64 MiB of buffers).
const BYTES = quick ? 32 << 20 : 512 << 20;
const RR_MS = quick ? 300 : 1000;
const ROUNDS = { warmup: quick ? 1 : 2, rounds: quick ? 1 : 5 };
const CHUNK = Buffer.alloc(65536, 0x5a);

/** Any stream-like socket: Node's net.Socket or our StackSocket. */
type Duplexish = Socket | import('../src/net.js').StackSocket;

/** Writes BYTES, waits for the sink's one-byte acknowledgement; returns Gbit/s. */
async function bulk(open: () => Promise<Duplexish>): Promise<number> {
  const s = await open();
  const done = once(s, 'data');
  const t0 = performance.now();
  let sent = 0;
  while (sent < BYTES) {
    if (!s.write(CHUNK)) await once(s, 'drain');
    sent += CHUNK.length;
  }
  await done;
  const secs = (performance.now() - t0) / 1000;
  s.destroy();
  return (BYTES * 8) / secs / 1e9;
}

/** One-byte ping-pong for RR_MS; returns round trips per second. */
async function rr(open: () => Promise<Duplexish>): Promise<number> {
  const s = await open();
  if ('setNoDelay' in s) s.setNoDelay(true);
  const one = Buffer.from([1]);
  let n = 0;
  const t0 = performance.now();
  const end = t0 + RR_MS;
  await new Promise<void>((resolve) => {
    s.on('data', () => {
      n++;
      if (performance.now() < end) s.write(one);
      else resolve();
    });
    s.write(one);
  });
  const secs = (performance.now() - t0) / 1000;
  s.destroy();
  return n / secs;
}

/**
 * Short connections for RR_MS, 8 at a time: connect, 1 KiB there, the echo back, the
 * client ends first (so its side holds TIME-WAIT); returns connections per second.
 */
async function connRate(open: () => Promise<Duplexish>): Promise<number> {
  const msg = Buffer.alloc(1024, 0x61);
  let done = 0;
  const t0 = performance.now();
  const end = t0 + RR_MS;
  const one = async () => {
    while (performance.now() < end) {
      const s = await open();
      await new Promise<void>((resolve, reject) => {
        let got = 0;
        s.on('data', (d: Buffer) => {
          got += d.length;
        });
        s.on('end', () => (got === msg.length ? resolve() : reject(new Error(`short echo: ${got}`))));
        s.on('error', reject);
        s.end(msg);
      });
      s.destroy();
      done++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, one));
  return done / ((performance.now() - t0) / 1000);
}

/** Echoes everything and ends when the client has ended (allowHalfOpen servers). */
function echoHandler(s: Duplexish): void {
  s.on('data', (d: Buffer) => s.write(d));
  s.on('end', () => s.end());
  s.on('error', () => {});
}

/** A sink that acknowledges with one byte after BYTES, or echoes single bytes (rr). */
function sinkHandler(s: Duplexish): void {
  let got = 0;
  s.on('data', (c: Buffer) => {
    if (c.length === 1 && got === 0) {
      s.write(c); // rr mode: echo
      return;
    }
    got += c.length;
    if (got >= BYTES) {
      got = 0;
      s.write(Buffer.from([0]));
    }
  });
  s.on('error', () => {});
}

async function socksOpen(port: number, host: string, dstPort: number): Promise<Socket> {
  const s = nodeConnect(port, '127.0.0.1');
  s.setNoDelay(true);
  await once(s, 'connect');
  const ip = host.split('.').map(Number);
  s.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, ...ip, dstPort >> 8, dstPort & 0xff]));
  let buf = Buffer.alloc(0);
  while (buf.length < 12) {
    const [c] = (await once(s, 'data')) as [Buffer];
    buf = Buffer.concat([buf, c]);
  }
  if (buf[1] !== 0 || buf[3] !== 0) throw new Error(`SOCKS5 failed: ${[...buf]}`);
  return s;
}

async function main(): Promise<void> {
  // Ceiling: Node's net over loopback, measured now.
  const nodeServer = nodeCreateServer(sinkHandler);
  nodeServer.listen(0, '127.0.0.1');
  await once(nodeServer, 'listening');
  const nodePort = (nodeServer.address() as { port: number }).port;
  const nodeOpen = async () => {
    const s = nodeConnect(nodePort, '127.0.0.1');
    await once(s, 'connect');
    return s;
  };
  const nodeGbit = await medianOfRounds(() => bulk(nodeOpen), ROUNDS);
  const nodeRr = await medianOfRounds(() => rr(nodeOpen), ROUNDS);
  const nodeEcho = nodeCreateServer({ allowHalfOpen: true }, echoHandler);
  nodeEcho.listen(0, '127.0.0.1');
  await once(nodeEcho, 'listening');
  const echoPort = (nodeEcho.address() as { port: number }).port;
  const nodeConn = await medianOfRounds(
    () =>
      connRate(async () => {
        const s = nodeConnect(echoPort, '127.0.0.1');
        await once(s, 'connect');
        return s;
      }),
    ROUNDS,
  );
  const gbitBase = { name: 'node-net/loopback/gbit-per-s', value: nodeGbit };
  const connBase = { name: 'node-net/loopback/conn-per-s', value: nodeConn };
  report({ package: PKG, ...connBase, unit: 'conn/s', higherIsBetter: true, baseline: null });
  const rrBase = { name: 'node-net/loopback/rr-per-s', value: nodeRr };
  report({ package: PKG, ...gbitBase, unit: 'Gbit/s', higherIsBetter: true, baseline: null });
  report({ package: PKG, ...rrBase, unit: 'rr/s', higherIsBetter: true, baseline: null });

  // Two links between the stacks: one like the loopback Node's ceiling runs on (MTU
  // 65535, TCP checksums offloaded, as Linux does on `lo`), and plain Ethernet (MTU
  // 1500, every checksum computed and checked). Round trips do not depend on the link.
  const links = [
    { suffix: '', mtu: 65535, checksumOffload: true, rr: true },
    { suffix: '@mtu1500', mtu: 1500, checksumOffload: false, rr: false },
  ];
  for (const link of links) {
    // Short connections run at over 10k/s: with the default 16,384 ephemeral ports and
    // TIME-WAIT reusable after a second (as Linux), one destination would run out. The
    // client stack gets 1024-65535, as a busy Linux client would be tuned.
    const pair = await stackPair({
      mtu: link.mtu,
      checksumOffload: link.checksumOffload,
      tcp: { ephemeralPortMin: 1024 },
    });
    const netA = createNet(pair.A.sockets);
    createNet(pair.B.sockets).createServer(sinkHandler).listen(9);
    createNet(pair.B.sockets).createServer({ allowHalfOpen: true }, echoHandler).listen(7);
    const dir = mkdtempSync(join(tmpdir(), 'tapstack-bench-'));
    const bridge = new BridgeServer(pair.A.sockets, { path: join(dir, 'b.sock') });
    await bridge.listen();
    const socks = new Socks5Server(pair.A.sockets);
    const { port: socksPort } = await socks.listen(0);

    const inProcess = async (port: number) => {
      const s = netA.createConnection(port, '192.0.2.2');
      await once(s, 'connect');
      return s;
    };
    const paths: [string, () => Promise<Duplexish>][] = [
      ['in-process', () => inProcess(9)],
      ['unix-bridge', () => bridgeConnect({ path: bridge.path, host: '192.0.2.2', port: 9 })],
      ['socks5', () => socksOpen(socksPort, '192.0.2.2', 9)],
    ];
    for (const [name, open] of paths) {
      const g = await medianOfRounds(() => bulk(open), ROUNDS);
      report({
        package: PKG,
        name: `${PKG}/${name}${link.suffix}/gbit-per-s`,
        value: g,
        unit: 'Gbit/s',
        higherIsBetter: true,
        baseline: gbitBase,
      });
      if (!link.rr) continue;
      if (name !== 'socks5') {
        const conn = await medianOfRounds(
          () =>
            connRate(() =>
              name === 'in-process'
                ? inProcess(7)
                : bridgeConnect({ path: bridge.path, host: '192.0.2.2', port: 7 }),
            ),
          ROUNDS,
        );
        report({
          package: PKG,
          name: `${PKG}/${name}/conn-per-s`,
          value: conn,
          unit: 'conn/s',
          higherIsBetter: true,
          baseline: connBase,
        });
      }
      const r = await medianOfRounds(() => rr(open), ROUNDS);
      report({
        package: PKG,
        name: `${PKG}/${name}/rr-per-s`,
        value: r,
        unit: 'rr/s',
        higherIsBetter: true,
        baseline: rrBase,
      });
    }

    await socks.close();
    await bridge.close();
    await pair.close();
    rmSync(dir, { recursive: true, force: true });
  }
  nodeServer.close();
  nodeEcho.close();
}

await main();
process.exit(0);
