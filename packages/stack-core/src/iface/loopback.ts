/**
 * The loopback interface: packets to 127/8, ::1 or one of our own addresses are
 * queued (bounded) and handed back up on the next poll, as if received.
 */
import type { Instant } from '../registration.js';
import type { IpAddress, Ipv4Address, Ipv6Address } from '../wire/ip-address.js';
import { IPV4_HEADER_LEN, emitIpv4Header } from '../wire/ipv4.js';
import { IPV6_HEADER_LEN, emitIpv6Header } from '../wire/ipv6.js';
import type { IpContext, Rx } from './context.js';

const LOOPBACK_QUEUE_MAX = 1024;

export function loopbackOutput(
  cx: IpContext,
  src: IpAddress,
  dst: IpAddress,
  protocol: number,
  payload: Uint8Array,
): boolean {
  if (cx.loopQueue.length >= LOOPBACK_QUEUE_MAX) {
    cx.count('loopback.queueFull');
    return false;
  }
  let pkt: Uint8Array;
  if (dst.version === 4) {
    if (payload.length > 65535 - IPV4_HEADER_LEN) return false;
    pkt = new Uint8Array(IPV4_HEADER_LEN + payload.length);
    emitIpv4Header(
      pkt,
      0,
      (src as Ipv4Address).value,
      dst.value,
      protocol,
      payload.length,
      64,
      cx.ipIdent,
      0,
    );
    cx.ipIdent = (cx.ipIdent + 1) & 0xffff;
    pkt.set(payload, IPV4_HEADER_LEN);
  } else {
    if (payload.length > 65535) return false;
    pkt = new Uint8Array(IPV6_HEADER_LEN + payload.length);
    emitIpv6Header(pkt, 0, src as Ipv6Address, dst as Ipv6Address, protocol, payload.length, 64);
    pkt.set(payload, IPV6_HEADER_LEN);
  }
  cx.loopQueue.push(pkt);
  cx.count('loopback.txPackets');
  return true;
}

/** Delivers the queued packets; each ends in one drop or accept like a received frame. */
export function drainLoopback(cx: IpContext, now: Instant): void {
  if (cx.loopQueue.length === 0) return;
  const q = cx.loopQueue;
  cx.loopQueue = [];
  for (const pkt of q) {
    cx.count('loopback.rxPackets');
    let o: Rx | undefined;
    try {
      o = pkt[0]! >> 4 === 4 ? cx.ipv4Input(cx, undefined, pkt, now) : cx.ipv6Input(cx, undefined, pkt, now);
    } catch {
      cx.count('stack.internalError');
    }
    cx.finishRx(o);
  }
}
