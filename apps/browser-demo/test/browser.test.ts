/**
 * The demo page in a real browser: Debian's Chromium, headless, driven by puppeteer-core
 * (which downloads nothing; the system browser at /usr/bin/chromium). Starts the demo
 * (two daemons joined by WireGuard, A with the WebSocket link), loads the page, waits
 * for its checks — B's page fetched over IPv4 and IPv6 across WireGuard, SHA-256 of a
 * download and an upload per family equal in the page and at the server, the echo
 * throughput test, a second stack in a Web Worker — saves a screenshot, and fails on any page error or console error.
 * Needs root (CI) and Chromium; skipped with a message otherwise.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, describe, expect, it } from 'vitest';

const app = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.TAPSTACK_CHROMIUM ?? '/usr/bin/chromium';
const reason =
  process.getuid?.() !== 0
    ? 'not root (CI runs it as root, where tools/test-all.sh installs chromium)'
    : !existsSync(CHROMIUM)
      ? `no Chromium at ${CHROMIUM} (apt-get install chromium)`
      : undefined;
if (reason) console.log(`browser demo test skipped: ${reason}`);

interface DemoResult {
  done: boolean;
  ok: boolean;
  error?: string;
  addresses: string[];
  fetched: { family: string; status: number; bytes: number; servedBy: string }[];
  integrity: {
    family: string;
    direction: string;
    bytes: number;
    page: string;
    server: string;
    match: boolean;
  }[];
  throughput: { bytes: number; seconds: number; mibPerSecond: number; sha256Match: boolean };
  stats: Record<string, number>;
  worker: { ok: boolean; addresses?: string[]; status?: number; servedBy?: string; error?: string };
}

let demo: ChildProcess | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close().catch(() => {});
  if (demo?.pid && demo.exitCode === null) {
    const exited = new Promise((r) => demo!.once('exit', r));
    demo.kill('SIGTERM');
    await exited;
  }
});

function startDemo(): Promise<string> {
  demo = spawn(process.execPath, [join(app, 'bin/browser-demo.mjs'), '--bytes', '16MiB', '--blob', '2MiB'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  demo.stderr!.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    demo!.stdout!.on('data', (d) => {
      buf += d;
      const m = /^\{"ready":true.*$/m.exec(buf);
      if (m) resolve(JSON.parse(m[0]).url);
    });
    demo!.once('exit', (code) => reject(new Error(`the demo exited (${code}):\n${err}`)));
  });
}

describe.skipIf(reason !== undefined)('browser demo in headless Chromium', () => {
  it('joins over WebSocket, fetches across WireGuard (v4, v6), bytes check out, throughput runs', async () => {
    const url = await startDemo();
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root has no user namespace sandbox for Chromium; the page is our own, on loopback.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1100, height: 1400 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${(e as Error).message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
    });
    await page.goto(url);
    await page.waitForFunction('window.demoResult && window.demoResult.done', {
      timeout: 150_000,
      polling: 200,
    });
    const r = (await page.evaluate('window.demoResult')) as DemoResult;
    const shots = join(app, 'test-output');
    mkdirSync(shots, { recursive: true });
    const shot = join(shots, 'browser-demo.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(
      `browser demo: ${r.ok ? 'ok' : `FAILED ${r.error}`}; echo ${r.throughput?.mibPerSecond.toFixed(1)} MiB/s each way; screenshot ${shot}`,
    );
    expect(errors).toEqual([]);
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.addresses).toEqual(['198.51.100.2/24', '2001:db8:77::2/64']);
    expect(r.fetched.map((f) => [f.family, f.status, f.servedBy])).toEqual([
      ['IPv4', 200, 'b'],
      ['IPv6', 200, 'b'],
    ]);
    expect(r.integrity).toHaveLength(4);
    for (const i of r.integrity) {
      expect(i.match).toBe(true);
      expect(i.page).toBe(i.server);
      expect(i.bytes).toBe(2 * 1048576);
    }
    expect(r.throughput.sha256Match).toBe(true);
    expect(r.throughput.bytes).toBe(16 * 1048576);
    expect(r.stats['link.rxFrames']).toBeGreaterThan(0);
    // A second stack, in a Web Worker, joined while the page's was on: the next addresses.
    expect(r.worker).toEqual({
      ok: true,
      addresses: ['198.51.100.3/24', '2001:db8:77::3/64'],
      status: 200,
      servedBy: 'b',
    });
  });
});
