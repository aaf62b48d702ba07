/**
 * Test tools for TCP (after gVisor's link/channel and checker): a fake IpHost that
 * captures what a TcpLayer sends, crafts segments to inject, and a seeded in-memory
 * link that joins two layers with loss, reordering, duplication, corruption and delay.
 */
import { sipHash24 } from '@tapstack/testkit/prf';
import { seededFloats } from '@tapstack/testkit/random';
import type { Handle, IpHost, KeyedPrf } from '../src/registration.js';
import { TcpLayer } from '../src/tcp/index.js';
import type { TcpConfig } from '../src/registration.js';
import { type IpAddress, parseIpAddress } from '../src/wire/ip-address.js';
import { fillTcpChecksum, TCP_PROTOCOL, TcpFlags, TcpRepr } from '../src/wire/tcp.js';

/** mulberry32: a small seeded PRNG (the shared test kit's). */
export const prng = seededFloats;

export interface Sent {
  src: IpAddress;
  dst: IpAddress;
  bytes: Uint8Array;
  at: number;
}

let nextHandle = 1;

export class FakeHost implements IpHost {
  readonly addresses: IpAddress[];
  mtu: number;
  readonly sent: Sent[] = [];
  readonly events: { handle: Handle; mask: number }[] = [];
  readonly eventMask = new Map<Handle, number>();
  readonly counters = new Map<string, number>();
  /** When set, sendIp hands packets here instead of capturing them. */
  onSend: ((src: IpAddress, dst: IpAddress, payload: Uint8Array, now: number) => void) | undefined;
  onEmit: ((handle: Handle, mask: number) => void) | undefined;
  private readonly rand: () => number;
  readonly keyedPrf: KeyedPrf;

  constructor(addresses: string[], opts: { mtu?: number; seed?: number; keyedPrf?: KeyedPrf } = {}) {
    this.addresses = addresses.map(parseIpAddress);
    this.mtu = opts.mtu ?? 1500;
    this.rand = prng(opts.seed ?? 1);
    this.keyedPrf = opts.keyedPrf ?? sipHash24;
  }

  selectSource(dst: IpAddress): IpAddress | undefined {
    return this.addresses.find((a) => a.version === dst.version);
  }
  isLocalAddress(addr: IpAddress): boolean {
    return this.addresses.some((a) => a.equals(addr));
  }
  maxTransportPayload(dst: IpAddress): number {
    return this.mtu - (dst.version === 4 ? 20 : 40);
  }
  sendIp(src: IpAddress, dst: IpAddress, protocol: number, payload: Uint8Array, now: number): boolean {
    if (protocol !== TCP_PROTOCOL) throw new Error('not TCP');
    if (this.onSend) this.onSend(src, dst, payload, now);
    else this.sent.push({ src, dst, bytes: payload.slice(), at: now });
    return true;
  }
  random(buf: Uint8Array): void {
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(this.rand() * 256);
  }
  allocHandle(): Handle {
    return nextHandle++;
  }
  emit(handle: Handle, events: number): void {
    this.events.push({ handle, mask: events });
    this.eventMask.set(handle, (this.eventMask.get(handle) ?? 0) | events);
    this.onEmit?.(handle, events);
  }
  count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }
  /** Events seen on a handle since the last call (and clears them). */
  takeEvents(handle: Handle): number {
    const m = this.eventMask.get(handle) ?? 0;
    this.eventMask.delete(handle);
    return m;
  }
}

/** A parsed captured segment. */
export interface Seg {
  repr: TcpRepr;
  payload: Uint8Array;
  src: IpAddress;
  dst: IpAddress;
}

export function parseSeg(s: Sent): Seg {
  const repr = new TcpRepr();
  if (!repr.parse(s.bytes)) throw new Error('captured an invalid segment');
  return { repr, payload: s.bytes.slice(repr.headerLength), src: s.src, dst: s.dst };
}

export interface Craft {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  ts?: [number, number];
  sack?: [number, number][];
  payload?: Uint8Array;
}

/** Builds a checksummed segment. */
export function craft(src: IpAddress, dst: IpAddress, c: Craft): Uint8Array {
  const r = new TcpRepr();
  r.srcPort = c.srcPort;
  r.dstPort = c.dstPort;
  r.seq = c.seq >>> 0;
  r.ack = (c.ack ?? 0) >>> 0;
  r.flags = c.flags;
  r.window = c.window ?? 65535;
  r.mss = c.mss ?? 0;
  r.wscale = c.wscale ?? -1;
  r.sackPermitted = c.sackPermitted ?? false;
  if (c.ts) {
    r.hasTimestamp = true;
    r.tsVal = c.ts[0] >>> 0;
    r.tsEcr = c.ts[1] >>> 0;
  }
  if (c.sack) {
    r.sackCount = c.sack.length;
    c.sack.forEach(([s, e], i) => {
      r.sack[i * 2] = s >>> 0;
      r.sack[i * 2 + 1] = e >>> 0;
    });
  }
  const payload = c.payload ?? new Uint8Array(0);
  const buf = new Uint8Array(r.emittedHeaderLength() + payload.length);
  const hlen = r.emit(buf, 0);
  buf.set(payload, hlen);
  fillTcpChecksum(src, dst, buf);
  return buf;
}

export const F = TcpFlags;

/**
 * One TcpLayer under test with a scripted peer: the test injects crafted segments
 * from `peer` and reads what the layer sent.
 */
export class Harness {
  readonly host: FakeHost;
  readonly tcp: TcpLayer;
  readonly local: IpAddress;
  readonly peer: IpAddress;
  now = 0;

  constructor(opts: { v6?: boolean; config?: Partial<TcpConfig>; mtu?: number; keyedPrf?: KeyedPrf } = {}) {
    const v6 = opts.v6 ?? false;
    this.host = new FakeHost([v6 ? '2001:db8::1' : '192.0.2.1'], {
      mtu: opts.mtu ?? 1500,
      ...(opts.keyedPrf ? { keyedPrf: opts.keyedPrf } : {}),
    });
    this.local = this.host.addresses[0]!;
    this.peer = parseIpAddress(v6 ? '2001:db8::2' : '192.0.2.2');
    this.tcp = new TcpLayer(this.host, opts.config);
  }

  /** Delivers a crafted segment from the peer. */
  inject(c: Craft): void {
    this.tcp.input(this.peer, this.local, craft(this.peer, this.local, c), this.now);
  }

  /** Advances time to `t` (absolute ms), polling at every deadline on the way. */
  advanceTo(t: number): void {
    for (let i = 0; i < 100000; i++) {
      const at = this.tcp.pollAt();
      if (at > t) break;
      this.now = Math.max(this.now, at);
      this.tcp.poll(this.now);
    }
    this.now = t;
    this.tcp.poll(t);
  }

  /** Polls at the current time and returns every segment sent since the last call. */
  flush(): Seg[] {
    this.tcp.poll(this.now);
    return this.drain();
  }

  drain(): Seg[] {
    const out = this.host.sent.splice(0).map(parseSeg);
    return out;
  }
}

/** 64 KiB of seeded noise: the stream pattern repeats it, mixed with the 64 KiB block number. */
const PATTERN = new Uint8Array(65536);
{
  const r = prng(0x5eed);
  for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = Math.floor(r() * 256);
}

/** Deterministic test data: byte i of a stream (misplaced, repeated or lost bytes show). */
export function patternByte(i: number): number {
  return (PATTERN[i & 0xffff]! ^ (i >>> 16) ^ (((i / 16777216) | 0) * 17)) & 0xff;
}

export function fillPattern(buf: Uint8Array, offset: number): void {
  for (let k = 0; k < buf.length; k++) {
    const i = offset + k;
    buf[k] = (PATTERN[i & 0xffff]! ^ (i >>> 16) ^ (((i / 16777216) | 0) * 17)) & 0xff;
  }
}

/** Index of the first byte of buf[0, n) that is not the stream at `offset`, or -1. */
export function checkPattern(buf: Uint8Array, n: number, offset: number): number {
  for (let k = 0; k < n; k++) {
    const i = offset + k;
    if (buf[k] !== ((PATTERN[i & 0xffff]! ^ (i >>> 16) ^ (((i / 16777216) | 0) * 17)) & 0xff)) return k;
  }
  return -1;
}
