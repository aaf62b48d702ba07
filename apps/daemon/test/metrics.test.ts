/**
 * The metrics endpoint serves the daemon's counters: after traffic through the bridge
 * to B's echo service, link, stack, session and byte counters have moved.
 */
import { request } from 'node:http';
import { createServer } from 'node:net';
import { bridgeConnect } from '@tapstack/socket-bridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig } from '../src/config.js';
import { Daemon } from '../src/daemon.js';
import { metricsReference } from '../src/metrics.js';
import { type Pair, quietLogger, scrape, series, startPair, until } from './helpers.js';

describe('metrics endpoint', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair({}, { services: { echo: 7 } });
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it('serves counters that follow the traffic', async () => {
    const before = await scrape(pair.b.info().metrics!);
    expect(series(before, 'tapstack_sessions_total', { kind: 'service' })).toBe(0);

    const s = await bridgeConnect({ path: pair.sock('a.sock'), host: '192.0.2.2', port: 7 });
    const payload = Buffer.alloc(100_000, 0x61);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.end(payload);
    await new Promise((r) => s.on('close', r));
    expect(Buffer.concat(got).equals(payload)).toBe(true);

    const a = await scrape(pair.a.info().metrics!);
    const b = await scrape(pair.b.info().metrics!);
    // Frames really crossed the link, both ways.
    expect(series(a, 'tapstack_link_counter_total', { counter: 'txFrames' })).toBeGreaterThan(50);
    expect(series(b, 'tapstack_link_counter_total', { counter: 'rxBytes' })).toBeGreaterThan(100_000);
    expect(series(b, 'tapstack_stack_counter_total', { counter: 'tcp.segmentsSent' })).toBeGreaterThan(10);
    // B counted one echo session and its bytes; it is closed again.
    expect(series(b, 'tapstack_sessions_total', { kind: 'service' })).toBe(1);
    expect(series(b, 'tapstack_session_bytes_total', { kind: 'service', direction: 'out' })).toBe(100_000);
    expect(
      await until(
        async () =>
          series(await scrape(pair.b.info().metrics!), 'tapstack_sessions_open', { kind: 'service' }) === 0,
        3000,
      ),
    ).toBe(true);
    // Process metrics come with it; every series carries the daemon label.
    expect(series(a, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(
      [...a.keys()].filter((k) => k.startsWith('tapstack_')).every((k) => k.includes('daemon="a"')),
    ).toBe(true);
  });

  it('exposes counters as counters named _total, and levels as gauges (issue 19)', async () => {
    const text = await getText(pair.b.info().metrics!.slice(5), '/metrics');
    const types = new Map<string, string>();
    for (const m of text.matchAll(/^# TYPE (tapstack_\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
    expect(types.get('tapstack_sessions_total')).toBe('counter');
    expect(types.get('tapstack_session_bytes_total')).toBe('counter');
    expect(types.get('tapstack_stack_counter_total')).toBe('counter');
    expect(types.get('tapstack_sessions_open')).toBe('gauge');
    for (const [name, type] of types)
      expect(`${name} ${type}`).toBe(`${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}`);
    // Table sizes are gauges, not counters.
    expect(text).toMatch(/^tapstack_stack_gauge\{gauge="tcp\.connections",daemon="b"\} \d+$/m);
    expect(text).not.toMatch(/counter="tcp\.connections"/);
    // The README's reference lists every family the daemon serves, generated from the code.
    const readme = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');
    const ref = await metricsReference();
    const block = readme.slice(
      readme.indexOf('<!-- metrics-reference:begin -->'),
      readme.indexOf('<!-- metrics-reference:end -->'),
    );
    expect(block.trim(), 'README metrics reference: run `pnpm metrics-doc` in apps/daemon').toBe(
      `<!-- metrics-reference:begin -->\n\n${ref}`,
    );
    for (const name of types.keys()) expect(ref).toContain(`\`${name}`);
  });

  it('answers 404 on other paths and /healthz with ok', async () => {
    const path = pair.a.info().metrics!.slice(5);
    const get = (p: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ socketPath: path, path: p }, (res) => {
          let body = '';
          res.on('data', (d) => {
            body += d;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect((await get('/nope')).status).toBe(404);
  });
});

describe('metrics on a loopback port', () => {
  it('binds the port given (0 = any) and serves there', async () => {
    const d = await Daemon.start(
      validateConfig({ name: 'solo', bridge: { enabled: false }, metrics: { listen: '127.0.0.1:0' } }),
      { logger: quietLogger('solo') },
    );
    try {
      const where = d.info().metrics!;
      expect(where).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(where.endsWith(':0')).toBe(false);
      const m = await scrape(where);
      expect(series(m, 'tapstack_draining')).toBe(0);
    } finally {
      await d.stop(0);
    }
  });

  it('a port in use is a start error, and nothing is left open', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(
        Daemon.start(
          validateConfig({ bridge: { enabled: false }, metrics: { listen: `127.0.0.1:${port}` } }),
          {
            logger: quietLogger('busy'),
          },
        ),
      ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      blocker.close();
    }
  });
});

function getText(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}
