/**
 * An IP-only WebSocket segment (medium 'ip'): no Ethernet, no ARP or NDP. The server's
 * stack has one IP-medium interface (`stackLink`); each client is a port known by its
 * assigned addresses. A packet goes to the port that holds its destination address
 * (multicast and broadcast to every other port and the stack); a client's packet must
 * come from one of its own addresses (or an IPv6 link-local one). Delivery is
 * asynchronous and each receiver's queue is bounded, as on tap-io's MemorySwitch.
 */
import type { Link } from '@tapstack/frame-ring';
import { parseV4, parseV6 } from './pool.js';
import type { SegmentPort } from './server.js';

type Handler = (frames: readonly Uint8Array[]) => void;

const QUEUE = 4096;

/** Routing key of an address: IPv4 as "4" + 4 chars, IPv6 as "6" + 16 chars. */
function keyOf(b: Uint8Array, off: number, len: 4 | 16): string {
  let s = len === 4 ? '4' : '6';
  for (let i = 0; i < len; i++) s += String.fromCharCode(b[off + i]!);
  return s;
}

function keyOfText(cidr: string): string {
  const a = cidr.split('/')[0]!;
  const v6 = a.includes(':');
  let n = v6 ? parseV6(a) : parseV4(a);
  const len = v6 ? 16 : 4;
  const b = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    b[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return keyOf(b, 0, len);
}

/** Destination key, or 'multi' for multicast/broadcast, or undefined for a malformed packet. */
function destination(p: Uint8Array): string | 'multi' | undefined {
  const v = p[0]! >> 4;
  if (v === 4 && p.length >= 20) {
    if (p[16]! >= 224) return 'multi';
    return keyOf(p, 16, 4);
  }
  if (v === 6 && p.length >= 40) return p[24] === 0xff ? 'multi' : keyOf(p, 24, 16);
  return undefined;
}

function source(p: Uint8Array): string | undefined {
  const v = p[0]! >> 4;
  if (v === 4 && p.length >= 20) return keyOf(p, 12, 4);
  if (v === 6 && p.length >= 40) return keyOf(p, 8, 16);
  return undefined;
}

class Receiver {
  handlers: Handler[] = [];
  queue: Uint8Array[] = [];
  scheduled = false;
  rxFrames = 0;
  rxBytes = 0;
  rxDropped = 0;
  closed = false;
  enqueue(p: Uint8Array): void {
    if (this.closed) return;
    if (this.queue.length >= QUEUE) {
      this.rxDropped++;
      return;
    }
    this.queue.push(p.slice());
    if (!this.scheduled && this.handlers.length) {
      this.scheduled = true;
      setImmediate(() => this.deliver());
    }
  }
  deliver(): void {
    this.scheduled = false;
    const b = this.queue;
    if (this.closed || b.length === 0) return;
    this.queue = [];
    this.rxFrames += b.length;
    for (const p of b) this.rxBytes += p.length;
    for (const h of this.handlers) h(b);
  }
  on(h: Handler): void {
    this.handlers.push(h);
    if (this.queue.length && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.deliver());
    }
  }
}

export class IpSegment {
  private readonly ports = new Map<string, Receiver>();
  private readonly all = new Set<Receiver>();
  private readonly stack = new Receiver();
  /** Packets to an address nobody holds, or malformed. */
  noRoute = 0;
  /** Client packets whose source is not the client's. */
  spoofed = 0;
  /** The stack's side: an IP-only link. */
  readonly stackLink: Link & { readonly medium: 'ip' };

  constructor(name: string, mtu: number) {
    const seg = this;
    let txFrames = 0;
    let txBytes = 0;
    this.stackLink = {
      name,
      mac: new Uint8Array(6),
      mtu,
      medium: 'ip',
      send(p) {
        if (!seg.route(p, seg.stack)) return false;
        txFrames++;
        txBytes += p.length;
        return true;
      },
      sendBatch(ps) {
        let n = 0;
        for (const p of ps) if (this.send(p)) n++;
        return n;
      },
      onFrames: (h) => this.stack.on(h),
      stats: () => ({
        rxFrames: this.stack.rxFrames,
        rxBytes: this.stack.rxBytes,
        txFrames,
        txBytes,
        rxDropped: this.stack.rxDropped,
        txDropped: this.noRoute,
        txErrors: 0,
        rxSpoofed: this.spoofed,
      }),
      close: async () => {
        this.stack.closed = true;
      },
    };
  }

  /** A client's port: packets to `addresses` reach it; its packets must come from them. */
  createPort(addresses: readonly string[]): SegmentPort {
    const r = new Receiver();
    const keys = addresses.map(keyOfText);
    for (const k of keys) this.ports.set(k, r);
    this.all.add(r);
    const own = new Set(keys);
    return {
      send: (p) => {
        const src = source(p);
        // IPv6 link-local sources (fe80::/10) are the client's own too.
        const linkLocal =
          src !== undefined &&
          src[0] === '6' &&
          src.charCodeAt(1) === 0xfe &&
          (src.charCodeAt(2) & 0xc0) === 0x80;
        if (src === undefined || (!own.has(src) && !linkLocal)) {
          this.spoofed++;
          return false;
        }
        return this.route(p, r);
      },
      onFrames: (h) => r.on(h),
      close: async () => {
        r.closed = true;
        this.all.delete(r);
        for (const k of keys) if (this.ports.get(k) === r) this.ports.delete(k);
      },
    };
  }

  private route(p: Uint8Array, from: Receiver): boolean {
    const dst = destination(p);
    if (dst === undefined) {
      this.noRoute++;
      return false;
    }
    if (dst === 'multi') {
      if (from !== this.stack) this.stack.enqueue(p);
      for (const r of this.all) if (r !== from) r.enqueue(p);
      return true;
    }
    // Unicast to a client, else to the stack (its own addresses, or for it to drop).
    const to = this.ports.get(dst) ?? (from === this.stack ? undefined : this.stack);
    if (to === undefined || to === from) {
      this.noRoute++;
      return false;
    }
    to.enqueue(p);
    return true;
  }
}
