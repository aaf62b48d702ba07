/**
 * ICMP echo ("ping") sockets, v4 and v6: each has a random identifier; echo requests
 * queue (bounded) until the next poll, and echo replies with that identifier are
 * queued on the socket.
 */
import { ACCEPTED, type IpContext, type Rx } from '../iface/context.js';
import { output } from '../iface/output.js';
import { selectSource } from '../iface/route.js';
import { type Handle, type Instant, SocketError, SocketEvent } from '../registration.js';
import { type Icmpv4Repr, emitIcmpv4, icmpv4BufferLen } from '../wire/icmpv4.js';
import { type Icmpv6Repr, emitIcmpv6 } from '../wire/icmpv6.js';
import type { IpAddress, Ipv6Address } from '../wire/ip-address.js';

const ICMP_SOCKET_QUEUE = 64;

export function icmpOpen(cx: IpContext): Handle {
  const h = cx.nextHandle++;
  let ident = cx.random16();
  for (let i = 0; i < 65536 && [...cx.icmp.values()].some((s) => s.ident === ident); i++) {
    ident = (ident + 1) & 0xffff;
  }
  cx.icmp.set(h, { handle: h, ident, rx: [], tx: [], error: 0 });
  return h;
}

export function icmpSendEcho(
  cx: IpContext,
  h: Handle,
  dst: IpAddress,
  sequence: number,
  payload: Uint8Array,
): 0 | SocketError {
  const s = cx.icmp.get(h);
  if (s === undefined) return SocketError.EBADF;
  if (payload.length > 65535 - 48 - 8) return SocketError.EMSGSIZE;
  if (dst.isUnspecified()) return SocketError.EINVAL;
  if (selectSource(cx, dst) === undefined) return SocketError.EHOSTUNREACH;
  if (s.tx.length >= ICMP_SOCKET_QUEUE) return SocketError.ENOBUFS;
  s.tx.push({ dst, sequence: sequence & 0xffff, payload: payload.slice() });
  cx.txPending = true;
  return 0;
}

/** An echo reply for one of our sockets (matched by identifier). */
export function echoReplyInput(
  cx: IpContext,
  src: IpAddress,
  ident: number,
  seq: number,
  data: Uint8Array,
  ttl: number,
): Rx {
  for (const s of cx.icmp.values()) {
    if (s.ident !== ident) continue;
    if (s.rx.length >= ICMP_SOCKET_QUEUE) {
      cx.count('icmp.recvQueueFull');
      return ACCEPTED;
    }
    s.rx.push({ from: src, sequence: seq, payload: cx.copier.copy(data), ttl });
    cx.emit(s.handle, SocketEvent.Readable);
    return ACCEPTED;
  }
  return 'icmp.noSocket';
}

/** Sends the echo requests queued since the last poll. */
export function flushIcmpSockets(cx: IpContext, now: Instant): void {
  for (const s of cx.icmp.values()) {
    if (s.tx.length === 0) continue;
    const q = s.tx;
    s.tx = [];
    for (const e of q) {
      const src = selectSource(cx, e.dst);
      if (src === undefined) {
        cx.count('icmp.txNoRoute');
        continue;
      }
      let len: number;
      if (e.dst.version === 4) {
        const r: Icmpv4Repr = { kind: 'echoRequest', ident: s.ident, seq: e.sequence, data: e.payload };
        emitIcmpv4(cx.seg, 0, r);
        len = icmpv4BufferLen(r);
        output(cx, src, e.dst, 1, cx.seg.subarray(0, len), now, undefined, false, 64);
      } else {
        const r: Icmpv6Repr = { kind: 'echoRequest', ident: s.ident, seq: e.sequence, data: e.payload };
        len = emitIcmpv6(cx.seg, 0, r, src as Ipv6Address, e.dst);
        output(cx, src, e.dst, 58, cx.seg.subarray(0, len), now, undefined, false, 64);
      }
      cx.count('icmp.echoSent');
    }
  }
}
