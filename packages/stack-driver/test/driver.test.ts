/** StackDriver end to end: two drivers (two real stacks) over an in-memory switch. */
import { Ipv4Address, Ipv6Address, parseIpAddress, SocketEvent } from '@tapstack/stack-core';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptOne, connect, driverPair, pattern, readAll, sha256, writeAll } from './helpers.js';

let cleanup: (() => Promise<unknown>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('StackDriver over a memory switch', () => {
  it('pings the other stack over IPv4 and IPv6', async () => {
    const p = await driverPair();
    cleanup = p.close;
    const r4 = await p.A.ping('192.0.2.2');
    expect(r4.from).toBe('192.0.2.2');
    expect(r4.rttMs).toBeGreaterThanOrEqual(0);
    const r6 = await p.A.ping('2001:db8::2');
    expect(r6.from).toBe('2001:db8::2');
    await expect(p.A.ping('192.0.2.99', { timeoutMs: 300 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('routes UDP events to the watching handle through the SocketHost', async () => {
    const p = await driverPair();
    cleanup = p.close;
    const hb = p.B.sockets.udpOpen();
    expect(p.B.sockets.udpBind(hb, undefined, 7000)).toBe(0);
    const got = new Promise<{ text: string; from: string; port: number }>((resolve) => {
      p.B.sockets.watch(hb, (ev) => {
        if (!(ev & SocketEvent.Readable)) return;
        const d = p.B.sockets.udpRecv(hb)!;
        resolve({ text: new TextDecoder().decode(d.data), from: d.address.toString(), port: d.port });
      });
    });
    const ha = p.A.sockets.udpOpen();
    p.A.sockets.udpBind(ha, undefined, 7001);
    expect(
      p.A.sockets.udpSend(ha, new TextEncoder().encode('hello'), Ipv4Address.parse('192.0.2.2'), 7000),
    ).toBe(5);
    expect(await got).toEqual({ text: 'hello', from: '192.0.2.1', port: 7001 });
  });

  it('moves 4 MiB over TCP both ways, checked by sha256', async () => {
    const p = await driverPair();
    cleanup = p.close;
    const data = pattern(4 << 20, 7);
    for (const [from, to, addr] of [
      [p.A, p.B, '192.0.2.2'],
      [p.B, p.A, '2001:db8::1'],
    ] as const) {
      const accepted = acceptOne(to.sockets, undefined, 8080);
      const c = await connect(from.sockets, parseIpAddress(addr), 8080);
      const s = await accepted;
      const [, got] = await Promise.all([writeAll(from.sockets, c, data), readAll(to.sockets, s)]);
      expect(got.length).toBe(data.length);
      expect(got.sha256).toBe(sha256(data));
      from.sockets.unwatch(c);
      from.sockets.tcpClose(c);
      to.sockets.unwatch(s);
      to.sockets.tcpClose(s);
    }
  });

  it('never starves the event loop during a bulk transfer', async () => {
    const p = await driverPair();
    cleanup = p.close;
    const data = pattern(16 << 20, 9);
    const accepted = acceptOne(p.B.sockets, undefined, 8081);
    const c = await connect(p.A.sockets, parseIpAddress('192.0.2.2'), 8081);
    const s = await accepted;
    let iterations = 0;
    let timers = 0;
    let running = true;
    const spin = () => {
      iterations++;
      if (running) setImmediate(spin);
    };
    setImmediate(spin);
    const t = setInterval(() => timers++, 1);
    const [, got] = await Promise.all([writeAll(p.A.sockets, c, data), readAll(p.B.sockets, s)]);
    running = false;
    clearInterval(t);
    expect(got.sha256).toBe(sha256(data));
    // Other work got turns all along: many loop iterations, and timers fired.
    expect(iterations).toBeGreaterThan(20);
    expect(timers).toBeGreaterThan(0);
    expect(p.B.stats()['driver.turns']).toBeGreaterThan(20);
  });

  it('stays idle with no traffic: the loop does not spin', async () => {
    const p = await driverPair();
    cleanup = p.close;
    await p.A.ping('192.0.2.2');
    await new Promise((r) => setTimeout(r, 100));
    const before = p.A.stats()['driver.turns']!;
    await new Promise((r) => setTimeout(r, 300));
    // Only stack timers (e.g. neighbour-cache ageing) may run: a handful of turns, not thousands.
    expect(p.A.stats()['driver.turns']! - before).toBeLessThan(10);
  });

  it('gives one stats snapshot with stack, driver, link and resolver counters', async () => {
    const p = await driverPair();
    cleanup = p.close;
    await p.A.ping('2001:db8::2');
    const s = p.A.stats();
    expect(s['driver.rxFrames']).toBeGreaterThan(0);
    expect(s['driver.txFrames']).toBeGreaterThan(0);
    expect(s['link.a0.txFrames']).toBe(s['driver.txFrames']);
    expect(s['dns.queries']).toBe(0);
    const stackKeys = Object.keys(p.A.stack.stats());
    expect(stackKeys.length).toBeGreaterThan(0);
    for (const k of stackKeys) expect(s).toHaveProperty([k]);
  });

  it('captures every frame sent and received to a pcap file', async () => {
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'tsd-pcap-'));
    try {
      const file = join(dir, 'a.pcap');
      const p = await driverPair({}, {}, { pcap: file });
      await p.A.ping('192.0.2.2');
      const frames = p.A.stats()['driver.rxFrames']! + p.A.stats()['driver.txFrames']!;
      await p.close();
      const b = readFileSync(file);
      // libpcap global header (24 bytes), then 16-byte record headers.
      expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect(b.readUInt32LE(20)).toBe(1); // LINKTYPE_ETHERNET
      let records = 0;
      for (let off = 24; off + 16 <= b.length; off += 16 + b.readUInt32LE(off + 8)) records++;
      // ARP request + reply, echo request + reply at least; every frame the driver saw.
      expect(records).toBeGreaterThanOrEqual(4);
      expect(records).toBe(frames);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lookup() returns literals directly and fails with ENOTFOUND without servers', async () => {
    const p = await driverPair();
    cleanup = p.close;
    expect((await p.A.sockets.lookup('2001:db8::7')).map(String)).toEqual(['2001:db8::7']);
    expect((await p.A.sockets.lookup('192.0.2.9', 4))[0]).toBeInstanceOf(Ipv4Address);
    expect((await p.A.sockets.lookup('localhost', 6))[0]).toEqual(Ipv6Address.LOOPBACK);
    await expect(p.A.sockets.lookup('nowhere.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});
