/**
 * The WebSocket link, page side: a BrowserStack (the page's code, with Node's `ws` as
 * its WebSocket — a browser bench would need Chromium here too) joined to a server
 * process that runs what `tapstackd --websocket --serve-echo 7` does. Same run, same
 * two processes, same loopback: a plain WebSocket echo, the ceiling.
 *
 * - browser/ws-echo/<mtu>/MiB-per-s: bytes written to the echo service and read back at
 *   once (each way), vs plain WebSocket echo of 64 KiB messages.
 * - browser/ws-rtt-1B/us: 1 byte to the echo service and back over TCP, vs 1-byte
 *   plain WebSocket message round trip.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { medianOfRounds, quick, report } from '@tapstack/bench-kit';
import { WebSocket } from 'ws';
import { BrowserStack, type WebSocketConstructor } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const WS = WebSocket as unknown as WebSocketConstructor;
const BYTES = quick ? 4 << 20 : 64 << 20;
const RTTS = quick ? 200 : 2000;

async function startServer(mtu: number) {
  const child = spawn(
    process.execPath,
    ['--conditions=development', '--import', 'tsx', join(here, 'server.ts'), String(mtu)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const urls = await new Promise<{ link: string; plain: string }>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.once('exit', (c) => reject(new Error(`bench server exited ${c}`)));
  });
  return {
    ...urls,
    stop: () =>
      new Promise<void>((r) => {
        child.once('exit', () => r());
        child.stdin!.end();
      }),
  };
}

function payload(n: number) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7) & 0xff;
  return b;
}

async function stackEcho(stack: BrowserStack, n: number): Promise<number> {
  const data = payload(n);
  const c = await stack.connect({ host: '198.51.100.1', port: 7, noDelay: true });
  const t0 = performance.now();
  let got = 0;
  await Promise.all([
    (async () => {
      for (let o = 0; o < n; o += 1 << 20) await c.write(data.subarray(o, Math.min(n, o + (1 << 20))));
      c.end();
    })(),
    c.readAll((ch) => {
      got += ch.length;
    }),
  ]);
  const s = (performance.now() - t0) / 1000;
  if (got !== n) throw new Error(`echo returned ${got} of ${n}`);
  return n / 1048576 / s;
}

async function plainEcho(url: string, n: number, msg: number): Promise<number> {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  await new Promise((r) => ws.once('open', r));
  const chunk = payload(msg);
  let got = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    ws.on('message', (d: ArrayBuffer) => {
      got += d.byteLength;
      if (got >= n) resolve();
    });
    let sent = 0;
    const pump = () => {
      while (sent < n && ws.bufferedAmount < 4 << 20) {
        ws.send(chunk);
        sent += msg;
      }
      if (sent < n) setTimeout(pump, 1);
    };
    pump();
  });
  const s = (performance.now() - t0) / 1000;
  ws.close();
  return n / 1048576 / s;
}

async function stackRtt(stack: BrowserStack): Promise<number> {
  const c = await stack.connect({ host: '198.51.100.1', port: 7, noDelay: true });
  const one = new Uint8Array([42]);
  const t0 = performance.now();
  for (let i = 0; i < RTTS; i++) {
    await c.write(one);
    if ((await c.read())?.length !== 1) throw new Error('rtt: bad echo');
  }
  const us = ((performance.now() - t0) * 1000) / RTTS;
  c.destroy();
  return us;
}

async function plainRtt(url: string): Promise<number> {
  const ws = new WebSocket(url);
  await new Promise((r) => ws.once('open', r));
  const one = new Uint8Array([42]);
  const t0 = performance.now();
  for (let i = 0; i < RTTS; i++) {
    const back = new Promise((r) => ws.once('message', r));
    ws.send(one);
    await back;
  }
  const us = ((performance.now() - t0) * 1000) / RTTS;
  ws.close();
  return us;
}

for (const mtu of [1500, 9000, 65000]) {
  const srv = await startServer(mtu);
  try {
    const stack = await BrowserStack.connect(srv.link, { WebSocket: WS });
    const plain = await medianOfRounds(() => plainEcho(srv.plain, BYTES, 65536), { warmup: 1, rounds: 3 });
    const mine = await medianOfRounds(() => stackEcho(stack, BYTES), { warmup: 1, rounds: 3 });
    report({
      package: 'browser',
      name: `browser/ws-echo/mtu${mtu}/MiB-per-s`,
      value: mine,
      unit: 'MiB/s',
      higherIsBetter: true,
      baseline: { name: 'plain WebSocket echo 64KiB msgs', value: plain },
    });
    if (mtu === 9000) {
      const pr = await medianOfRounds(() => plainRtt(srv.plain), { warmup: 1, rounds: 3 });
      const sr = await medianOfRounds(() => stackRtt(stack), { warmup: 1, rounds: 3 });
      report({
        package: 'browser',
        name: 'browser/ws-rtt-1B/us',
        value: sr,
        unit: 'us',
        higherIsBetter: false,
        baseline: { name: 'plain WebSocket 1B round trip', value: pr },
      });
    }
    await stack.close();
  } finally {
    await srv.stop();
  }
}
