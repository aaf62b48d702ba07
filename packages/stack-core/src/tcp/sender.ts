/**
 * What one connection sends when the layer polls it (smoltcp's dispatch): the SYN or
 * SYN,ACK, retransmissions of segments marked lost, new data within the peer's window
 * and the congestion window (Nagle, sender SWS avoidance, GSO bursts), the FIN, ACKs,
 * the RST of an abort, and probes.
 *
 * Functions over the connection `tp` (the name Linux gives its tcp_sock).
 */
import { seqAdd, seqDiff, seqGt, seqLt } from '../seq.js';
import { TCP_HEADER_LEN, TcpFlags } from '../wire/tcp.js';
import { emitSegment } from './emit.js';
import { armTlp } from './recovery.js';
import { SB_EVER_RETRANS, SB_FIN, SB_RETRANS } from './scoreboard.js';
import type { TcpSocket } from './socket.js';
import { CLOSED, FIN_WAIT_2, LISTEN, SYN_RECEIVED, SYN_SENT, TIME_WAIT } from './state.js';

const { FIN, SYN, RST, PSH, ACK } = TcpFlags;

/** Sends whatever is due: SYN, data, retransmissions, FIN, ACK, RST. */
export function dispatch(tp: TcpSocket, now: number): void {
  if (tp.rstPending) {
    tp.rstPending = false;
    emitSegment(tp, now, tp.sndMax, RST | ACK, 0);
    return;
  }
  const st = tp.state;
  if (st === CLOSED || st === LISTEN) return;
  if ((st === SYN_SENT || st === SYN_RECEIVED) && tp.sndNxt === tp.iss) {
    // RFC 6298 §2 / Karn: the handshake's first SYN (or SYN,ACK) times an RTT sample.
    if (tp.sndMax === tp.iss) {
      tp.rttSeq = seqAdd(tp.iss, 1);
      tp.rttTime = now;
    } else {
      tp.rttSeq = -1;
    }
    emitSegment(tp, now, tp.iss, st === SYN_SENT ? SYN : SYN | ACK, 0);
    tp.sndNxt = seqAdd(tp.iss, 1);
    if (seqGt(tp.sndNxt, tp.sndMax)) tp.sndMax = tp.sndNxt;
    if (tp.rtoAt === Infinity) tp.rtoAt = now + tp.rto;
    return;
  }
  if (st === SYN_SENT || st === SYN_RECEIVED) return;
  if (st !== TIME_WAIT && st !== FIN_WAIT_2) sendData(tp, now);
  if (tp.ackNow) emitSegment(tp, now, ackSeq(tp), ACK, 0);
}

export function sendProbe(tp: TcpSocket, now: number): void {
  emitSegment(tp, now, seqAdd(tp.sndUna, -1), ACK, 0);
}

/**
 * Data and FIN: segments marked lost go first, in sequence order (RFC 6675 §4 NextSeg
 * rule 1), then new data. A lost segment that cannot go (cwnd, or the window: it starts
 * below any new data) holds back everything above it.
 */
function sendData(tp: TcpSocket, now: number): void {
  if (tp.sb.pendingLost > 0 && !sendRetransmissions(tp, now)) return;
  sendNewData(tp, now);
}

/** Resends the segments marked lost as cwnd and the window allow; false when one could not go. */
function sendRetransmissions(tp: TcpSocket, now: number): boolean {
  const sb = tp.sb;
  for (let guard = 0; guard < 100000 && sb.pendingLost > 0; guard++) {
    const i = sb.nextLost();
    if (i < 0) break;
    if (!retransmitLost(tp, now, i, tp.pipe(), seqAdd(tp.sndUna, tp.sndWnd))) return false;
  }
  return true;
}

/** New data (and the FIN) at SND.MAX, as the windows, Nagle and sender SWS avoidance allow. */
function sendNewData(tp: TcpSocket, now: number): void {
  const ring = tp.sendRing;
  const smss = tp.smss;
  const cc = tp.cc;
  const sb = tp.sb;
  for (let guard = 0; guard < 100000; guard++) {
    const una = tp.sndUna;
    const dataEnd = seqAdd(tp.sndBase, ring.length);
    const wndEnd = seqAdd(una, tp.sndWnd);
    const pipe = tp.pipe();
    const seq = tp.sndMax;
    const avail = Math.max(0, seqDiff(dataEnd, seq));
    const wndRoom = seqDiff(wndEnd, seq);
    const cwndRoom = Math.floor(cc.cwnd - pipe);
    // New data may go as one GSO super-segment of whole segments (emitSegment).
    const most = tp.inRecovery ? smss : gsoBurst(tp, smss);
    let len = Math.min(avail, most, Math.max(wndRoom, 0), Math.max(cwndRoom, 0));
    if (len > smss && len < avail) len -= len % smss;
    const finSent = tp.finQueued && seqGt(tp.sndMax, dataEnd);
    const finPossible = tp.finQueued && !finSent && seqAdd(seq, len) === dataEnd;
    if (len <= 0 && !finPossible) {
      if (avail > 0) {
        if (wndRoom <= 0) {
          // RFC 9293 §3.8.6.1: zero window with nothing in flight starts the persist timer.
          if (una === tp.sndMax && tp.persistAt === Infinity) {
            tp.persistAt = now + tp.rto;
          }
          tp.cwndLimited = false;
        } else {
          tp.cwndLimited = true;
        }
      } else {
        tp.cwndLimited = false;
      }
      return;
    }
    if (len < smss && len < avail) {
      // Limited by window or cwnd: sender SWS avoidance (RFC 9293 §3.8.6.2.1).
      if (cwndRoom < smss && cwndRoom <= wndRoom) {
        tp.cwndLimited = true;
        return;
      }
      if (len < tp.maxSndWnd / 2 && una !== tp.sndMax) return;
    }
    if (len === avail && len < smss && !finPossible) {
      // Nagle (RFC 896, RFC 9293 §3.7.4): hold a small segment while data is unacknowledged.
      if (!tp.noDelay && una !== tp.sndMax) return;
    }
    let fin = finPossible;
    let flags = ACK;
    if (fin) flags |= FIN;
    if (len > 0 && seqAdd(seq, len) === dataEnd) flags |= PSH;
    const took = emitSegment(tp, now, seq, flags, len);
    if (took < len) {
      len = took;
      fin = false;
    }
    if (tp.rttSeq < 0 && !tp.tsOk && len > 0) {
      tp.rttSeq = seqAdd(seq, len);
      tp.rttTime = now;
    }
    const end = seqAdd(seq, len + (fin ? 1 : 0));
    if (end === seq) return;
    // One scoreboard entry per wire segment of a GSO super-segment, so SACKs and RACK
    // see the segments the peer sees.
    let at = seq;
    while (seqDiff(end, at) > smss + (fin ? 1 : 0)) {
      sb.push(at, seqAdd(at, smss), now, false);
      at = seqAdd(at, smss);
    }
    sb.push(at, end, now, fin);
    tp.sndMax = end;
    tp.sndNxt = end;
    if (tp.inRecovery) tp.prr.out += len + (fin ? 1 : 0);
    // RFC 6298 §5.1: start the timer if it is not running.
    if (tp.rtoAt === Infinity) tp.rtoAt = now + tp.rto;
    armTlp(tp, now);
    tp.persistAt = Infinity;
    if (fin) return;
  }
}

/**
 * Resends scoreboard entry i (marked lost), as the window allows: at most one SMSS,
 * never a byte past SND.MAX (the entry holds only what was sent) and never past the
 * peer's window. Returns false when it cannot go now.
 */
function retransmitLost(tp: TcpSocket, now: number, i: number, pipe: number, wndEnd: number): boolean {
  const sb = tp.sb;
  const s = sb.startAt(i);
  const f = sb.flagsAt(i);
  let fin = (f & SB_FIN) !== 0;
  const dataLen = sb.lenAt(i) - (fin ? 1 : 0);
  const room = tp.cc.cwnd - pipe;
  if (room < Math.min(tp.smss, Math.max(dataLen, 1))) {
    tp.cwndLimited = true;
    return false;
  }
  const wndRoom = seqDiff(wndEnd, s);
  let len = Math.min(dataLen, tp.smss, Math.max(wndRoom, 0));
  if (len < dataLen) fin = false;
  if (len <= 0 && !fin) return false;
  if (len < dataLen) sb.split(i, seqAdd(s, len));
  const took = emitSegment(tp, now, s, ACK | (fin ? FIN : 0), len);
  if (took < len) {
    sb.split(i, seqAdd(s, took));
    fin = false;
    len = took;
    if (took === 0) return false;
  }
  sb.setTs(i, now);
  sb.setFlags(i, sb.flagsAt(i) | SB_RETRANS | SB_EVER_RETRANS);
  tp.retransmits++;
  tp.ctx.host.count('tcp.retransmits');
  if (tp.inRecovery) tp.prr.out += len + (fin ? 1 : 0);
  if (tp.rtoAt === Infinity) tp.rtoAt = now + tp.rto;
  return true;
}

/**
 * RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: a timeout with the window closed resends the
 * head (at most one SMSS) as a probe: the update that reopened the window may have been
 * lost, and the answer carries the window. The probe lies outside the window, so SND.NXT
 * stays at SND.UNA: the ACKs we send meanwhile keep a SEQ the peer accepts, and once the
 * window opens sending resumes at SND.UNA (the probe's data was most likely dropped).
 */
export function zeroWindowProbe(tp: TcpSocket, now: number): void {
  // Only bytes that were sent: the data in flight, never past SND.MAX.
  const dataEnd = seqAdd(tp.sndBase, tp.sendRing.length);
  const sent = seqDiff(seqLt(tp.sndMax, dataEnd) ? tp.sndMax : dataEnd, tp.sndUna);
  if (sent <= 0) return; // only the FIN is outstanding: sendData resends it
  emitSegment(tp, now, tp.sndUna, ACK, Math.min(sent, tp.smss));
  tp.ctx.host.count('tcp.zeroWindowProbes');
}

/**
 * SEG.SEQ of a segment without data: SND.NXT, but never beyond the right edge of the
 * peer's window (Linux tcp_acceptable_seq()). After the window shrank under data in
 * flight, SND.NXT lies outside it and a strict peer (RFC 9293 §3.10.7.4) would drop the
 * ACK, window update and all.
 */
function ackSeq(tp: TcpSocket): number {
  if (!tp.synchronized) return tp.sndNxt;
  const wndEnd = seqAdd(tp.sndUna, tp.sndWnd);
  return seqGt(tp.sndNxt, wndEnd) ? wndEnd : tp.sndNxt;
}

/**
 * How much new data one emitSegment may take: smss, or as many whole smss-segments as
 * fit a GSO super-segment when the route's interface offloads segmentation.
 */
function gsoBurst(tp: TcpSocket, smss: number): number {
  const g = tp.gsoMax;
  if (g <= 0) return smss;
  const fit = g - (tp.remoteAddr!.version === 4 ? 20 : 40) - TCP_HEADER_LEN - 40;
  return fit > smss ? fit - (fit % smss) : smss;
}
