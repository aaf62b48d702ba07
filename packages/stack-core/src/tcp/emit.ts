/**
 * Builds one segment of a connection — header, options (timestamps, SACK blocks, the
 * SYN's MSS, window scale and SACK-permitted), the receive window — and hands it to IP,
 * written straight into the interface's transmit buffer when the host offers one.
 *
 * Functions over the connection `tp` (the name Linux gives its tcp_sock).
 */
import { seqAdd, seqDiff, seqGt } from '../seq.js';
import { fillTcpChecksum, TCP_HEADER_LEN, TCP_PROTOCOL, TcpFlags, type TcpRepr } from '../wire/tcp.js';
import type { SeqRangeSet } from './sack.js';
import type { TcpSocket } from './socket.js';

const { FIN, SYN, RST, PSH, ACK } = TcpFlags;

/** Builds one segment (in IP's transmit buffer, or the layer's scratch), checksums it and hands it to IP. */
/**
 * Returns the payload bytes actually sent: fewer than `len` when SACK blocks leave less
 * room (RFC 9293 §3.7.1), and then without FIN.
 */
export function emitSegment(tp: TcpSocket, now: number, seq: number, flags: number, len: number): number {
  const ctx = tp.ctx;
  const r = ctx.txRepr;
  const syn = (flags & SYN) !== 0;
  r.srcPort = tp.localPort;
  r.dstPort = tp.remotePort;
  r.seq = seq;
  r.flags = flags;
  r.ack = flags & ACK ? tp.rcvNxt : 0;
  r.urgent = 0;
  r.checksum = 0;
  r.clearOptions();
  if (flags & RST) {
    r.window = 0;
  } else {
    r.window = windowField(tp, syn);
    if (syn) {
      r.mss = tp.ourMss();
      // On SYN,ACK offer only what the peer offered (RFC 7323 §1.3, RFC 2018 §2).
      const passive = (flags & ACK) !== 0 && tp.listener !== undefined;
      if (!passive || tp.wsOk) r.wscale = tp.rcvShift;
      r.sackPermitted = !passive || tp.sackOk;
      if (!passive || tp.tsOk) {
        r.hasTimestamp = true;
        r.tsVal = tp.tsNow(now);
        r.tsEcr = flags & ACK ? tp.tsRecent : 0;
      }
    } else {
      if (tp.tsOk) {
        r.hasTimestamp = true;
        r.tsVal = tp.tsNow(now);
        r.tsEcr = tp.tsRecent;
      }
      const ooo = tp.ooo;
      if (tp.sackOk && ((ooo && ooo.count > 0) || tp.dsackLen > 0)) fillSackBlocks(tp, r, ooo);
    }
  }
  const hlen = r.emittedHeaderLength();
  const maxPayload = Math.min(tp.peerMss + TCP_HEADER_LEN, tp.pathMax) - hlen;
  let gso = 0;
  if (len > maxPayload) {
    // More than one segment: a GSO super-segment of whole maxPayload-byte segments when
    // the route's interface cuts them (the header, options included, repeats on each).
    let room = maxPayload;
    if (maxPayload > 0 && tp.gsoMax > 0) {
      const g = tp.gsoMax;
      const ipHdr = tp.remoteAddr!.version === 4 ? 20 : 40;
      const fit = g - ipHdr - hlen;
      if (fit > maxPayload) room = fit - (fit % maxPayload);
    }
    if (len > room) {
      len = Math.max(0, room);
      r.flags = flags & ~(FIN | PSH);
    }
    if (len > maxPayload) {
      gso = maxPayload;
      tp.sentGso = true;
    }
  }
  // The segment is written straight into IP's transmit buffer when the host offers it
  // (one route lookup, no copy); else into the layer's scratch for sendIp to copy.
  const host = ctx.host;
  const src = tp.localAddr!;
  const dst = tp.remoteAddr!;
  const slot = host.reserve?.(src, dst, TCP_PROTOCOL, hlen + len, now, gso);
  const seg = slot !== undefined ? slot.segment : ctx.scratch.subarray(0, hlen + len);
  r.emit(seg, 0);
  if (len > 0) tp.sendRing.peek(seqDiff(seq, tp.sndBase), seg, hlen, len);
  if (slot !== undefined ? !slot.checksumOffload : host.checksumOffload?.(dst) !== true)
    fillTcpChecksum(src, dst, seg);
  if (flags & ACK) {
    tp.lastAckSent = tp.rcvNxt;
    tp.ackNow = false;
    tp.delackAt = Infinity;
    tp.unackedBytes = 0;
  }
  if (slot !== undefined) host.sendReserved!(now);
  else host.sendIp(src, dst, TCP_PROTOCOL, seg, now, gso);
  ctx.host.count('tcp.segmentsSent');
  return len;
}

/**
 * RFC 2018 §4: the block holding the newest segment first, then the blocks reported
 * first most recently (each block thus repeats in up to 3–4 ACKs, so losing some of them
 * loses no SACK information), then any others in sequence order. Linux does the same.
 */
function fillSackBlocks(tp: TcpSocket, r: TcpRepr, ooo: SeqRangeSet | undefined): void {
  const max = tp.tsOk ? 3 : 4;
  let n = 0;
  if (tp.dsackLen > 0) {
    // RFC 2883 §4: the duplicate range goes first; it is reported once.
    r.sack[0] = tp.dsackStart;
    r.sack[1] = seqAdd(tp.dsackStart, tp.dsackLen);
    n = 1;
    tp.dsackLen = 0;
  }
  if (ooo === undefined || ooo.count === 0) {
    r.sackCount = n;
    return;
  }
  const base = n;
  const rr = ooo.r;
  const rec = ooo.recent;
  for (let k = 0; k < rec.length && n < max; k++) {
    const i = ooo.indexOf(rec[k]!);
    if (i >= 0 && !hasBlock(r, base, n, rr[i]!)) n = putBlock(r, n, rr[i]!, rr[i + 1]!);
  }
  for (let i = 0; i < rr.length && n < max; i += 2) {
    if (!hasBlock(r, base, n, rr[i]!)) n = putBlock(r, n, rr[i]!, rr[i + 1]!);
  }
  r.sackCount = n;
}

function hasBlock(r: TcpRepr, from: number, to: number, start: number): boolean {
  for (let k = from; k < to; k++) if (r.sack[2 * k] === start) return true;
  return false;
}

function putBlock(r: TcpRepr, n: number, start: number, end: number): number {
  r.sack[n * 2] = start;
  r.sack[n * 2 + 1] = end;
  return n + 1;
}

/** The window field for the next segment, updating rcvAdvEnd (RFC 9293 §3.8.6.2.2 receiver SWS avoidance). */
// Window arithmetic uses shifts, not `2 ** shift`: both scales are at most MAX_WSCALE
// (14), so 65535 << 14 stays a positive int32, and Math.pow (a float call) on every
// segment was the hottest TCP function at MTU 1500 (+20% end to end without it).
function windowField(tp: TcpSocket, syn: boolean): number {
  const free = tp.recvRing.free;
  if (syn) {
    const w = Math.min(free, 65535);
    tp.rcvAdvEnd = seqAdd(tp.rcvNxt, w);
    return w;
  }
  const max = 65535 << tp.rcvShift;
  let edge = seqAdd(tp.rcvNxt, Math.min(free, max));
  const grow = seqDiff(edge, tp.rcvAdvEnd);
  // Move the right edge only by a useful amount: a closed window stays closed until
  // min(buffer/2, MSS) is free, so the peer is never offered tiny windows.
  if (grow < Math.min(tp.recvRing.capacity >>> 1, tp.rcvMss)) {
    edge = seqGt(tp.rcvAdvEnd, tp.rcvNxt) ? tp.rcvAdvEnd : tp.rcvNxt;
  }
  const field = Math.min(seqDiff(edge, tp.rcvNxt) >>> tp.rcvShift, 65535);
  const adv = seqAdd(tp.rcvNxt, field << tp.rcvShift);
  if (seqGt(adv, tp.rcvAdvEnd)) tp.rcvAdvEnd = adv;
  return field;
}
