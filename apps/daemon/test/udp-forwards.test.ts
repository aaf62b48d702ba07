/**
 * UDP port forwards, with socat as the client and as the server (real UDP programs):
 * socat → A's host port (--forward-udp) → virtual 192.0.2.2:5353 on B → B's
 * --reverse-udp → a socat UDP echo server on the host; the reply comes back the same
 * way. Then the flow table: its cap drops (and counts) a second client, and idle flows
 * expire.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCli } from '../src/cli.js';
import { type Pair, startPair, until } from './helpers.js';
import { freeUdpPort } from '@tapstack/testkit';

const hasSocat = spawnSync('socat', ['-V']).status === 0;

/** socat as a UDP client: sends `text`, prints what comes back within 2 s, then exits. */
function socatClient(port: number, text: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = execFile('socat', ['-t', '2', '-', `UDP:127.0.0.1:${port}`], (e, out, err) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }),
    );
    c.stdin!.end(text);
  });
}

describe.skipIf(!hasSocat)('UDP forwards with socat', () => {
  let pair: Pair;
  let server: ChildProcess;
  let hostPort: number;
  beforeAll(async () => {
    hostPort = await freeUdpPort();
    // A real UDP echo server on the host: socat answers each datagram with its text, reversed in case.
    server = spawn('socat', [`UDP4-RECVFROM:${hostPort},bind=127.0.0.1,fork`, 'SYSTEM:tr a-z A-Z'], {
      stdio: 'ignore',
    });
    // Bound once the kernel lists the port (a datagram sent earlier would be refused).
    const hex = `:${hostPort.toString(16).toUpperCase().padStart(4, '0')} `;
    expect(await until(() => readFileSync('/proc/net/udp', 'utf8').includes(hex), 5000)).toBe(true);
    pair = await startPair(
      {
        forwards: {
          udpHostToVirtual: [{ listen: '127.0.0.1:0', connect: '192.0.2.2:5353' }],
          udpIdleTimeoutMs: 500,
          udpMaxFlows: 1,
        },
      },
      { forwards: { udpVirtualToHost: [{ listen: '5353', connect: `127.0.0.1:${hostPort}` }] } },
    );
  });
  afterAll(async () => {
    if (server?.pid && server.exitCode === null) process.kill(server.pid);
    await pair?.stop();
  });

  const aPort = () => {
    const f = pair.a.info().forwards.find((x) => x.description.startsWith('udp host'))!;
    return Number(f.listen.slice(f.listen.lastIndexOf(':') + 1));
  };

  it('carries a datagram there and its reply back, both ways across the virtual network', async () => {
    expect(pair.a.info().forwards.map((f) => f.description)).toEqual([
      'udp host 127.0.0.1:0 -> virtual 192.0.2.2:5353',
    ]);
    const r = await socatClient(aPort(), 'hello over udp\n');
    expect(r.err).toBe('');
    expect(r.out).toBe('HELLO OVER UDP\n');
    const sa = pair.a.status().udpFlows['udp host 127.0.0.1:0 -> virtual 192.0.2.2:5353']!;
    expect(sa).toMatchObject({ flowsOpened: 1, datagramsOut: 1, datagramsIn: 1 });
    const sb = Object.values(pair.b.status().udpFlows)[0]!;
    expect(sb).toMatchObject({ flowsOpened: 1, datagramsOut: 1, datagramsIn: 1 });
  }, 20_000);

  it('caps the flow table (a second client is dropped and counted) and expires idle flows', async () => {
    const key = 'udp host 127.0.0.1:0 -> virtual 192.0.2.2:5353';
    // Wait for the first test's flow to expire (idle 500 ms).
    expect(await until(() => pair.a.status().udpFlows[key]!.flows === 0, 5000)).toBe(true);
    expect(pair.a.status().udpFlows[key]!.flowsExpired).toBeGreaterThanOrEqual(1);
    // One client holds the only flow...
    const c1 = createSocket('udp4');
    const got: string[] = [];
    c1.on('message', (m) => got.push(m.toString()));
    c1.send('one', aPort(), '127.0.0.1');
    expect(await until(() => got.length === 1, 5000)).toBe(true);
    // ...and keeps it busy (the idle timeout is short here)...
    const keep = setInterval(() => c1.send('still here', aPort(), '127.0.0.1'), 50);
    // ...so a second client (socat, another source port) gets nothing back.
    const r = await socatClient(aPort(), 'two\n');
    clearInterval(keep);
    expect(r.out).toBe('');
    expect(pair.a.status().udpFlows[key]).toMatchObject({ flows: 1, flowsOpened: 2, flowsRefused: 1 });
    expect(got.every((g) => g === 'ONE' || g === 'STILL HERE')).toBe(true);
    c1.close();
  }, 20_000);
});

describe('--forward-udp / --reverse-udp', () => {
  it('fill forwards.udpHostToVirtual / udpVirtualToHost (repeatable), loopback-only on the host side', () => {
    const c = parseCli([
      ...['--forward-udp', '5300=192.0.2.2:53', '--forward-udp', '[::1]:5301=[2001:db8::2]:53'],
      ...['--reverse-udp', '53=127.0.0.1:5300'],
    ]).config;
    expect(c.forwards.udpHostToVirtual).toEqual([
      { listen: { host: '127.0.0.1', port: 5300 }, connect: { host: '192.0.2.2', port: 53 } },
      { listen: { host: '::1', port: 5301 }, connect: { host: '2001:db8::2', port: 53 } },
    ]);
    expect(c.forwards.udpVirtualToHost).toEqual([
      { listen: { host: '0.0.0.0', port: 53 }, connect: { host: '127.0.0.1', port: 5300 } },
    ]);
    expect(c.forwards).toMatchObject({ udpIdleTimeoutMs: 60_000, udpMaxFlows: 1024 });
    expect(() => parseCli(['--forward-udp', '0.0.0.0:53=192.0.2.2:53'])).toThrow(/loopback/);
  });
});
