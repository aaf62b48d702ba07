/**
 * The demo page: joins daemon A over WebSocket with @tapstack/browser, fetches daemon
 * B's page across the WireGuard link (relayed by A's forwards), checks SHA-256 of a
 * download and an upload against the server's, runs an echo throughput test with a
 * progress bar, and shows the stack's counters. The outcome is in `window.demoResult`
 * (the headless test reads it); every failure is logged with console.error.
 */
import { BrowserStack } from '@tapstack/browser';

interface DemoConfig {
  ws: string;
  /** Daemon A's addresses on the WebSocket segment. */
  v4: string;
  v6: string;
  /** A's ports: relay to B's HTTP page, relay to the demo server (blob/sha), echo. */
  relayPort: number;
  blobPort: number;
  echoPort: number;
  blobBytes: number;
  throughputBytes: number;
}

interface DemoResult {
  done: boolean;
  ok: boolean;
  error?: string;
  addresses?: string[];
  fetched?: { family: string; status: number; bytes: number; servedBy: string }[];
  integrity?: {
    family: string;
    direction: string;
    bytes: number;
    page: string;
    server: string;
    match: boolean;
  }[];
  throughput?: { bytes: number; seconds: number; mibPerSecond: number; sha256Match: boolean };
  stats?: Record<string, number>;
  worker?: { ok: boolean; addresses?: string[]; status?: number; servedBy?: string; error?: string };
}

const result: DemoResult = { done: false, ok: false };
(window as unknown as { demoResult: DemoResult }).demoResult = result;

const $ = (id: string) => document.getElementById(id)!;

function step(where: string, text: string, cls: 'ok' | 'fail' | 'run' = 'ok'): HTMLElement {
  const d = document.createElement('div');
  d.className = `step ${cls}`;
  d.textContent = text;
  $(where).appendChild(d);
  return d;
}

function settle(el: HTMLElement, text: string, ok: boolean): void {
  el.className = `step ${ok ? 'ok' : 'fail'}`;
  el.textContent = text;
}

async function sha256(b: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', b as BufferSource));
  return [...d].map((x) => x.toString(16).padStart(2, '0')).join('');
}

const mib = (n: number) => `${(n / 1048576).toFixed(n < 1048576 ? 2 : 1)} MiB`;
const url = (host: string, port: number, path: string) =>
  `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;

function showStats(s: Record<string, number>): void {
  const keys = Object.keys(s)
    .filter((k) => s[k] !== 0 && /^(link|driver|tcp|ipv4|ipv6|arp|ndp|icmp|eth|stack)\./.test(k))
    .sort();
  const half = Math.ceil(keys.length / 2);
  for (const [id, part] of [
    ['stats1', keys.slice(0, half)],
    ['stats2', keys.slice(half)],
  ] as const) {
    $(id).innerHTML = '';
    for (const k of part) {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td>${k}</td><td>${s[k]}</td>`;
      $(id).appendChild(tr);
    }
  }
}

async function run(): Promise<void> {
  const cfg = (await (await fetch('/config.json')).json()) as DemoConfig;
  const j = step('join', `connecting to ${cfg.ws.replace(/\?.*$/, '')} …`, 'run');
  const stack = await BrowserStack.connect(cfg.ws);
  result.addresses = stack.addresses;
  settle(
    j,
    `joined: MAC ${stack.link.hello.mac}, MTU ${stack.link.mtu}, addresses ${stack.addresses.join(', ')} (assigned by the daemon's hello; it serves no DHCP)`,
    true,
  );

  result.fetched = [];
  for (const [family, host] of [
    ['IPv4', cfg.v4],
    ['IPv6', cfg.v6],
  ] as const) {
    const el = step('fetch', `GET ${url(host, cfg.relayPort, '/')} …`, 'run');
    const r = await stack.fetch(url(host, cfg.relayPort, `/from-the-browser-${family}`));
    const text = r.text();
    const servedBy = /Hello from tapstack node (\w+)/.exec(text)?.[1] ?? '?';
    result.fetched.push({ family, status: r.status, bytes: r.body.length, servedBy });
    const ok = r.status === 200 && servedBy === 'b';
    settle(el, `${family}: HTTP ${r.status}, ${r.body.length} bytes, served by daemon ${servedBy}`, ok);
    if (!ok) throw new Error(`fetch over ${family} failed: HTTP ${r.status}`);
    if (family === 'IPv6') $('page').textContent = text;
  }

  result.integrity = [];
  for (const [family, host] of [
    ['IPv4', cfg.v4],
    ['IPv6', cfg.v6],
  ] as const) {
    const down = step('integrity', `${family}: download ${mib(cfg.blobBytes)} …`, 'run');
    const r = await stack.fetch(url(host, cfg.blobPort, `/blob?n=${cfg.blobBytes}&seed=${family}`));
    const mine = await sha256(r.body);
    const theirs = r.headers.get('x-sha256') ?? '';
    const match = mine === theirs && r.body.length === cfg.blobBytes;
    result.integrity.push({
      family,
      direction: 'download',
      bytes: r.body.length,
      page: mine,
      server: theirs,
      match,
    });
    settle(
      down,
      `${family} download ${mib(r.body.length)}: page ${mine.slice(0, 16)}… server ${theirs.slice(0, 16)}…`,
      match,
    );
    if (!match) throw new Error(`${family} download: SHA-256 mismatch`);

    const up = step('integrity', `${family}: upload ${mib(cfg.blobBytes)} …`, 'run');
    const body = new Uint8Array(cfg.blobBytes);
    for (let o = 0; o < body.length; o += 65536) crypto.getRandomValues(body.subarray(o, o + 65536));
    const mineUp = await sha256(body);
    const res = await stack.fetch(url(host, cfg.blobPort, '/sha'), { method: 'POST', body });
    const got = res.json() as { bytes: number; sha256: string };
    const matchUp = got.sha256 === mineUp && got.bytes === body.length;
    result.integrity.push({
      family,
      direction: 'upload',
      bytes: got.bytes,
      page: mineUp,
      server: got.sha256,
      match: matchUp,
    });
    settle(
      up,
      `${family} upload ${mib(got.bytes)}: page ${mineUp.slice(0, 16)}… server ${got.sha256.slice(0, 16)}…`,
      matchUp,
    );
    if (!matchUp) throw new Error(`${family} upload: SHA-256 mismatch`);
  }

  // Throughput: write N bytes to A's echo service while reading them back.
  const n = cfg.throughputBytes;
  const data = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(data.subarray(o, Math.min(n, o + 65536)));
  const sent = await sha256(data);
  const tp = step('throughput', `echo ${mib(n)} through daemon A …`, 'run');
  const bar = $('bar') as HTMLProgressElement;
  const c = await stack.connect({ host: cfg.v4, port: cfg.echoPort });
  const t0 = performance.now();
  let lastPaint = 0;
  const [, back] = await Promise.all([
    (async () => {
      for (let o = 0; o < n; o += 256 * 1024) await c.write(data.subarray(o, Math.min(n, o + 256 * 1024)));
      c.end();
    })(),
    c.readAll(() => {
      const now = performance.now();
      if (now - lastPaint > 50) {
        lastPaint = now;
        bar.value = c.bytesRead / n;
        tp.textContent = `echo: ${mib(c.bytesRead)} of ${mib(n)} back, ${(c.bytesRead / 1048576 / ((now - t0) / 1000)).toFixed(1)} MiB/s`;
      }
    }),
  ]);
  const seconds = (performance.now() - t0) / 1000;
  bar.value = 1;
  const sha256Match = (await sha256(back)) === sent && back.length === n;
  const rate = n / 1048576 / seconds;
  result.throughput = { bytes: back.length, seconds, mibPerSecond: rate, sha256Match };
  settle(
    tp,
    `echo: ${mib(n)} each way in ${seconds.toFixed(2)} s = ${rate.toFixed(1)} MiB/s each way; SHA-256 of what came back ${sha256Match ? 'matches' : 'DIFFERS'}`,
    sha256Match,
  );
  if (!sha256Match) throw new Error('echo: the bytes that came back differ');

  // The same stack in a Web Worker: a second client of the segment, while this one is still on it.
  const wEl = step('worker', 'starting a module worker …', 'run');
  const worker = new Worker('/worker.js', { type: 'module' });
  const w = await new Promise<NonNullable<DemoResult['worker']>>((resolve) => {
    worker.onmessage = (ev) => resolve(ev.data);
    worker.onerror = (ev) => resolve({ ok: false, error: ev.message });
    worker.postMessage({ ws: cfg.ws, url: url(cfg.v6, cfg.relayPort, '/from-a-worker') });
  });
  worker.terminate();
  result.worker = w;
  settle(
    wEl,
    w.ok
      ? `worker: joined as ${w.addresses?.join(', ')}, fetched B's page over IPv6: HTTP ${w.status}, served by daemon ${w.servedBy}`
      : `worker failed: ${w.error ?? `HTTP ${w.status}`}`,
    w.ok,
  );
  if (!w.ok) throw new Error(`worker: ${w.error ?? w.status}`);

  result.stats = stack.stats();
  showStats(result.stats);
  await stack.close();
}

run().then(
  () => {
    result.ok = true;
    result.done = true;
    $('result').textContent = 'all checks passed';
  },
  (e: Error) => {
    result.error = `${e.name}: ${e.message}`;
    result.done = true;
    $('result').textContent = `failed: ${result.error}`;
    console.error(`demo failed: ${result.error}`);
  },
);
