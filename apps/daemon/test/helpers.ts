/**
 * Test helpers: daemons started in this process on a private in-memory switch (so
 * tests do not share a segment), temp dirs that are always removed, and a metrics
 * scrape over the daemon's Unix socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DaemonConfigInput, validateConfig } from '../src/config.js';
import { Daemon } from '../src/daemon.js';
import { createLogger } from '../src/log.js';
import { parsePrometheus } from '../src/metrics.js';

let switchCounter = 0;

export interface Pair {
  dir: string;
  a: Daemon;
  b: Daemon;
  sock(name: string): string;
  stop(): Promise<void>;
}

/** Collected log lines, for assertions and for printing when a test fails. */
export const logLines: string[] = [];

export function quietLogger(name: string) {
  return createLogger({
    level: process.env.TAPSTACK_TEST_LOG ?? 'warn',
    json: false,
    name,
    destination: { write: (s: string) => logLines.push(s) },
  });
}

/**
 * Two daemons on one in-memory switch: A at 192.0.2.1 / 2001:db8::1, B at 192.0.2.2 /
 * 2001:db8::2; each with a bridge socket and a metrics socket in a fresh temp dir.
 */
export async function startPair(
  extraA: DaemonConfigInput = {},
  extraB: DaemonConfigInput = {},
): Promise<Pair> {
  const dir = mkdtempSync(join(tmpdir(), 'tapstackd-test-'));
  const sw = `test-${process.pid}-${switchCounter++}`;
  const sock = (n: string) => join(dir, n);
  const cfg = (name: string, n: number, extra: DaemonConfigInput) =>
    validateConfig({
      name,
      links: [{ type: 'memory', switch: sw, addresses: [`192.0.2.${n}/24`, `2001:db8::${n}/64`] }],
      bridge: { path: sock(`${name}.sock`) },
      metrics: { listen: `unix:${sock(`${name}-metrics.sock`)}` },
      shutdown: { drainTimeoutMs: 500 },
      ...extra,
    });
  const b = await Daemon.start(cfg('b', 2, extraB), { logger: quietLogger('b') });
  let a: Daemon;
  try {
    a = await Daemon.start(cfg('a', 1, extraA), { logger: quietLogger('a') });
  } catch (e) {
    await b.stop(0);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    a,
    b,
    sock,
    async stop() {
      await Promise.all([a.stop(0), b.stop(0)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** GET /metrics over a Unix socket (or host:port) → Map("name{labels}" → value). */
export function scrape(where: string): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const target = where.startsWith('unix:')
      ? { socketPath: where.slice(5) }
      : {
          host: where.slice(0, where.lastIndexOf(':')),
          port: Number(where.slice(where.lastIndexOf(':') + 1)),
        };
    const req = request({ ...target, path: '/metrics', timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(parsePrometheus(text)) : reject(new Error(text)),
      );
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('metrics timed out')));
    req.end();
  });
}

/** The value of one series, matched by name and a subset of its labels. */
export function series(
  m: Map<string, number>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const [k, v] of m) {
    const brace = k.indexOf('{');
    if ((brace < 0 ? k : k.slice(0, brace)) !== name) continue;
    if (Object.entries(labels).every(([lk, lv]) => k.includes(`${lk}="${lv}"`))) return v;
  }
  return undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 20 ms until it is true or `ms` pass; returns the last result. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await sleep(20);
  }
}
