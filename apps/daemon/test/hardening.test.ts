/**
 * Issue 14, the daemon's local endpoints attacked by another local user: the default
 * bridge socket lives in a private directory, the metrics socket is 0600 whatever the
 * umask, and a SOCKS5 front held open by one client never takes the bridge or the
 * metrics endpoint down (descriptors in reserve under the open-file limit).
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { bridgeConnect, bridgeListen } from '@tapstack/socket-bridge';
import { DEFAULT_TX_QUEUE_LEN } from '@tapstack/tap-io';
import { afterAll, describe, expect, it } from 'vitest';
import { createNamespace, skipReason } from '@tapstack/interop/netns';
import { validateConfig } from '../src/config.js';
import { Daemon } from '../src/daemon.js';
import { logLines, quietLogger, scrape, series, until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tapstackd-harden-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;

async function withRuntimeDir<T>(runtime: string, f: () => Promise<T>): Promise<T> {
  const old = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = runtime;
  try {
    return await f();
  } finally {
    if (old === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = old;
  }
}

describe('local endpoints', () => {
  it('the default bridge socket is in a 0700 directory of its own; sockets are 0600 whatever the umask', async () => {
    const runtime = join(dir, 'run-ok');
    mkdirSync(runtime, { mode: 0o700 });
    const oldMask = process.umask(0);
    try {
      await withRuntimeDir(runtime, async () => {
        const cfg = validateConfig({ metrics: { listen: `unix:${join(runtime, 'metrics.sock')}` } });
        expect(cfg.bridge.path).toBe(join(runtime, 'tapstack', 'bridge.sock'));
        const d = await Daemon.start(cfg, { logger: quietLogger('harden') });
        try {
          expect(statSync(join(runtime, 'tapstack')).mode & 0o777).toBe(0o700);
          expect(statSync(cfg.bridge.path).mode & 0o777).toBe(0o600);
          expect(statSync(join(runtime, 'metrics.sock')).mode & 0o777).toBe(0o600);
        } finally {
          await d.stop(0);
        }
      });
    } finally {
      process.umask(oldMask);
    }
  });

  it.runIf(isRoot)('refuses a default socket directory another user made', async () => {
    const runtime = join(dir, 'run-squat');
    mkdirSync(join(runtime, 'tapstack'), { recursive: true, mode: 0o777 });
    chownSync(join(runtime, 'tapstack'), 65534, 65534);
    await withRuntimeDir(runtime, async () => {
      await expect(Daemon.start(validateConfig({}), { logger: quietLogger('harden') })).rejects.toThrow(
        /owned by uid 65534/,
      );
    });
  });
});

describe('SOCKS5 held open by one local user', () => {
  it('bridge and metrics keep working at the open-file limit', async () => {
    const bin = join(import.meta.dirname, '../bin/tapstackd.mjs');
    const bridge = join(dir, 'fd.sock');
    const metrics = join(dir, 'fd-metrics.sock');
    const child = spawn(
      'prlimit',
      [
        '--nofile=300:300',
        '--',
        process.execPath,
        bin,
        '--address',
        '192.0.2.1/24',
        '--bridge',
        bridge,
        '--socks',
        '0',
        '--metrics',
        `unix:${metrics}`,
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const held: Socket[] = [];
    try {
      const ready = await new Promise<{ socks: string }>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))));
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      const port = Number(ready.socks.split(':')[1]);
      // More connections than the daemon has descriptors, from a few loopback addresses.
      for (let i = 0; i < 400; i++) {
        const s = connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (i % 4)}` });
        s.on('error', () => {});
        held.push(s);
      }
      await until(() => held.every((s) => !s.connecting), 10_000);
      // The bridge still takes requests, the metrics endpoint still answers.
      const l = await bridgeListen({ path: bridge, port: 8080, timeout: 5000 });
      expect(l.address).toBe('0.0.0.0:8080');
      l.close();
      const m = await scrape(`unix:${metrics}`);
      expect(series(m, 'tapstack_socks_counter_total', { counter: 'refused' })).toBeGreaterThan(0);
      expect(series(m, 'tapstack_socks_gauge', { gauge: 'sessions' })).toBeLessThan(300);
    } finally {
      for (const s of held) s.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const nsReason = skipReason([]);
describe.skipIf(nsReason !== undefined)('a TAP device deleted under the daemon', () => {
  it.each(['loop', 'thread'] as const)(
    'rx %s: is logged once, and /healthz and the metrics say the link is down',
    async (rxMode) => {
      const tap = `tsh${rxMode[0]}${process.pid % 100000}`;
      const metrics = join(dir, `tap-metrics-${rxMode}.sock`);
      const d = await Daemon.start(
        validateConfig({
          name: 'tapdown',
          // txQueueLen reaches the device (thread); tap-io's default otherwise (loop).
          links: [
            {
              type: 'tap',
              name: tap,
              addresses: ['192.0.2.1/24'],
              rxMode,
              ...(rxMode === 'thread' ? { txQueueLen: 3000 } : {}),
            },
          ],
          bridge: { path: join(dir, `tap-${rxMode}.sock`) },
          metrics: { listen: `unix:${metrics}` },
        }),
        { logger: quietLogger('tapdown') },
      );
      const ns = createNamespace();
      try {
        ns.adoptLink(tap, ['192.0.2.254/24']);
        expect(Number(ns.run(['cat', `/sys/class/net/${tap}/tx_queue_len`]))).toBe(
          rxMode === 'thread' ? 3000 : DEFAULT_TX_QUEUE_LEN,
        );
        expect(await get(metrics, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
        ns.run(['ip', 'link', 'del', tap]);
        // The next frame the stack sends (or the reader's next read) fails on the dead fd.
        expect(await until(async () => (await get(metrics, '/healthz')).status === 503, 10_000)).toBe(true);
        expect((await get(metrics, '/healthz')).body).toMatch(
          new RegExp(`link ${tap} is down \\(E[A-Z]+\\)`),
        );
        const m = await scrape(`unix:${metrics}`);
        expect(series(m, 'tapstack_link_gauge', { link: tap, gauge: 'down' })).toBe(1);
        // The reader's SYN shedding is counted there too (nothing shed here).
        expect(series(m, 'tapstack_link_counter_total', { link: tap, counter: 'rxSynShed' })).toBe(0);
        d.health();
        d.health();
        expect(logLines.filter((l) => l.includes('link failed') && l.includes(tap)).length).toBe(1);
      } finally {
        ns.delete();
        await d.stop(0);
      }
    },
  );
});

describe('VXLAN table limits in the config (issue 14)', () => {
  it('links[].maxLearnedMacs and maxLearnedEndpoints reach the link: refusals are counted', async () => {
    const metrics = join(dir, 'vx-metrics.sock');
    const d = await Daemon.start(
      validateConfig({
        name: 'vxlimits',
        links: [
          {
            type: 'vxlan',
            name: 'vxl',
            localPort: 0,
            learn: true,
            maxLearnedMacs: 2,
            maxLearnedEndpoints: 1,
            macAgeMs: 60_000,
            addresses: ['192.0.2.1/24'],
          },
        ],
        bridge: { path: join(dir, 'vx.sock') },
        metrics: { listen: `unix:${metrics}` },
      }),
      { logger: quietLogger('vxlimits') },
    );
    const socks: ReturnType<typeof createSocket>[] = [];
    try {
      const port = Number(d.status().links[0]!.udp!.split(':').pop());
      /** A VXLAN datagram (VNI 42) carrying a broadcast frame from MAC 02:99:00:00:00:<i>. */
      const datagram = (i: number) => {
        const b = Buffer.alloc(8 + 60);
        b[0] = 0x08;
        b.writeUIntBE(42, 4, 3);
        b.fill(0xff, 8, 14);
        b.set([0x02, 0x99, 0, 0, 0, i], 14);
        b.writeUInt16BE(0x88b5, 20);
        return b;
      };
      for (let k = 0; k < 2; k++) {
        const s = createSocket('udp4');
        await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
        socks.push(s);
      }
      // 5 MACs behind the first sender: 2 learned, 3 refused; 1 behind a second sender: refused.
      for (let i = 1; i <= 5; i++) socks[0]!.send(datagram(i), port, '127.0.0.1');
      socks[1]!.send(datagram(9), port, '127.0.0.1');
      const refused = async () =>
        series(await scrape(`unix:${metrics}`), 'tapstack_link_counter_total', {
          link: 'vxl',
          counter: 'learnRefused',
        });
      expect(await until(async () => (await refused()) === 4, 10_000)).toBe(true);
      const m = await scrape(`unix:${metrics}`);
      expect(series(m, 'tapstack_link_gauge', { link: 'vxl', gauge: 'learnedMacs' })).toBe(2);
      expect(series(m, 'tapstack_link_gauge', { link: 'vxl', gauge: 'peers' })).toBe(1);
    } finally {
      for (const s of socks) s.close();
      await d.stop(0);
    }
  });
});

describe('a VXLAN socket whose sends find no path (issue 14)', () => {
  it('is logged once, and /healthz and the metrics say the link is down', async () => {
    const metrics = join(dir, 'vxdown-metrics.sock');
    const bridge = join(dir, 'vxdown.sock');
    // Bound to loopback, its only peer outside: the kernel refuses every datagram (EINVAL).
    const d = await Daemon.start(
      validateConfig({
        name: 'vxdown',
        links: [
          {
            type: 'vxlan',
            name: 'vxd',
            localPort: 0,
            peers: ['192.0.2.9:4789'],
            addresses: ['198.51.100.1/24'],
          },
        ],
        bridge: { path: bridge },
        metrics: { listen: `unix:${metrics}` },
      }),
      { logger: quietLogger('vxdown') },
    );
    try {
      // Connections to three neighbours: an ARP request for each, flooded to the peer
      // (the stack's own announcements at start may already have failed three times).
      for (const host of ['198.51.100.2', '198.51.100.3', '198.51.100.4'])
        bridgeConnect({ path: bridge, host, port: 80 }).then(
          (s) => s.destroy(),
          () => {},
        );
      expect(await until(async () => (await get(metrics, '/healthz')).status === 503, 10_000)).toBe(true);
      expect((await get(metrics, '/healthz')).body).toBe('link vxd is down (EINVAL)\n');
      const m = await scrape(`unix:${metrics}`);
      expect(series(m, 'tapstack_link_gauge', { link: 'vxd', gauge: 'down' })).toBe(1);
      d.health();
      d.health();
      expect(logLines.filter((l) => l.includes('link failed') && l.includes('vxd')).length).toBe(1);
    } finally {
      await d.stop(0);
    }
  });
});
