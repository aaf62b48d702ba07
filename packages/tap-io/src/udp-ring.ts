/**
 * The receive ring of the addon's UDP sockets (VxlanLink's native path and
 * BatchUdpSocket): a frame ring (frame-ring LAYOUT.md) in a plain ArrayBuffer that the
 * addon fills with recvmmsg(2) — from a poll callback on the event loop or a reader
 * thread — and JS reads in place with frame-ring's own drain and RingPump. Each record is
 * META_BYTES of sender (tap.cc kVxMeta) followed by the datagram:
 *   +0 family (4 or 6), +1 flags (bit 0: truncated), +2 u16 port (host order),
 *   +4 u32 IPv6 scope id, +8 16 address bytes, +24 the datagram.
 */
import { FrameRing, MAX_CAPACITY, minCapacity, RingPump, type RingPumpOptions } from '@tapstack/frame-ring';
import { ipv4String, ipv6String } from './decode.js';
import { LinkError } from './link.js';

/** Bytes of sender information in front of each datagram (tap.cc kVxMeta). */
export const META_BYTES = 24;
/** The ring's maxFrameSize: a longer datagram arrives truncated (flag bit 0). */
export const UDP_RING_MAX_RECORD = 65536;

/**
 * A plain ArrayBuffer, not a SharedArrayBuffer: only this thread reads it, and V8 copies
 * out of shared memory byte by byte unless source and destination share their alignment
 * mod 8 (a TCP payload inside a frame does not), which cost the daemon ~8% more CPU per
 * MiB than dgram's Buffers. Its backing store does not move, so the addon's thread may
 * write it. Throws LinkError EINVAL for a bad size (`where` names the caller).
 */
export function createUdpRing(ringBytes: number, where: string): FrameRing<ArrayBuffer> {
  const cap = ringBytes;
  if (
    !(
      Number.isInteger(cap) &&
      (cap & (cap - 1)) === 0 &&
      cap >= minCapacity(UDP_RING_MAX_RECORD) &&
      cap <= MAX_CAPACITY
    )
  )
    throw new LinkError(
      `${where}: ringBytes ${cap} must be a power of two from ${minCapacity(UDP_RING_MAX_RECORD)} to ${MAX_CAPACITY}`,
      'EINVAL',
    );
  return FrameRing.createLocal({ capacity: cap, maxFrameSize: UDP_RING_MAX_RECORD });
}

/**
 * RingPump options for a ring a native reader fills and calls back on (TAP/TUN, the UDP
 * sockets): drains of 512 frames, 64 per turn — about a whole 4 MiB ring of small frames
 * before the pump lets the event loop run. With 16 drains of 256 per turn, TapLink's
 * onFrames consumer fell behind a blaster in the full test suite (the ring overflowed, 3,922
 * frames dropped); these are the sizes the loops RingPump replaced used.
 */
export const NATIVE_RX_PUMP: RingPumpOptions = { batch: 512, turnBatches: 64, nextTurn: setImmediate };

/** The pump of a UDP ring: called back by the addon's wake. */
export function udpRingPump(ring: FrameRing<ArrayBuffer>, drain: (max: number) => number): RingPump {
  return new RingPump(ring, drain, NATIVE_RX_PUMP);
}

/** True when the record's datagram was longer than a ring record and is cut short. */
export function truncated(u8: Uint8Array, off: number): boolean {
  return (u8[off + 1]! & 1) !== 0;
}

/**
 * The sender of a record, as node:dgram's rinfo.address and port. Most datagrams come from
 * the sender before them, so the 24 bytes are compared with the last ones and the strings
 * made only when they change.
 */
export class UdpSender {
  address = '';
  port = 0;
  readonly #last = new Int32Array(6).fill(-1);
  readonly #i32: Int32Array;

  constructor(ring: FrameRing<ArrayBuffer>) {
    this.#i32 = new Int32Array(ring.buffer);
  }

  /** Reads the sender of the record whose payload starts at byte `off` of the ring. */
  read(u8: Uint8Array, off: number): void {
    // family/flags/port word (flags masked out), scope id, 16 address bytes
    const i32 = this.#i32;
    const wi = off >> 2;
    const last = this.#last;
    let same = true;
    for (let k = 0; k < 6; k++) {
      const v = k === 0 ? i32[wi]! & ~0xff00 : i32[wi + k]!;
      if (last[k] !== v) {
        same = false;
        last[k] = v;
      }
    }
    if (same) return;
    this.port = u8[off + 2]! | (u8[off + 3]! << 8);
    this.address = senderAddress(u8, off);
  }
}

function senderAddress(u8: Uint8Array, off: number): string {
  const a = off + 8;
  if (u8[off] === 4) return ipv4String(u8, a);
  let mapped = u8[a + 10] === 0xff && u8[a + 11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) if (u8[a + i] !== 0) mapped = false;
  if (mapped) return `::ffff:${ipv4String(u8, a + 12)}`;
  const s = ipv6String(u8, a);
  const scope = u8[off + 4]! | (u8[off + 5]! << 8) | (u8[off + 6]! << 16) | (u8[off + 7]! << 24);
  return scope !== 0 ? `${s}%${scope >>> 0}` : s;
}
