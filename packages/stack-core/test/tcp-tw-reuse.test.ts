/**
 * Outgoing connections may reuse a tuple in TIME-WAIT (Linux tcp_tw_reuse): only when
 * the old connection used timestamps and has been in TIME-WAIT for a second.
 */
import { describe, expect, it } from 'vitest';
import { SocketError } from '../src/registration.js';
import { Stack } from '../src/stack.js';
import { parseIpAddress } from '../src/wire/ip-address.js';
import { Segment, runUntil, seededRandom } from './harness.js';
import { sipHash24 } from '@tapstack/testkit/prf';

function pair() {
  const seg = new Segment();
  // The client has four ephemeral ports, so TIME-WAIT fills them after four connections.
  const a = new Stack({
    random: seededRandom(1),
    keyedPrf: sipHash24,
    tcp: { ephemeralPortMin: 50000, ephemeralPortMax: 50003 },
  });
  const b = new Stack({ random: seededRandom(2), keyedPrf: sipHash24 });
  a.addAddress(seg.attach(a, 'eth0', '02:00:00:00:00:0a'), '192.0.2.1/24');
  b.addAddress(seg.attach(b, 'eth0', '02:00:00:00:00:0b'), '192.0.2.2/24');
  const l = b.tcpOpen();
  b.tcpBind(l, undefined, 80);
  b.tcpListen(l, 16);
  return { seg, a, b, l };
}

const dst = parseIpAddress('192.0.2.2');

/** Connect, send `text`, read it on the server, close client first (client ends in TIME-WAIT). */
function exchange(
  p: ReturnType<typeof pair>,
  t: number,
  text: string,
): { t: number; rc: number; port?: number } {
  const { seg, a, b, l } = p;
  const c = a.tcpOpen();
  const rc = a.tcpConnect(c, dst, 80, t);
  if (rc !== 0) {
    a.tcpClose(c);
    return { t, rc };
  }
  t = runUntil([a, b], [seg], t, t + 50, 10);
  const s = b.tcpAccept(l);
  expect(s).toBeDefined();
  expect(a.tcpSend(c, new TextEncoder().encode(text))).toBe(text.length);
  t = runUntil([a, b], [seg], t, t + 50, 10);
  const buf = new Uint8Array(100);
  const n = b.tcpRecv(s!, buf) as number;
  expect(new TextDecoder().decode(buf.subarray(0, n))).toBe(text);
  const port = a.tcpInfo(c)!.localPort;
  a.tcpClose(c);
  t = runUntil([a, b], [seg], t, t + 50, 10);
  b.tcpClose(s!);
  t = runUntil([a, b], [seg], t, t + 50, 10);
  expect(a.tcpInfo(c)?.state ?? 'TIME-WAIT').toMatch(/TIME.WAIT/);
  return { t, rc, port };
}

describe('TIME-WAIT reuse by connect (tcp_tw_reuse)', () => {
  it('refuses within a second of TIME-WAIT, then reuses the tuple and the new connection works', () => {
    const p = pair();
    let t = 0;
    const ports = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const r = exchange(p, t, `hello ${i}`);
      expect(r.rc).toBe(0);
      ports.add(r.port!);
      t = r.t;
    }
    expect(ports.size).toBe(4);
    // Every port holds a TIME-WAIT younger than a second: nothing to reuse yet.
    const early = exchange(p, t, 'too soon');
    expect(early.rc).toBe(SocketError.EADDRNOTAVAIL);
    expect(p.a.stats()['tcp.timeWaitReused'] ?? 0).toBe(0);
    // A second later (still far inside 2·MSL) the oldest tuples may carry new connections.
    t += 1000;
    for (let i = 0; i < 4; i++) {
      const r = exchange(p, t, `again ${i}`);
      expect(r.rc).toBe(0);
      expect(ports.has(r.port!)).toBe(true);
      t = r.t;
    }
    expect(p.a.stats()['tcp.timeWaitReused']).toBe(4);
    // Nobody saw an old duplicate or sent a reset along the way.
    for (const st of [p.a.stats(), p.b.stats()]) {
      expect(st['tcp.rstSent'] ?? 0).toBe(0);
      expect(st['tcp.pawsDrop'] ?? 0).toBe(0);
    }
  });
});
