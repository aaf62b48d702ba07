/** Test kit: a manual clock, a seeded random source, an in-memory UDP network, IP packets. */
import { seededBytes } from '@tapstack/testkit/random';
import type { Clock, Endpoint, RandomSource } from '../src/index.js';
import { WireGuardDevice, type DeviceOptions, PrivateKey, parsePrefix } from '../src/index.js';

export class ManualClock implements Clock {
  t = 1_000;
  now(): number {
    return this.t;
  }
  wall(): number {
    return 1_700_000_000_000 + this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** xorshift32: repeatable bytes for keys, indices and jitter (not for real use; the shared test kit's). */
export function seededRandom(seed: number): RandomSource {
  return seededBytes(seed);
}

export interface Datagram {
  data: Uint8Array;
  from: Endpoint;
  to: Endpoint;
}

/** Datagrams queue until flush(); a filter may drop, rewrite or record them. */
export class MemoryNet {
  readonly queue: Datagram[] = [];
  readonly log: Datagram[] = [];
  readonly nodes = new Map<string, WireGuardDevice>();
  filter: ((d: Datagram) => Datagram | undefined) | undefined;

  bind(self: Endpoint) {
    return {
      send: (data: Uint8Array, to: Endpoint) => {
        this.queue.push({ data: Uint8Array.from(data), from: { ...self }, to: { ...to } });
      },
    };
  }

  attach(at: Endpoint, dev: WireGuardDevice): void {
    this.nodes.set(`${at.address}:${at.port}`, dev);
  }

  /** Deliver until quiet; returns how many were delivered. */
  flush(limit = 10_000): number {
    let n = 0;
    while (this.queue.length > 0 && n < limit) {
      let d = this.queue.shift() as Datagram;
      this.log.push(d);
      if (this.filter) {
        const f = this.filter(d);
        if (!f) continue;
        d = f;
      }
      this.nodes.get(`${d.to.address}:${d.to.port}`)?.receive(d.data, d.from);
      n++;
    }
    return n;
  }
}

export function ipv4Packet(src: string, dst: string, payload: Uint8Array, proto = 17): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = proto;
  p.set(parsePrefix(src)?.address as Uint8Array, 12);
  p.set(parsePrefix(dst)?.address as Uint8Array, 16);
  p.set(payload, 20);
  return p;
}

export interface Pair {
  net: MemoryNet;
  clock: ManualClock;
  a: WireGuardDevice;
  b: WireGuardDevice;
  aKey: PrivateKey;
  bKey: PrivateKey;
  aEp: Endpoint;
  bEp: Endpoint;
  gotA: Uint8Array[];
  gotB: Uint8Array[];
}

/** Two devices: A 192.0.2.1 (endpoint 127.0.0.1:1000), B 192.0.2.2 (127.0.0.2:2000). */
export function makePair(
  o: {
    psk?: Uint8Array;
    aOpts?: Partial<DeviceOptions>;
    bOpts?: Partial<DeviceOptions>;
    bKnowsAEndpoint?: boolean;
    keepalive?: number;
  } = {},
): Pair {
  const net = new MemoryNet();
  const clock = new ManualClock();
  const aKey = PrivateKey.generate(seededRandom(1));
  const bKey = PrivateKey.generate(seededRandom(2));
  const aEp = { address: '127.0.0.1', port: 1000 };
  const bEp = { address: '127.0.0.2', port: 2000 };
  const gotA: Uint8Array[] = [];
  const gotB: Uint8Array[] = [];
  const a = new WireGuardDevice({
    privateKey: aKey.raw,
    bind: net.bind(aEp),
    clock,
    random: seededRandom(11),
    onPacket: (p) => gotA.push(Uint8Array.from(p)),
    ...o.aOpts,
  });
  const b = new WireGuardDevice({
    privateKey: bKey.raw,
    bind: net.bind(bEp),
    clock,
    random: seededRandom(22),
    onPacket: (p) => gotB.push(Uint8Array.from(p)),
    ...o.bOpts,
  });
  a.addPeer({
    publicKey: bKey.publicKey,
    presharedKey: o.psk,
    allowedIps: [parsePrefix('192.0.2.2/32') as never],
    endpoint: bEp,
    persistentKeepalive: o.keepalive,
  });
  b.addPeer({
    publicKey: aKey.publicKey,
    presharedKey: o.psk,
    allowedIps: [parsePrefix('192.0.2.1/32') as never],
    endpoint: o.bKnowsAEndpoint ? aEp : undefined,
  });
  net.attach(aEp, a);
  net.attach(bEp, b);
  return { net, clock, a, b, aKey, bKey, aEp, bEp, gotA, gotB };
}
