import { describe, expect, it } from 'vitest';
import { EOF, SocketEvent } from '../src/registration.js';
import { TcpLayer } from '../src/tcp/index.js';
import type { IpAddress } from '../src/wire/ip-address.js';
import { SimPair } from './tcp-sim.js';
import { checkPattern, FakeHost, fillPattern } from './tcp-helpers.js';

describe('two TcpLayers over a clean link', () => {
  it('connects, moves 1 MiB each way and closes', () => {
    const sim = new SimPair({ delay: 1 });
    const [A, B] = sim.tcps;
    const lh = B.tcpOpen();
    expect(B.tcpBind(lh, undefined, 80)).toBe(0);
    expect(B.tcpListen(lh, 16)).toBe(0);
    const c = A.tcpOpen();
    expect(A.tcpConnect(c, sim.addr[1], 80, 0)).toBe(0);
    let s: number | undefined;
    expect(sim.run(() => (s = s ?? B.tcpAccept(lh)) !== undefined, 5000)).toBe(true);
    expect(sim.hosts[0].takeEvents(c) & SocketEvent.Connected).toBeTruthy();
    const total = 1 << 20;
    let sent = 0;
    let got = 0;
    const chunk = new Uint8Array(65536);
    const rbuf = new Uint8Array(65536);
    let bad = -1;
    const ok = sim.run(
      () => got === total,
      60_000,
      () => {
        while (sent < total) {
          fillPattern(chunk, sent);
          const n = A.tcpSend(c, chunk.subarray(0, Math.min(chunk.length, total - sent)));
          if (n <= 0) break;
          sent += n;
        }
        for (;;) {
          const n = B.tcpRecv(s!, rbuf);
          if (n <= 0) break;
          if (bad < 0 && checkPattern(rbuf, n, got) >= 0) bad = got + checkPattern(rbuf, n, got);
          got += n;
        }
      },
    );
    expect(bad).toBe(-1);
    expect(ok).toBe(true);
    expect(A.tcpShutdown(c)).toBe(0);
    let eof = false;
    sim.run(
      () => eof,
      5000,
      () => {
        if (B.tcpRecv(s!, rbuf) === EOF) eof = true;
      },
    );
    expect(eof).toBe(true);
    B.tcpClose(s!);
    A.tcpClose(c);
    sim.advance(1000);
    expect(B.connectionCount()).toBe(0);
    // The active closer waits in TIME-WAIT.
    expect(A.connectionCount()).toBe(1);
    sim.advance(61_000);
    expect(A.connectionCount()).toBe(0);
  });
});

describe('one TcpLayer talking to itself (loopback)', () => {
  it('connects to its own listener and moves data both ways', () => {
    const host = new FakeHost(['127.0.0.1']);
    const tcp = new TcpLayer(host);
    const queue: [IpAddress, IpAddress, Uint8Array][] = [];
    host.onSend = (src, dst, p) => queue.push([src, dst, p.slice()]);
    const l = tcp.tcpOpen();
    tcp.tcpBind(l, undefined, 9000);
    tcp.tcpListen(l, 4);
    const c = tcp.tcpOpen();
    expect(tcp.tcpConnect(c, host.addresses[0]!, 9000, 0)).toBe(0);
    let now = 0;
    const spin = () => {
      for (let i = 0; i < 1000; i++) {
        tcp.poll(now);
        if (queue.length === 0) {
          const at = tcp.pollAt();
          if (at === Infinity || at > now + 100) return;
          now = Math.max(now, at);
          continue;
        }
        for (const [src, dst, p] of queue.splice(0)) tcp.input(src, dst, p, now);
      }
    };
    spin();
    const s = tcp.tcpAccept(l)!;
    expect(s).toBeGreaterThan(0);
    tcp.tcpSend(c, new TextEncoder().encode('ping'));
    tcp.tcpSend(s, new TextEncoder().encode('pong!'));
    spin();
    const buf = new Uint8Array(16);
    expect(new TextDecoder().decode(buf.subarray(0, tcp.tcpRecv(s, buf)))).toBe('ping');
    expect(new TextDecoder().decode(buf.subarray(0, tcp.tcpRecv(c, buf)))).toBe('pong!');
    tcp.tcpClose(c);
    spin();
    expect(tcp.tcpRecv(s, buf)).toBe(EOF);
    tcp.tcpClose(s);
    spin();
    expect(tcp.tcpInfo(c)).toBeUndefined();
    // The client side waits in TIME-WAIT; the server side is gone.
    expect(tcp.connectionCount()).toBe(1);
  });
});
