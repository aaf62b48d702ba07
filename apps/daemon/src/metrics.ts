/**
 * Prometheus metrics with prom-client, one registry per daemon (several daemons may run
 * in one test process). Stack, link, driver and bridge counters are read from their
 * `stats()` snapshots at scrape time; sessions come from the SessionTable. Served over
 * HTTP on a Unix socket or a loopback port: GET /metrics.
 */
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { type SessionKind, sessionKinds } from './sessions.js';

export interface MetricSources {
  daemon: string;
  /** Open sessions by kind. */
  open: () => Record<SessionKind, number>;
  /** Sessions accepted since start (kinds the daemon counts itself). */
  totals: (kind: SessionKind) => number;
  bytes: (kind: SessionKind) => { in: number; out: number };
  /** Flat counters of the stack ("tcp.retransmits", ...). */
  stack?: () => Record<string, number> | undefined;
  /** Counters per link name. */
  links?: () => Record<string, Record<string, number>>;
  /** Counters of the driver loop. */
  driver?: () => Record<string, number> | undefined;
  /** Counters of the bridge server / SOCKS5 front when they have them. */
  bridge?: () => Record<string, number> | undefined;
  socks?: () => Record<string, number> | undefined;
  draining: () => boolean;
}

/** Prometheus label values may be anything; metric names may not, so counter names go in a label. */
function setAll(
  g: Gauge<string>,
  values: Record<string, number> | undefined,
  extra: Record<string, string> = {},
) {
  if (!values) return;
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === 'number' && Number.isFinite(v)) g.set({ ...extra, counter: k }, v);
  }
}

export function createMetrics(src: MetricSources): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ daemon: src.daemon });
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'tapstack_sessions_open',
    help: 'Connections the daemon is carrying now, by kind (bridge, socks, forward, service)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const open = src.open();
      for (const k of sessionKinds) this.set({ kind: k }, open[k]);
    },
  });
  new Gauge({
    name: 'tapstack_sessions_total',
    help: 'Connections accepted since start by forwards and services (a counter)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      for (const k of ['forward', 'service'] as const) this.set({ kind: k }, src.totals(k));
    },
  });
  new Gauge({
    name: 'tapstack_session_bytes_total',
    help: 'Bytes relayed by forwards and services; direction in = from the virtual network',
    labelNames: ['kind', 'direction'],
    registers: [registry],
    collect() {
      for (const k of ['forward', 'service'] as const) {
        const b = src.bytes(k);
        this.set({ kind: k, direction: 'in' }, b.in);
        this.set({ kind: k, direction: 'out' }, b.out);
      }
    },
  });
  new Gauge({
    name: 'tapstack_stack_counter',
    help: 'Counters of the TCP/IP stack (stack.stats()), by name',
    labelNames: ['counter'],
    registers: [registry],
    collect() {
      setAll(this, src.stack?.());
    },
  });
  new Gauge({
    name: 'tapstack_link_counter',
    help: 'Counters of each link (rxFrames, txBytes, rxDropped, ...)',
    labelNames: ['link', 'counter'],
    registers: [registry],
    collect() {
      for (const [name, values] of Object.entries(src.links?.() ?? {})) setAll(this, values, { link: name });
    },
  });
  new Gauge({
    name: 'tapstack_driver_counter',
    help: 'Counters of the stack driver loop',
    labelNames: ['counter'],
    registers: [registry],
    collect() {
      setAll(this, src.driver?.());
    },
  });
  new Gauge({
    name: 'tapstack_bridge_counter',
    help: 'Counters of the AF_UNIX bridge server',
    labelNames: ['counter'],
    registers: [registry],
    collect() {
      setAll(this, src.bridge?.());
    },
  });
  new Gauge({
    name: 'tapstack_socks_counter',
    help: 'Counters of the SOCKS5 front',
    labelNames: ['counter'],
    registers: [registry],
    collect() {
      setAll(this, src.socks?.());
    },
  });
  new Gauge({
    name: 'tapstack_draining',
    help: '1 while the daemon is shutting down',
    registers: [registry],
    collect() {
      this.set(src.draining() ? 1 : 0);
    },
  });
  return registry;
}

export type MetricsListen = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export interface MetricsServer {
  /** "unix:/path" or "127.0.0.1:9100" (the real port when 0 was asked for). */
  address: string;
  close(): Promise<void>;
}

/**
 * Makes `path` free for a Unix socket server: a socket file left by a crashed run is
 * removed, but one that a live process still accepts on is an EADDRINUSE error (so a
 * second daemon does not silently take the first one's path), and a file that is not a
 * socket is never touched (EEXIST).
 */
export async function claimSocketPath(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket())
    throw Object.assign(new Error(`${path} exists and is not a socket`), { code: 'EEXIST' });
  const live = await new Promise<boolean>((resolve) => {
    const c = connect({ path });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live)
    throw Object.assign(new Error(`${path} is in use by another process (is a daemon already running?)`), {
      code: 'EADDRINUSE',
    });
  unlinkSync(path);
}

export async function serveMetrics(
  registry: Registry,
  listen: MetricsListen,
  /** Called before each scrape (the daemon drops its cached stats snapshot). */
  beforeScrape: () => void = () => {},
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && url === '/metrics') {
      beforeScrape();
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (e: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${e.message}\n`);
        },
      );
      return;
    }
    if (req.method === 'GET' && url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('GET /metrics or /healthz\n');
  });
  server.keepAliveTimeout = 1000;
  if (listen.kind === 'unix') await claimSocketPath(listen.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (listen.kind === 'unix') server.listen(listen.path, () => resolve());
    else server.listen(listen.port, listen.host, () => resolve());
  });
  let address: string;
  if (listen.kind === 'unix') address = `unix:${listen.path}`;
  else {
    const a = server.address();
    const port = typeof a === 'object' && a ? a.port : listen.port;
    address = listen.host.includes(':') ? `[${listen.host}]:${port}` : `${listen.host}:${port}`;
  }
  return {
    address,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Parses Prometheus text into `name{labels} -> value` (for tests and the demo). */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{.*\})?)\s+(\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}
