/**
 * Segment arrival on one connection (RFC 9293 §3.10.7.3, §3.10.7.4): acceptability and
 * PAWS, RST and SYN checks (RFC 5961), the ACK field (window update, RTT sample, newly
 * acknowledged data, FIN acknowledged), segment text into the receive ring (reassembly,
 * delayed and quick ACKs) and the FIN. Loss detection on ACKs is in recovery.ts.
 *
 * Functions over the connection `tp` (the name Linux gives its tcp_sock).
 */
import { SocketError, SocketEvent } from '../registration.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from '../seq.js';
import { TcpFlags, type TcpRepr } from '../wire/tcp.js';
import { ANS_CHALLENGE_ACK, ANS_ESTABLISHED, ANS_OUTPUT, ANS_REPLY_RST } from './answers.js';
import { armTlp, checkFrto, checkSpurious, lossRecovery, takeSack } from './recovery.js';
import { SeqRangeSet } from './sack.js';
import type { TcpSocket } from './socket.js';
import {
  CLOSE_WAIT,
  CLOSED,
  CLOSING,
  ESTABLISHED,
  FIN_WAIT_1,
  FIN_WAIT_2,
  LAST_ACK,
  LISTEN,
  SYN_RECEIVED,
} from './state.js';

const { FIN, SYN, RST, ACK } = TcpFlags;

/** FIN-WAIT-2 lifetime of a closed (orphaned) socket, as Linux tcp_fin_timeout. */
const FIN_WAIT_2_TIMEOUT = 60_000;

export function inputSynSent(tp: TcpSocket, seg: TcpRepr, _data: Uint8Array, now: number): void {
  const f = seg.flags;
  // §3.10.7.3 first: check the ACK.
  if (f & ACK) {
    if (seqLe(seg.ack, tp.iss) || seqGt(seg.ack, tp.sndMax)) {
      if (!(f & RST)) tp.answers |= ANS_REPLY_RST;
      return;
    }
  }
  if (f & RST) {
    // RFC 5961 §3.2 / RFC 9293: only an RST that acknowledges our SYN refuses the connection.
    if (f & ACK) tp.fail(SocketError.ECONNREFUSED);
    return;
  }
  if (!(f & SYN)) return;
  tp.irs = seg.seq;
  tp.rcvNxt = seqAdd(seg.seq, 1);
  // Our SYN's window was relative to an unknown RCV.NXT: start the right edge afresh.
  tp.rcvAdvEnd = tp.rcvNxt;
  tp.takeSynOptions(seg, true);
  tp.sndWnd = seg.window;
  tp.maxSndWnd = seg.window;
  tp.sndWl1 = seg.seq;
  tp.lastRecvAt = now;
  if (f & ACK) {
    tp.sndWl2 = seg.ack;
    tp.sndUna = seg.ack;
    tp.rtoAt = Infinity;
    rttSample(tp, seg, now, true);
    tp.enterEstablished(now);
    tp.ackNow = true;
    tp.answers |= ANS_OUTPUT;
    tp.report(SocketEvent.Connected | SocketEvent.Writable);
    if (tp.finQueued) tp.state = FIN_WAIT_1;
  } else {
    // Simultaneous open (§3.10.7.3, figure 8): answer with SYN,ACK from the same ISS.
    tp.sndWl2 = tp.iss;
    tp.state = SYN_RECEIVED;
    tp.sndNxt = tp.iss;
    tp.answers |= ANS_OUTPUT;
  }
}

export function inputSynchronized(tp: TcpSocket, seg: TcpRepr, data: Uint8Array, now: number): void {
  const f = seg.flags;
  let len = data.length;
  let seq = seg.seq;
  let fin = (f & FIN) !== 0;
  const segLen = len + ((f & SYN) !== 0 ? 1 : 0) + (fin ? 1 : 0);
  const wnd = Math.max(0, seqDiff(tp.rcvAdvEnd, tp.rcvNxt));

  // RFC 7323 §5.3 PAWS: an old timestamp marks an old duplicate.
  if (tp.tsOk && seg.hasTimestamp && !(f & RST) && seqLt(seg.tsVal, tp.tsRecent)) {
    tp.ctx.host.count('tcp.pawsDrop');
    tp.ackNow = true;
    tp.answers |= ANS_OUTPUT;
    return;
  }

  // RFC 5961 §3.2: an RST must hit rcvNxt exactly; in-window ones get a challenge ACK.
  if (f & RST) {
    if (seq === tp.rcvNxt) onReset(tp);
    else if (seqGe(seq, tp.rcvNxt) && seqLt(seq, seqAdd(tp.rcvNxt, Math.max(wnd, 1))))
      tp.answers |= ANS_CHALLENGE_ACK;
    return;
  }

  // §3.10.7.4 first: sequence number acceptability.
  let ok: boolean;
  if (segLen === 0) {
    ok = wnd === 0 ? seq === tp.rcvNxt : seqGe(seq, tp.rcvNxt) && seqLe(seq, seqAdd(tp.rcvNxt, wnd));
  } else if (wnd === 0) {
    ok = false;
  } else {
    const last = seqAdd(seq, segLen - 1);
    ok =
      (seqGe(seq, tp.rcvNxt) && seqLt(seq, tp.rcvAdvEnd)) ||
      (seqGe(last, tp.rcvNxt) && seqLt(last, tp.rcvAdvEnd));
  }
  if (tp.state === SYN_RECEIVED && f & SYN && !(f & ACK) && seq === tp.irs) {
    // A retransmitted SYN: our SYN,ACK was lost; send it again.
    tp.sndNxt = tp.iss;
    tp.answers |= ANS_OUTPUT;
    return;
  }
  if (!ok) {
    // Only new data refused for the closed window (Linux: TCPZeroWindowDrop); an old
    // duplicate (a tail loss probe of data we hold) is counted as duplicate data below.
    if (wnd === 0 && segLen > 0 && seqGt(seqAdd(seq, segLen), tp.rcvNxt))
      tp.ctx.host.count('tcp.zeroWindowDrop');
    tp.ackNow = true;
    tp.answers |= ANS_OUTPUT;
    if (data.length > 0 && seqLt(seq, tp.rcvNxt))
      noteDuplicate(tp, seq, Math.min(data.length, seqDiff(tp.rcvNxt, seq)));
    // Still use its ACK when it is only an old duplicate (helps recovery), or when it
    // starts at RCV.NXT and only our zero window refused its data: "special allowance
    // should be made to accept valid ACKs" (§3.10.7.4). Else, when both sides' windows
    // are closed, each drops the ACKs riding on the other's probes: a deadlock.
    const zeroWindowAtNxt = wnd === 0 && seq === tp.rcvNxt;
    if (!(f & ACK) || f & SYN || !(zeroWindowAtNxt || seqLe(seqAdd(seq, segLen), tp.rcvNxt))) return;
    len = 0;
    fin = false;
    seq = tp.rcvNxt;
  }

  // RFC 5961 §4: a SYN in a synchronized state gets a challenge ACK.
  if (f & SYN) {
    tp.answers |= ANS_CHALLENGE_ACK;
    return;
  }
  if (!(f & ACK)) return;

  tp.lastRecvAt = now;
  tp.keepaliveProbes = 0;

  // RFC 7323 §4.3: remember the timestamp of the segment that covers Last.ACK.sent.
  if (tp.tsOk && seg.hasTimestamp && seqLe(seq, tp.lastAckSent) && seqGe(seg.tsVal, tp.tsRecent)) {
    tp.tsRecent = seg.tsVal;
  }

  // Trim to the window (§3.10.7.4 "segment text").
  let off = 0;
  if (len > 0) {
    if (seqLt(seq, tp.rcvNxt)) {
      const d = seqDiff(tp.rcvNxt, seq);
      noteDuplicate(tp, seq, Math.min(d, len));
      if (d >= len) {
        len = 0;
      } else {
        off = d;
        len -= d;
      }
      seq = tp.rcvNxt;
    }
    const room = seqDiff(tp.rcvAdvEnd, seq);
    const ringRoom = tp.recvRing.free - seqDiff(seq, tp.rcvNxt);
    const max = Math.max(0, Math.min(room, ringRoom));
    if (len > max) {
      len = max;
      fin = false;
    }
  }

  // Fifth: the ACK field.
  if (!processAck(tp, seg, now, data.length)) return;

  // Seventh: segment text.
  if (len > 0 && (tp.state === ESTABLISHED || tp.state === FIN_WAIT_1 || tp.state === FIN_WAIT_2)) {
    if (tp.released && tp.finQueued) {
      // Data for a socket the application closed: Linux answers with RST (RFC 9293 §3.10.4).
      tp.abortWithRst();
      return;
    }
    receiveData(tp, seq, data, off, len, now, seg.segSize);
  }

  // Eighth: FIN.
  if (fin) {
    const finSeq = seqAdd(seq, len);
    if (finSeq === tp.rcvNxt) receiveFin(tp, now);
    else if (seqGt(finSeq, tp.rcvNxt)) tp.oooFin = finSeq;
  }
}

/** Returns false when the segment must be dropped. */
function processAck(tp: TcpSocket, seg: TcpRepr, now: number, dataLen: number): boolean {
  const ack = seg.ack;
  if (tp.state === SYN_RECEIVED) {
    if (seqLe(ack, tp.sndUna) || seqGt(ack, tp.sndMax)) {
      tp.answers |= ANS_REPLY_RST;
      return false;
    }
    const l = tp.listener;
    if (l !== undefined) {
      if (l.state !== LISTEN || l.acceptQueue.length >= l.backlog) {
        tp.ctx.host.count('tcp.listenOverflow');
        return false; // accept queue full: drop the ACK
      }
      tp.answers |= ANS_ESTABLISHED;
    }
    tp.enterEstablished(now);
    tp.sndWnd = seg.window << tp.sndShift;
    tp.maxSndWnd = Math.max(tp.maxSndWnd, tp.sndWnd);
    tp.sndWl1 = seg.seq;
    tp.sndWl2 = ack;
    if (!tp.listener) tp.report(SocketEvent.Connected | SocketEvent.Writable);
    if (tp.finQueued) tp.state = FIN_WAIT_1;
  }
  // RFC 5961 §5.2: acceptable ACKs lie in [sndUna - maxSndWnd, sndMax].
  if (seqGt(ack, tp.sndMax)) {
    tp.ackNow = true;
    tp.answers |= ANS_OUTPUT;
    return false;
  }
  if (seqLt(ack, seqAdd(tp.sndUna, -Math.max(tp.maxSndWnd, 1)))) {
    tp.answers |= ANS_CHALLENGE_ACK;
    return false;
  }
  const wnd = seg.window << tp.sndShift;
  // RFC 1122 §4.2.2.17: a peer that answers zero-window probes is alive; keep probing
  // (Linux tcp_ack() clears icsk_probes_out for every ACK that is not older than SND.UNA).
  if (seqGe(ack, tp.sndUna)) tp.probesOut = 0;
  // RFC 5681 §2: a duplicate ACK carries no data, no SYN or FIN, acknowledges SND.UNA,
  // advertises the same window, and arrives while data is outstanding.
  const dup =
    ack === tp.sndUna &&
    tp.sndMax !== tp.sndUna &&
    dataLen === 0 &&
    wnd === tp.sndWnd &&
    (seg.flags & (SYN | FIN)) === 0;
  let delivered = 0;
  const advanced = seqGt(ack, tp.sndUna);
  // The cumulative ACK first, then the SACK blocks: a delivery below the highest one
  // delivered before is reordering (RFC 8985 §6.2 step 3), and within one ACK the
  // blocks lie above the acknowledged data.
  if (advanced) delivered += newAck(tp, seg, ack, now);
  if (tp.state === CLOSED) return false;
  tp.dsackSeen = false;
  if (tp.sackOk && seg.sackCount > 0) delivered += takeSack(tp, seg, now);
  // §3.10.7.4: window update when the segment is newer than the last one used.
  if (seqLt(tp.sndWl1, seg.seq) || (tp.sndWl1 === seg.seq && seqLe(tp.sndWl2, ack))) {
    const opened = wnd > tp.sndWnd;
    tp.sndWnd = wnd;
    tp.sndWl1 = seg.seq;
    tp.sndWl2 = ack;
    if (wnd > tp.maxSndWnd) tp.maxSndWnd = wnd;
    if (wnd > 0) {
      tp.persistAt = Infinity;
      tp.persistShift = 0;
    }
    if (opened) tp.answers |= ANS_OUTPUT;
  }
  checkFrto(tp);
  // With nothing left in flight the ACK still ends a recovery (cwnd = ssthresh).
  if (tp.synchronized && (tp.sb.count > 0 || tp.inRecovery || tp.inLoss))
    lossRecovery(tp, ack, now, delivered, dup, advanced);
  else if (advanced) tp.dupAcks = 0;
  return true;
}

function rttSample(tp: TcpSocket, seg: TcpRepr, now: number, synAcked: boolean): void {
  let r = -1;
  if (tp.tsOk && seg.hasTimestamp && seg.tsEcr !== 0) {
    const d = seqDiff(tp.tsNow(now), seg.tsEcr);
    if (d >= 0) r = d;
  } else if (tp.rttSeq >= 0 && seqGe(seg.ack, tp.rttSeq)) {
    r = now - tp.rttTime;
    tp.rttSeq = -1;
  }
  if (r < 0 || (synAcked && tp.retries > 0 && !tp.tsOk)) return;
  if (r < tp.minRtt) tp.minRtt = r;
  // RFC 6298 §2.
  if (tp.srtt === 0) {
    tp.srtt = Math.max(r, 0.001);
    tp.rttvar = r / 2;
  } else {
    tp.rttvar = 0.75 * tp.rttvar + 0.25 * Math.abs(tp.srtt - r);
    tp.srtt = 0.875 * tp.srtt + 0.125 * r;
  }
  // The 200 ms floor bounds the variance term, not the whole RTO, as Linux does
  // (tcp_set_rto(): SRTT + max(rto_min, 4·RTTVAR)): a floor on the whole RTO (RFC 6298
  // §2.4 with 1 s, where it cannot matter) leaves a 150 ms path with a steady RTT an RTO
  // 50 ms above its RTT, and every delayed ACK a spurious timeout.
  const c = tp.ctx.config;
  tp.rto = Math.min(c.maxRto, Math.round(tp.srtt + Math.max(c.minRto, 4 * tp.rttvar)));
}

/** New data acknowledged; returns the bytes it delivered that were not SACKed before. */
function newAck(tp: TcpSocket, seg: TcpRepr, ack: number, now: number): number {
  const flightBefore = seqDiff(tp.sndMax, tp.sndUna);
  // Data bytes acknowledged (the SYN and FIN take sequence space but not ring space).
  const dataEnd = seqAdd(tp.sndBase, tp.sendRing.length);
  const dataAcked = seqDiff(seqGt(ack, dataEnd) ? dataEnd : ack, tp.sndBase);
  if (dataAcked > 0) {
    tp.sendRing.consume(dataAcked);
    tp.sndBase = seqAdd(tp.sndBase, dataAcked);
  }
  tp.ackingSeg = seg;
  tp.ackingNow = now;
  const delivered = tp.sb.ackTo(ack, tp.onAcked);
  tp.sndUna = ack;
  if (seqLt(tp.sndNxt, ack)) tp.sndNxt = ack;
  rttSample(tp, seg, now, false);
  // Forward progress: the neighbour on the way is reachable (RFC 4861 §7.3.1, Linux's
  // sk_dst_confirm on an ACK of new data), so a path in use is not probed.
  if (now - tp.reachableAt >= 1000) {
    tp.reachableAt = now;
    tp.ctx.host.confirmReachable?.(tp.remoteAddr!, now);
  }
  checkSpurious(tp, seg, ack);
  tp.retries = 0;

  // Growth outside fast recovery (in RTO recovery this is the slow start from 1 SMSS).
  if (!tp.inRecovery && dataAcked > 0) {
    const limited = tp.cwndLimited || flightBefore >= tp.cc.cwnd - 2 * tp.smss;
    // After our GSO super-segments the peer ACKs many segments at once (as after GRO):
    // count such a stretch ACK as the ACKs of every second segment it stands for, so
    // slow start's per-ACK limit (RFC 3465 L = 2 SMSS) does not stall the window.
    const step = tp.sentGso ? 2 * tp.smss : dataAcked;
    for (let left = dataAcked; left > 0; left -= step)
      tp.cc.onAck(Math.min(left, step), tp.smss, now, tp.srtt, limited);
  }

  // Our FIN acknowledged?
  const finAcked = tp.finQueued && seqGt(ack, dataEnd);
  if (finAcked) {
    if (tp.state === FIN_WAIT_1) {
      tp.state = FIN_WAIT_2;
      if (tp.released) tp.closeAt = now + FIN_WAIT_2_TIMEOUT;
    } else if (tp.state === CLOSING) {
      tp.enterTimeWait(now);
    } else if (tp.state === LAST_ACK) {
      tp.toClosed();
      return delivered;
    }
  }

  // RFC 6298 §5.2 / §5.3.
  tp.rtoAt = tp.sndUna === tp.sndMax ? Infinity : now + tp.rto;
  armTlp(tp, now);
  if (tp.sb.count === 0) tp.reoAt = Infinity;
  // Send buffer autotuning (sendBufferMax; Linux's tcp_sndbuf_expand): a writer held back by
  // a full buffer while the window allows more than half of it gets twice the window.
  if (tp.sendWasFull && tp.opts.sendBufferMax > tp.sendRing.capacity) {
    const want = Math.min(2 * Math.min(tp.cc.cwnd, tp.sndWnd), tp.opts.sendBufferMax);
    if (want > tp.sendRing.capacity) {
      tp.sendRing.grow(want);
      tp.ctx.host.count('tcp.sndBufGrown');
    }
  }
  if (tp.sendWasFull && tp.sendRing.free >= tp.sendRing.capacity >>> 1) {
    tp.sendWasFull = false;
    tp.report(SocketEvent.Writable);
  }
  if (tp.sendRing.length === 0) tp.armIdleRelease(now);
  tp.answers |= ANS_OUTPUT;
  return delivered;
}

function noteDuplicate(tp: TcpSocket, seq: number, len: number): void {
  if (!tp.sackOk || len <= 0) return;
  tp.dsackStart = seq;
  tp.dsackLen = len;
  tp.ackNow = true;
  tp.answers |= ANS_OUTPUT;
  tp.ctx.host.count('tcp.duplicateData');
}

function receiveData(
  tp: TcpSocket,
  seq: number,
  data: Uint8Array,
  off: number,
  len: number,
  now: number,
  /** > 0: the segment is coalesced parts of this size (GRO); learn and count by the parts. */
  segSize: number,
): void {
  const ring = tp.recvRing;
  // The estimate of the peer's segment size (RFC 9293 §3.8.6.2.2, RFC 5681 §4.2 "full-sized"):
  // a segment longer than our MSS is a GSO/GRO super-segment of many, not one big one.
  const part = segSize > 0 ? segSize : len;
  if (part > tp.rcvMss && part <= tp.ourMss()) tp.rcvMss = part;
  if (seq === tp.rcvNxt) {
    // An empty queue can start anywhere: where the copy out of the frame is word-aligned.
    if (ring.length === 0 && !(tp.ooo && tp.ooo.count > 0)) ring.alignTo(data.byteOffset + off);
    ring.writeAt(ring.length, data, off, len);
    ring.commit(len);
    tp.rcvNxt = seqAdd(tp.rcvNxt, len);
    let filled = false;
    const ooo = tp.ooo;
    if (ooo && ooo.count > 0) {
      ooo.trimBelow(tp.rcvNxt);
      if (ooo.count > 0 && ooo.r[0] === tp.rcvNxt) {
        const end = ooo.r[1]!;
        const n = seqDiff(end, tp.rcvNxt);
        ring.commit(n);
        tp.rcvNxt = end;
        ooo.trimBelow(end);
      }
      filled = true;
    }
    if (tp.oooFin >= 0 && tp.oooFin === tp.rcvNxt) {
      tp.oooFin = -1;
      receiveFin(tp, now);
    }
    tp.unackedBytes += len;
    if (filled) enterQuickAck(tp);
    else if (tp.quickAcks > 0) {
      // One quick ACK per part, as if coalesced parts had come one by one.
      tp.quickAcks = Math.max(0, tp.quickAcks - (segSize > 0 ? Math.ceil(len / segSize) : 1));
      tp.ackNow = true;
    }
    if (filled || tp.ackNow || tp.unackedBytes >= 2 * tp.rcvMss) {
      tp.ackNow = true;
      tp.answers |= ANS_OUTPUT;
    } else if (tp.delackAt === Infinity) {
      tp.delackAt = now + tp.ctx.config.delayedAckTimeout;
    }
    tp.report(SocketEvent.Readable);
  } else {
    // Out of order (RFC 9293 §3.10.7.4, RFC 5681 §4.2): keep it, ACK at once with SACK.
    ring.writeAt(ring.length + seqDiff(seq, tp.rcvNxt), data, off, len);
    if (!tp.ooo) tp.ooo = new SeqRangeSet();
    if (!tp.ooo.add(seq, seqAdd(seq, len))) noteDuplicate(tp, seq, len);
    enterQuickAck(tp);
    tp.ackNow = true;
    tp.answers |= ANS_OUTPUT;
  }
}

/** Linux tcp_enter_quickack_mode(): up to 16 immediate ACKs, at most half a window's segments. */
function enterQuickAck(tp: TcpSocket): void {
  tp.quickAcks = Math.max(2, Math.min(16, Math.floor(tp.recvRing.capacity / (2 * tp.rcvMss))));
}

function receiveFin(tp: TcpSocket, now: number): void {
  if (tp.finReceived) return;
  tp.finReceived = true;
  tp.rcvNxt = seqAdd(tp.rcvNxt, 1);
  tp.ackNow = true;
  tp.answers |= ANS_OUTPUT;
  switch (tp.state) {
    case SYN_RECEIVED:
    case ESTABLISHED:
      tp.state = CLOSE_WAIT;
      break;
    case FIN_WAIT_1:
      tp.state = CLOSING;
      break;
    case FIN_WAIT_2:
      tp.enterTimeWait(now);
      break;
  }
  tp.report(SocketEvent.Readable | SocketEvent.PeerClosed);
}

function onReset(tp: TcpSocket): void {
  // RFC 9293 §3.10.7.4 second: a passive child just disappears; others report the reset.
  switch (tp.state) {
    case SYN_RECEIVED:
      if (tp.listener) tp.toClosed();
      else tp.fail(SocketError.ECONNREFUSED);
      break;
    case ESTABLISHED:
    case FIN_WAIT_1:
    case FIN_WAIT_2:
    case CLOSE_WAIT:
      tp.fail(SocketError.ECONNRESET);
      break;
    default:
      tp.toClosed();
  }
}
