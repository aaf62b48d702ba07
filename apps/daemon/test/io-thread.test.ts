/**
 * `ioThread`: the link's frame I/O runs on a worker thread (the driver opens it there
 * from a spec) and the stack stays on the main thread. Two daemons over VXLAN on
 * loopback, A with ioThread: bytes go through A's bridge and come back checked, and
 * A's metrics report the rings' counters (from the driver's snapshot).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeConnect } from '@tapstack/socket-bridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../src/config.js';
import { Daemon } from '../src/daemon.js';
import { quietLogger, scrape, series } from './helpers.js';
import { freeUdpPort } from '@tapstack/testkit';

describe.each([
  ['ioThread', { ioThread: true }, {}],
  ['stackThread', {}, { stackThread: true }],
  ['stackThread + ioThread', { ioThread: true }, { stackThread: true }],
])('A with %s', (_label, linkExtra, topExtra) => {
  let dir = '';
  let a: Daemon | undefined;
  let b: Daemon | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tapstackd-io-'));
    const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
    const cfg = (name: string, n: number, port: number, peer: number, extra: object, top: object = {}) =>
      validateConfig({
        ...top,
        name,
        links: [
          {
            type: 'vxlan',
            localPort: port,
            peers: [`127.0.0.1:${peer}`],
            addresses: [`192.0.2.${n}/24`],
            ...extra,
          },
        ],
        bridge: { path: join(dir, `${name}.sock`) },
        metrics: { listen: `unix:${join(dir, `${name}-m.sock`)}` },
        services: { echo: 7 },
      });
    b = await Daemon.start(cfg('b', 2, pb, pa, {}), { logger: quietLogger('b') });
    a = await Daemon.start(cfg('a', 1, pa, pb, linkExtra, topExtra), { logger: quietLogger('a') });
  });

  afterAll(async () => {
    await Promise.all([a?.stop(0), b?.stop(0)]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries a connection and reports its counters', async () => {
    const s = await bridgeConnect({ path: join(dir, 'a.sock'), host: '192.0.2.2', port: 7 });
    const data = Buffer.alloc(1 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 255;
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.end(data);
    await new Promise((r) => s.on('end', r));
    expect(Buffer.concat(got).equals(data)).toBe(true);
    const m = await scrape(a!.info().metrics!);
    // The stack's own counters come through, wherever it runs. The link is on loopback:
    // its MTU is 65485 (tap-io's default there), so 1 MiB is at least 16 segments, and
    // frames that large crossed the worker's rings whole (the data came back intact).
    const segments = series(m, 'tapstack_stack_counter_total', { counter: 'tcp.segmentsSent' });
    expect(segments).toBeGreaterThanOrEqual(16);
    expect(segments).toBeLessThan(500);
    if ('ioThread' in linkExtra) {
      // Frames crossed the rings between the stack and the I/O thread, both ways.
      expect(
        series(m, 'tapstack_link_counter_total', { link: 'vx0', counter: 'txRing.pushed' }),
      ).toBeGreaterThanOrEqual(16);
      expect(
        series(m, 'tapstack_link_counter_total', { link: 'vx0', counter: 'rxRing.drained' }),
      ).toBeGreaterThanOrEqual(16);
    }
    expect(a!.info().links[0]!.addresses).toContain('192.0.2.1/24');
    expect(a!.info().links[0]!.udp).toBeUndefined();
  });
});

describe('worker modes are refused where they cannot work', () => {
  const issues = (raw: unknown) => {
    try {
      validateConfig(raw);
    } catch (e) {
      if (ConfigError.isInstance(e)) return e.issues.map((i) => i.path);
    }
    return [];
  };
  it('pcap with ioThread or stackThread', () => {
    expect(issues({ links: [{ type: 'vxlan', ioThread: true }], pcap: '/tmp/x.pcap' })).toEqual(['pcap']);
    expect(issues({ stackThread: true, links: [{ type: 'vxlan', pcap: '/tmp/x.pcap' }] })).toEqual([
      'links[0].pcap',
    ]);
  });
  it('stackThread with a memory link', () => {
    expect(issues({ stackThread: true, links: [{ type: 'vxlan' }, { type: 'memory' }] })).toEqual([
      'links[1].type',
    ]);
  });
});
