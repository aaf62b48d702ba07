/**
 * The bench page's measurements (loaded in headless Chromium by bench/index.ts): the
 * page's stack on the WebSocket link against the page's own plain WebSocket, to the same
 * server process. Every function resolves with its figure.
 */
import { BrowserStack } from '@tapstack/browser';

let stack: BrowserStack | undefined;

function payload(n: number) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7) & 0xff;
  return b;
}

async function join(url: string) {
  stack ??= await BrowserStack.connect(url);
  return stack;
}

/** MiB/s each way: n bytes written to the echo service and read back at once. */
async function stackEcho(url: string, n: number): Promise<number> {
  const s = await join(url);
  const data = payload(n);
  const c = await s.connect({ host: '198.51.100.1', port: 7, noDelay: true });
  const t0 = performance.now();
  const [, back] = await Promise.all([
    (async () => {
      for (let o = 0; o < n; o += 1 << 20) await c.write(data.subarray(o, Math.min(n, o + (1 << 20))));
      c.end();
    })(),
    (async () => {
      let got = 0;
      for (;;) {
        const r = await c.read();
        if (r === null) return got;
        got += r.length;
      }
    })(),
  ]);
  if (back !== n) throw new Error(`echo returned ${back} of ${n}`);
  return n / 1048576 / ((performance.now() - t0) / 1000);
}

/** The same over a plain WebSocket echo, `msg`-byte binary messages, ≤ 4 MiB in flight. */
async function plainEcho(url: string, n: number, msg: number): Promise<number> {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  await new Promise((r) => {
    ws.onopen = r;
  });
  const chunk = payload(msg);
  let got = 0;
  let sent = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (sent < n && sent - got < 4 << 20) {
        ws.send(chunk);
        sent += msg;
      }
    };
    ws.onmessage = (ev) => {
      got += (ev.data as ArrayBuffer).byteLength;
      if (got >= n) resolve();
      else pump();
    };
    pump();
  });
  ws.close();
  return n / 1048576 / ((performance.now() - t0) / 1000);
}

async function stackRtt(url: string, count: number): Promise<number> {
  const s = await join(url);
  const c = await s.connect({ host: '198.51.100.1', port: 7, noDelay: true });
  const one = new Uint8Array([42]);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    await c.write(one);
    if ((await c.read())?.length !== 1) throw new Error('rtt: bad echo');
  }
  c.destroy();
  return ((performance.now() - t0) * 1000) / count;
}

async function plainRtt(url: string, count: number): Promise<number> {
  const ws = new WebSocket(url);
  await new Promise((r) => {
    ws.onopen = r;
  });
  const one = new Uint8Array([42]);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    await new Promise((r) => {
      ws.onmessage = r;
      ws.send(one);
    });
  }
  ws.close();
  return ((performance.now() - t0) * 1000) / count;
}

Object.assign(window, { bench: { stackEcho, plainEcho, stackRtt, plainRtt, stats: () => stack?.stats() } });
