/**
 * Prometheus metrics with prom-client, one registry per daemon (several daemons may run
 * in one test process). Stack, link, driver and bridge counters are read from their
 * `stats()` snapshots at scrape time; sessions come from the SessionTable. Served over
 * HTTP on a Unix socket or a loopback port: GET /metrics.
 */
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { listenUnixPrivate } from '@tapstack/socket-bridge';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
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
  /** The WebSocket link server's counters (clients, refusals, drops). */
  websocket?: () => Record<string, number> | undefined;
  draining: () => boolean;
  /** UDP forwards' flow tables, summed (flows, flowsOpened, flowsExpired, flowsRefused, ...). */
  udpForwards?: () => Record<string, number> | undefined;
}

/**
 * Which snapshot values are gauges (a level that goes up and down: table sizes, open
 * handles, a high-water mark); every other value is a counter that only grows. Matched
 * on the last dotted part of the name, so `link.vx0.rxRing.highWater` is a gauge.
 */
export const gaugeNames = [
  'entries',
  'reassemblyPending',
  'sockets',
  'connections',
  'handles',
  'peers',
  'learnedMacs',
  'highWater',
  'sessions',
  'openHandles',
  'flows',
  'timeWait',
  'synQueue',
  'pending',
  'down',
  'clients',
] as const;
const gaugeSet = new Set<string>(gaugeNames);

export function isGaugeName(name: string): boolean {
  return gaugeSet.has(name.slice(name.lastIndexOf('.') + 1));
}

type Values = Record<string, number> | undefined;

/**
 * One snapshot source as two families: `<base>_counter_total{counter}` (a Counter) and
 * `<base>_gauge{gauge}`. prom-client's Counter only goes up by inc(); its value is read
 * from the source at scrape time, so it is reset and set again by one inc per series.
 */
function snapshotFamilies(
  registry: Registry,
  base: string,
  what: string,
  labelNames: string[],
  read: () => [Record<string, string>, Values][],
): void {
  new Counter({
    name: `${base}_counter_total`,
    help: `${what}: counters (they only grow), by name`,
    labelNames: [...labelNames, 'counter'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, values] of read()) {
        for (const [k, v] of Object.entries(values ?? {}))
          if (Number.isFinite(v) && v >= 0 && !isGaugeName(k)) this.inc({ ...labels, counter: k }, v);
      }
    },
  });
  new Gauge({
    name: `${base}_gauge`,
    help: `${what}: levels (table sizes, open handles, high-water marks), by name`,
    labelNames: [...labelNames, 'gauge'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, values] of read()) {
        for (const [k, v] of Object.entries(values ?? {}))
          if (Number.isFinite(v) && isGaugeName(k)) this.set({ ...labels, gauge: k }, v);
      }
    },
  });
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
  new Counter({
    name: 'tapstack_sessions_total',
    help: 'Connections accepted since start by forwards and services',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const k of ['forward', 'service'] as const) this.inc({ kind: k }, src.totals(k));
    },
  });
  new Counter({
    name: 'tapstack_session_bytes_total',
    help: 'Bytes relayed by forwards and services; direction in = from the virtual network',
    labelNames: ['kind', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      for (const k of ['forward', 'service'] as const) {
        const b = src.bytes(k);
        this.inc({ kind: k, direction: 'in' }, b.in);
        this.inc({ kind: k, direction: 'out' }, b.out);
      }
    },
  });
  snapshotFamilies(registry, 'tapstack_stack', 'The TCP/IP stack (stack.stats())', [], () => [
    [{}, src.stack?.()],
  ]);
  snapshotFamilies(registry, 'tapstack_link', 'Each link (rxFrames, txBytes, rxDropped, ...)', ['link'], () =>
    Object.entries(src.links?.() ?? {}).map(([link, v]) => [{ link }, v]),
  );
  snapshotFamilies(registry, 'tapstack_driver', 'The stack driver loop', [], () => [[{}, src.driver?.()]]);
  snapshotFamilies(registry, 'tapstack_bridge', 'The AF_UNIX bridge server', [], () => [
    [{}, src.bridge?.()],
  ]);
  snapshotFamilies(registry, 'tapstack_socks', 'The SOCKS5 front', [], () => [[{}, src.socks?.()]]);
  snapshotFamilies(
    registry,
    'tapstack_websocket',
    'The WebSocket link server (clients, accepted, rejectedAuth, rxSpoofed, rxRateLimited, ...)',
    [],
    () => [[{}, src.websocket?.()]],
  );
  snapshotFamilies(
    registry,
    'tapstack_udp_forward',
    'UDP forwards, all together (flow table: flows, flowsOpened, flowsExpired, flowsRefused; datagrams)',
    [],
    () => [[{}, src.udpForwards?.()]],
  );
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

/**
 * The metrics reference (Markdown) from the families the code registers: the daemon
 * README embeds it between `<!-- metrics-reference -->` markers, and a test checks that
 * it is the same text (regenerate: `pnpm --filter @tapstack/daemon metrics-doc`).
 */
export async function metricsReference(): Promise<string> {
  const none = () => undefined;
  const registry = createMetrics({
    daemon: 'doc',
    open: () => ({ bridge: 0, socks: 0, forward: 0, service: 0 }),
    totals: () => 0,
    bytes: () => ({ in: 0, out: 0 }),
    stack: none,
    links: () => ({}),
    driver: none,
    bridge: none,
    socks: none,
    draining: () => false,
  });
  const rows: string[][] = [];
  for (const m of await registry.getMetricsAsJSON()) {
    if (!m.name.startsWith('tapstack_')) continue;
    const labels =
      (registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] })?.labelNames ?? [];
    rows.push([`\`${m.name}${labels.length ? `{${labels.join(',')}}` : ''}\``, String(m.type), m.help]);
  }
  const lines = [
    '| metric | type | what |',
    '| --- | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    "| `process_*`, `nodejs_*` | (various) | prom-client's default process metrics (heap, handles, event-loop lag) |",
    '',
    `Every series has a \`daemon\` label. A snapshot value is a gauge when the last part of its name is one of ${gaugeNames.map((g) => `\`${g}\``).join(', ')}; every other value is a counter.`,
  ];
  return lines.join('\n');
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
  /** GET /status: the daemon's state as JSON (`tapstackd status`). */
  status?: () => unknown,
  /** GET /healthz: 200 "ok", or 503 with the problems (a link down). */
  health?: () => { ok: boolean; problems: string[] },
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && url === '/status' && status) {
      beforeScrape();
      let body: string;
      try {
        body = `${JSON.stringify(status(), null, 2)}\n`;
      } catch (e) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`status failed: ${(e as Error).message}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
      return;
    }
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
      beforeScrape();
      const h = health?.() ?? { ok: true, problems: [] };
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(h.ok ? 'ok\n' : `${h.problems.join('\n')}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('GET /metrics, /healthz or /status\n');
  });
  server.keepAliveTimeout = 1000;
  if (listen.kind === 'unix') await claimSocketPath(listen.path);
  // A Unix socket is created 0600 whatever the umask: only the daemon's user scrapes it.
  if (listen.kind === 'unix') await listenUnixPrivate(server, listen.path);
  else
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve());
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
