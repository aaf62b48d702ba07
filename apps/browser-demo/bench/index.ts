/**
 * Page ↔ server over the WebSocket link, measured in a real page: headless Debian
 * Chromium (puppeteer-core, /usr/bin/chromium) runs @tapstack/browser against a server
 * process that runs what `tapstackd --websocket --serve-echo 7` runs
 * (packages/browser/bench/server.ts), and the same page's plain WebSocket echo to the
 * same process is the ceiling, in the same run. Skipped (with a message, no result)
 * without Chromium or without root (Chromium needs --no-sandbox as root only).
 *
 * - browser-demo/page-ws-echo/mtu<N>/MiB-per-s: bytes to the echo service and back at
 *   once, each way, vs plain WebSocket echo of 64 KiB messages.
 * - browser-demo/page-ws-rtt-1B/us: 1 byte there and back over TCP vs a 1-byte
 *   WebSocket message.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { medianOfRounds, quick, report } from '@tapstack/bench-kit';
import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.TAPSTACK_CHROMIUM ?? '/usr/bin/chromium';
const BYTES = quick ? 4 << 20 : 32 << 20;
const RTTS = quick ? 100 : 1000;

if (!existsSync(CHROMIUM)) {
  console.log(`browser-demo bench skipped: no Chromium at ${CHROMIUM}`);
  process.exit(0);
}

const js = (
  await build({
    entryPoints: [join(here, 'page.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    conditions: ['development'],
    write: false,
    logLevel: 'silent',
  })
).outputFiles[0]!.contents;
const http = createServer((req, res) => {
  if (req.url === '/bench.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(js);
  } else {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><link rel="icon" href="data:,"><script type="module" src="/bench.js"></script>');
  }
});
await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
const pageUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}/`;

async function startServer(mtu: number) {
  const child = spawn(
    process.execPath,
    [
      '--conditions=development',
      '--import',
      'tsx',
      join(here, '../../../packages/browser/bench/server.ts'),
      String(mtu),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
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

const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
  ],
});
try {
  for (const mtu of [1500, 9000, 65000]) {
    const srv = await startServer(mtu);
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${(e as Error).message}`));
    try {
      await page.goto(pageUrl);
      await page.waitForFunction('window.bench');
      const call = (fn: string, ...args: unknown[]) =>
        page.evaluate(
          (f, a) =>
            (window as unknown as { bench: Record<string, (...x: unknown[]) => number> }).bench[f]!(...a),
          fn,
          args,
        ) as Promise<number>;
      const plain = await medianOfRounds(() => call('plainEcho', srv.plain, BYTES, 65536), {
        warmup: 1,
        rounds: 3,
      });
      const mine = await medianOfRounds(() => call('stackEcho', srv.link, BYTES), { warmup: 1, rounds: 3 });
      report({
        package: 'browser-demo',
        name: `browser-demo/page-ws-echo/mtu${mtu}/MiB-per-s`,
        value: mine,
        unit: 'MiB/s',
        higherIsBetter: true,
        baseline: { name: 'page plain WebSocket echo 64KiB msgs', value: plain },
      });
      if (mtu === 9000) {
        const pr = await medianOfRounds(() => call('plainRtt', srv.plain, RTTS), { warmup: 1, rounds: 3 });
        const sr = await medianOfRounds(() => call('stackRtt', srv.link, RTTS), { warmup: 1, rounds: 3 });
        report({
          package: 'browser-demo',
          name: 'browser-demo/page-ws-rtt-1B/us',
          value: sr,
          unit: 'us',
          higherIsBetter: false,
          baseline: { name: 'page plain WebSocket 1B round trip', value: pr },
        });
      }
    } finally {
      await page.close();
      await srv.stop();
    }
  }
} finally {
  await browser.close();
  http.close();
}
