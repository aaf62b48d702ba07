/**
 * The DNS stub resolver against a tiny authoritative server written here, running on a
 * second tapstack stack over an in-memory switch (UDP 53, and TCP 53 for truncation).
 */
import {
  type DnsRecord,
  DnsType,
  encodeDnsMessage,
  Ipv4Address,
  parseDnsMessage,
  SocketEvent,
} from '@tapstack/stack-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { StackDriver } from '../src/driver.js';
import { driverPair } from './helpers.js';

const v4 = (s: string) => Uint8Array.from(s.split('.').map(Number));

interface Zone {
  [name: string]: { a?: string[]; aaaa?: string[]; cname?: string; ttl?: number; tcpOnly?: boolean };
}

const SOA = Uint8Array.from([
  2, 0x6e, 0x73, 0, 2, 0x68, 0x6d, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 30,
]);

function answer(zone: Zone, query: Uint8Array, overTcp: boolean): Uint8Array {
  const q = parseDnsMessage(query);
  if (typeof q === 'string') throw new Error(`server got a bad DNS query (${q})`);
  const question = q.questions[0]!;
  const answers: DnsRecord[] = [];
  let name = question.name;
  let entry = zone[name];
  if (entry?.cname) {
    answers.push({ name, type: DnsType.CNAME, class: 1, ttl: 60, data: encodeName(entry.cname) });
    name = entry.cname;
    entry = zone[name];
  }
  if (!entry) {
    return encodeDnsMessage({
      id: q.id,
      response: true,
      rcode: 3,
      questions: [question],
      authorities: [{ name: 'test', type: DnsType.SOA, class: 1, ttl: 30, data: SOA }],
    });
  }
  if (entry.tcpOnly && !overTcp) {
    return encodeDnsMessage({ id: q.id, response: true, truncated: true, questions: [question] });
  }
  const ttl = entry.ttl ?? 60;
  if (question.type === DnsType.A) {
    for (const a of entry.a ?? []) answers.push({ name, type: DnsType.A, class: 1, ttl, data: v4(a) });
  }
  if (question.type === DnsType.AAAA) {
    for (const a of entry.aaaa ?? []) {
      const b = new Uint8Array(16);
      Ipv6Bytes(a, b);
      answers.push({ name, type: DnsType.AAAA, class: 1, ttl, data: b });
    }
  }
  return encodeDnsMessage({
    id: q.id,
    response: true,
    recursionAvailable: true,
    questions: [question],
    answers,
  });
}

function Ipv6Bytes(text: string, out: Uint8Array) {
  const full = text.split('::');
  const head = full[0] ? full[0].split(':') : [];
  const tail = full[1] ? full[1].split(':') : [];
  const groups = [...head, ...new Array(8 - head.length - tail.length).fill('0'), ...tail];
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
}

function encodeName(name: string): Uint8Array {
  const out: number[] = [];
  for (const l of name.split('.')) out.push(l.length, ...new TextEncoder().encode(l));
  out.push(0);
  return Uint8Array.from(out);
}

/** Serves `zone` on UDP and TCP port 53 of `server`. Counts queries; may drop the first N. */
function serveDns(server: StackDriver, zone: Zone, opts: { dropFirst?: number } = {}) {
  const host = server.sockets;
  const stats = { udp: 0, tcp: 0, dropped: 0 };
  let drop = opts.dropFirst ?? 0;
  const u = host.udpOpen();
  host.udpBind(u, undefined, 53);
  host.watch(u, (ev) => {
    if (!(ev & SocketEvent.Readable)) return;
    for (let d = host.udpRecv(u); d; d = host.udpRecv(u)) {
      if (drop > 0) {
        drop--;
        stats.dropped++;
        continue;
      }
      stats.udp++;
      host.udpSend(u, answer(zone, d.data, false), d.address, d.port);
    }
  });
  const l = host.tcpOpen();
  host.tcpBind(l, undefined, 53);
  host.tcpListen(l, 4);
  host.watch(l, (ev) => {
    if (!(ev & SocketEvent.Acceptable)) return;
    for (let c = host.tcpAccept(l); c !== undefined; c = host.tcpAccept(l)) {
      const conn = c;
      let buf = new Uint8Array(0);
      const tmp = new Uint8Array(4096);
      host.watch(conn, (e) => {
        if (!(e & (SocketEvent.Readable | SocketEvent.PeerClosed))) return;
        for (let n = host.tcpRecv(conn, tmp); n > 0; n = host.tcpRecv(conn, tmp)) {
          const joined = new Uint8Array(buf.length + n);
          joined.set(buf);
          joined.set(tmp.subarray(0, n), buf.length);
          buf = joined;
        }
        if (buf.length >= 2 && buf.length >= 2 + ((buf[0]! << 8) | buf[1]!)) {
          stats.tcp++;
          const reply = answer(zone, buf.subarray(2), true);
          const framed = new Uint8Array(reply.length + 2);
          framed[0] = reply.length >> 8;
          framed[1] = reply.length & 0xff;
          framed.set(reply, 2);
          host.tcpSend(conn, framed);
          host.tcpShutdown(conn);
          buf = new Uint8Array(0);
        }
      });
    }
  });
  return stats;
}

let cleanup: (() => Promise<unknown>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

const ZONE: Zone = {
  'www.test': { a: ['192.0.2.80'], aaaa: ['2001:db8::80'], ttl: 60 },
  'alias.test': { cname: 'www.test' },
  'short.test': { a: ['192.0.2.81'], ttl: 1 },
  'big.test': { a: Array.from({ length: 60 }, (_, i) => `198.51.100.${i + 1}`), tcpOnly: true },
};

async function setup(dropFirst = 0, timeoutMs = 500) {
  const p = await driverPair({}, {}, { dns: { servers: ['192.0.2.2'], timeoutMs, retries: 2 } });
  cleanup = p.close;
  const stats = serveDns(p.B, ZONE, { dropFirst });
  return { ...p, stats };
}

describe('DnsResolver (RFC 1035) against a DNS server on a second stack', () => {
  it('resolves A and AAAA, IPv4 first', async () => {
    const { A } = await setup();
    expect((await A.sockets.lookup('www.test')).map(String)).toEqual(['192.0.2.80', '2001:db8::80']);
    expect((await A.lookup('WWW.test.', 6)).map(String)).toEqual(['2001:db8::80']);
  });

  it('follows a CNAME in the answer', async () => {
    const { A } = await setup();
    expect((await A.lookup('alias.test', 4)).map(String)).toEqual(['192.0.2.80']);
  });

  it('answers from the cache within the TTL and asks again after it', async () => {
    const { A, stats } = await setup();
    await A.lookup('short.test', 4);
    await A.lookup('short.test', 4);
    expect(stats.udp).toBe(1);
    expect(A.resolver.counters.cacheHits).toBe(1);
    await new Promise((r) => setTimeout(r, 1100));
    await A.lookup('short.test', 4);
    expect(stats.udp).toBe(2);
  });

  it('fails with ENOTFOUND for NXDOMAIN and caches it for the SOA minimum', async () => {
    const { A, stats } = await setup();
    await expect(A.sockets.lookup('missing.test', 4)).rejects.toMatchObject({
      code: 'ENOTFOUND',
      hostname: 'missing.test',
    });
    await expect(A.sockets.lookup('missing.test', 4)).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(stats.udp).toBe(1);
  });

  it('retries over TCP when the UDP answer is truncated', async () => {
    const { A, stats } = await setup();
    const got = await A.lookup('big.test', 4);
    expect(got).toHaveLength(60);
    expect(got[59]).toEqual(Ipv4Address.parse('198.51.100.60'));
    expect(stats.tcp).toBe(1);
    expect(A.resolver.counters.tcpFallbacks).toBe(1);
  });

  it('retries after a lost query', async () => {
    const { A, stats } = await setup(1, 300);
    expect((await A.lookup('www.test', 4)).map(String)).toEqual(['192.0.2.80']);
    expect(stats.dropped).toBe(1);
    expect(A.resolver.counters.timeouts).toBe(1);
  });

  it('asks a server over IPv6 transport', async () => {
    const p = await driverPair({}, {}, { dns: { servers: ['2001:db8::2'], timeoutMs: 500 } });
    cleanup = p.close;
    const stats = serveDns(p.B, ZONE);
    expect((await p.A.lookup('www.test', 6)).map(String)).toEqual(['2001:db8::80']);
    expect(stats.udp).toBe(1);
  });

  it('gives up with ETIMEOUT when the server never answers', async () => {
    const p = await driverPair({}, {}, { dns: { servers: ['192.0.2.2'], timeoutMs: 100, retries: 1 } });
    cleanup = p.close;
    await expect(p.A.lookup('www.test', 4)).rejects.toMatchObject({ code: 'ETIMEOUT' });
    expect(p.A.resolver.counters.timeouts).toBe(2);
  });
});
