/** Two StackDrivers on an in-memory switch: A = 192.0.2.1 / 2001:db8::1, B = 192.0.2.2 / 2001:db8::2. */
import {
  DnsType,
  encodeDnsMessage,
  Ipv4Address,
  Ipv6Address,
  parseDnsMessage,
  type TcpConfig,
} from '@tapstack/stack-core';
import { StackDriver } from '@tapstack/stack-driver';
import { MemorySwitch } from '@tapstack/stack-driver/testing';
import { pattern as kitPattern } from '@tapstack/testkit/random';
import { createDgram } from '../src/dgram.js';

/**
 * A has B (192.0.2.2) as its DNS server; call `serveDns` on B to answer names.
 */
export async function stackPair(
  opts: { tcp?: Partial<TcpConfig>; queueFrames?: number; mtu?: number; checksumOffload?: boolean } = {},
) {
  const sw = new MemorySwitch({
    ...(opts.queueFrames ? { queueFrames: opts.queueFrames } : {}),
    checksumOffload: opts.checksumOffload === true,
  });
  const mtu = opts.mtu ? { mtu: opts.mtu } : {};
  const A = await StackDriver.create({
    dns: { servers: ['192.0.2.2'], timeoutMs: 500, retries: 1 },
    ...(opts.tcp ? { tcp: opts.tcp } : {}),
    links: [
      {
        link: sw.createPort({ name: 'a0', mac: '02:00:00:00:00:0a', ...mtu }),
        addresses: ['192.0.2.1/24', '2001:db8::1/64'],
      },
    ],
  });
  const B = await StackDriver.create({
    ...(opts.tcp ? { tcp: opts.tcp } : {}),
    links: [
      {
        link: sw.createPort({ name: 'b0', mac: '02:00:00:00:00:0b', ...mtu }),
        addresses: ['192.0.2.2/24', '2001:db8::2/64'],
      },
    ],
  });
  return { sw, A, B, close: async () => void (await Promise.all([A.close(), B.close()])) };
}

/** Deterministic bytes (the shared test kit's xorshift32), as a Buffer. */
export function pattern(n: number, seed = 1): Buffer {
  const b = kitPattern(n, seed);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until true or `ms` passed (for counters that settle asynchronously). */
export async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

/** A tiny authoritative DNS server on `driver` (UDP 53) built on our dgram socket. */
export function serveDns(driver: StackDriver, zone: Record<string, string[]>) {
  const sock = createDgram(driver.sockets).createSocket('udp4');
  sock.bind(53);
  sock.on('message', (msg, rinfo) => {
    const q = parseDnsMessage(msg);
    if (typeof q === 'string') return;
    const question = q.questions[0];
    if (!question) return;
    const addrs = zone[question.name.toLowerCase()];
    const answers = (addrs ?? [])
      .map((a) => (a.includes(':') ? Ipv6Address.parse(a) : Ipv4Address.parse(a)))
      .filter((a) =>
        question.type === DnsType.A ? a.version === 4 : question.type === DnsType.AAAA && a.version === 6,
      )
      .map((a) => {
        const data = new Uint8Array(a.version === 4 ? 4 : 16);
        a.writeTo(data);
        return { name: question.name, type: question.type, class: 1, ttl: 60, data };
      });
    const reply = encodeDnsMessage({
      id: q.id,
      response: true,
      authoritative: true,
      rcode: addrs ? 0 : 3,
      questions: [question],
      answers,
    });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  return sock;
}

/** Waits until `read()` has not changed for `quietMs` (or `ms` passed); returns its value. */
export async function settled(read: () => number, quietMs = 250, ms = 10_000): Promise<number> {
  const end = Date.now() + ms;
  let last = read();
  let since = Date.now();
  while (Date.now() < end) {
    await sleep(25);
    const v = read();
    if (v !== last) {
      last = v;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
  }
  return last;
}
