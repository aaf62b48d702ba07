/**
 * Loss detection and recovery on one connection's scoreboard: SACK marking (RFC 2018,
 * D-SACK RFC 2883), RACK (RFC 8985 §6) and the tail loss probe (§7), NewReno's
 * duplicate and partial ACKs without SACK (RFC 6582), the sending rate in recovery (PRR,
 * RFC 6937), and undoing a spurious response (RFC 3522, RFC 4015, F-RTO RFC 5682). The
 * RTO itself is in timers.ts.
 *
 * Functions over the connection `tp` (the name Linux gives its tcp_sock).
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from '../seq.js';
import { TcpFlags, type TcpRepr } from '../wire/tcp.js';
import { ANS_OUTPUT } from './answers.js';
import { emitSegment } from './emit.js';
import { SB_EVER_RETRANS, SB_FIN, SB_LOST, SB_RETRANS, SB_SACKED } from './scoreboard.js';
import type { TcpSocket } from './socket.js';
import { ESTABLISHED } from './state.js';

const { FIN, ACK } = TcpFlags;

/** RFC 6675 DupThresh. */
const DUP_THRESH = 3;
/** RFC 8985 §6.2 step 4: recoveries before a widened reordering window shrinks back. */
const REO_WND_PERSIST = 16;
/** RFC 8985 §6.2 step 4: the largest reordering window multiplier (the window stays <= SRTT). */
const MAX_REO_WND_MULT = 16;

/**
 * Marks SACKed segments (RFC 2018 §4, RFC 6675 §3) and returns the bytes newly SACKed.
 * A first block below SND.UNA or inside the second is a D-SACK (RFC 2883 §4): it marks
 * nothing and widens the reordering window (RFC 8985 §6.2 step 4).
 */
export function takeSack(tp: TcpSocket, seg: TcpRepr, now: number): number {
  const sb = tp.sb;
  let n = 0;
  for (let k = 0; k < seg.sackCount; k++) {
    const s = seg.sack[k * 2]!;
    const e = seg.sack[k * 2 + 1]!;
    if (seqGe(s, e)) continue;
    if (
      k === 0 &&
      (seqLe(e, tp.sndUna) || (seg.sackCount > 1 && seqGe(s, seg.sack[2]!) && seqLe(e, seg.sack[3]!)))
    ) {
      tp.dsackSeen = true;
      tp.dsackRcvStart = s;
      tp.dsackRcvEnd = e;
      tp.ctx.host.count('tcp.dsacksReceived');
      continue;
    }
    // RFC 2018 §4: ignore blocks outside (SND.UNA, SND.MAX].
    if (seqLe(e, tp.sndUna) || seqGt(e, tp.sndMax)) continue;
    // Whole segments only: a peer cannot split the scoreboard into fragments.
    let i = sb.find(seqMax(s, tp.sndUna));
    if (i < 0) continue;
    if (seqLt(sb.startAt(i), s)) i++;
    for (; i < sb.count && seqLe(sb.endAt(i), e); i++) {
      const f = sb.flagsAt(i);
      if (f & SB_SACKED) continue;
      n += sb.lenAt(i);
      rackDelivered(tp, i, seg, now);
      sb.setFlags(i, f | SB_SACKED);
    }
  }
  if (tp.dsackSeen && (tp.rack.dsackRound < 0 || seqGe(tp.sndUna, tp.rack.dsackRound))) {
    // RFC 8985 §6.2 step 4: at most one increase per round trip; kept for 16 recoveries.
    if (tp.rack.reoWndMult < MAX_REO_WND_MULT) tp.rack.reoWndMult++;
    tp.rack.reoWndPersist = REO_WND_PERSIST;
    tp.rack.dsackRound = tp.sndMax;
  }
  return n;
}

/** RFC 8985 §6.2 RACK_sent_after(): was (t1, seq1) sent after (t2, seq2)? */
function sentAfter(t1: number, seq1: number, t2: number, seq2: number): boolean {
  return t1 > t2 || (t1 === t2 && seqGt(seq1, seq2));
}

/** RFC 8985 §6.2 steps 2–3: scoreboard entry i was just acknowledged or SACKed. */
export function rackDelivered(tp: TcpSocket, i: number, seg: TcpRepr, now: number): void {
  const sb = tp.sb;
  const f = sb.flagsAt(i);
  const ts = sb.tsAt(i);
  const end = sb.endAt(i);
  const rtt = now - ts;
  // F-RTO: a segment sent before the RTO and never resent got through.
  const frto = tp.frto;
  if (frto !== undefined && (f & SB_EVER_RETRANS) === 0 && ts < frto.at) frto.origDelivered = true;
  if (f & SB_EVER_RETRANS) {
    // Step 2: an ambiguous delivery — the original may have arrived, not the resend.
    if (tp.tsOk && seg.hasTimestamp && seg.tsEcr !== 0 && seqLt(seg.tsEcr, tp.tsNow(ts))) return;
    if (rtt < tp.minRtt) return;
  } else if (seqLt(end, tp.rack.fack)) {
    // Step 3: delivered below a segment delivered before, never resent: reordering.
    tp.rack.reord = true;
  }
  if (seqGt(end, tp.rack.fack)) tp.rack.fack = end;
  tp.rack.rtt = rtt;
  if (tp.rack.xmitTs < 0 || sentAfter(ts, end, tp.rack.xmitTs, tp.rack.endSeq)) {
    tp.rack.xmitTs = ts;
    tp.rack.endSeq = end;
  }
}

/** RFC 8985 §6.2 step 4: the reordering window. */
function reoWnd(tp: TcpSocket): number {
  if (!tp.rack.reord) {
    if (tp.inRecovery || tp.inLoss) return 0;
    if (tp.sb.sackedBytes >= DUP_THRESH * tp.smss) return 0;
  }
  if (tp.minRtt === Infinity) return 0;
  return Math.min((tp.minRtt / 4) * tp.rack.reoWndMult, tp.srtt);
}

/**
 * RFC 8985 §6.2 step 5: marks lost every segment sent before the most recently
 * delivered one by more than the reordering window; returns how long until the next one
 * could be (0 when none is waiting), for the reordering timer (§6.3).
 */
export function rackDetectLoss(tp: TcpSocket, now: number): number {
  if (tp.rack.xmitTs < 0) return 0;
  const sb = tp.sb;
  const reo = reoWnd(tp);
  let timeout = 0;
  for (let i = 0; i < sb.count; i++) {
    const f = sb.flagsAt(i);
    if (f & SB_SACKED || (f & (SB_LOST | SB_RETRANS)) === SB_LOST) continue;
    const ts = sb.tsAt(i);
    if (!sentAfter(tp.rack.xmitTs, tp.rack.endSeq, ts, sb.endAt(i))) {
      // Originals go out in sequence order: nothing after this one was sent earlier,
      // except retransmissions, which may still be older than RACK.xmit_ts.
      if ((f & SB_EVER_RETRANS) === 0) break;
      continue;
    }
    const remaining = ts + tp.rack.rtt + reo - now;
    if (remaining <= 0) {
      if (f & SB_RETRANS) tp.ctx.host.count('tcp.lostRetransmits');
      sb.setFlags(i, (f | SB_LOST) & ~SB_RETRANS);
    } else if (remaining > timeout) {
      timeout = remaining;
    }
  }
  return timeout;
}

/**
 * After an ACK: detect losses (RACK with SACK; the third duplicate ACK and partial ACKs
 * without, RFC 6582 §3.2), end the TLP episode, enter or leave recovery, and set the
 * sending rate (PRR, RFC 6937). Driven by ACKs only: with none arriving, only the RTO
 * (with backoff) and one tail loss probe act.
 */
export function lossRecovery(
  tp: TcpSocket,
  ack: number,
  now: number,
  delivered: number,
  dup: boolean,
  advanced: boolean,
): void {
  const sb = tp.sb;
  if (advanced) tp.dupAcks = 0;
  if (tp.sackOk) {
    const t = rackDetectLoss(tp, now);
    tp.reoAt = t > 0 ? now + t : Infinity;
  } else if (dup) {
    tp.dupAcks++;
    // RFC 6937: without SACK a duplicate ACK stands for one delivered segment.
    delivered += tp.smss;
    if (tp.dupAcks === DUP_THRESH && !tp.inRecovery && !tp.inLoss) markHeadLost(tp);
  } else if (advanced && tp.inRecovery && seqLt(ack, tp.recoverSeq)) {
    // RFC 6582 §3.2 step 4: a partial ACK — the first unacknowledged segment is lost too.
    markHeadLost(tp);
  }
  tlpAck(tp, ack, now);
  if (tp.inLoss && seqGe(tp.sndUna, tp.recoverSeq)) {
    tp.inLoss = false;
    tp.frto = undefined;
  }
  if (tp.inRecovery && seqGe(tp.sndUna, tp.recoverSeq)) exitRecovery(tp);
  if (!tp.inRecovery && !tp.inLoss && sb.pendingLost > 0) enterRecovery(tp, now);
  if (tp.inRecovery) prrUpdate(tp, delivered);
  // Deliveries make room in the flight (RFC 6675 pipe): the ACK clocks out what may go.
  if (delivered > 0 || sb.pendingLost > 0) tp.answers |= ANS_OUTPUT;
}

function markHeadLost(tp: TcpSocket): void {
  const sb = tp.sb;
  if (sb.count === 0) return;
  const f = sb.flagsAt(0);
  if ((f & (SB_SACKED | SB_LOST)) === 0) sb.setFlags(0, f | SB_LOST);
}

/**
 * RFC 8985 §7.4: the ACK that covers a tail loss probe ends its episode. A probe that
 * resent data and was not reported as a duplicate (D-SACK) repaired a loss: the window
 * is reduced as a fast recovery would have (Linux tcp_process_tlp_ack()).
 */
function tlpAck(tp: TcpSocket, ack: number, now: number): void {
  if (tp.rack.tlpHighSeq < 0) return;
  if (
    tp.rack.tlpIsRetrans &&
    tp.dsackSeen &&
    seqLe(tp.dsackRcvStart, tp.rack.tlpSeq) &&
    seqGt(tp.dsackRcvEnd, tp.rack.tlpSeq)
  ) {
    tp.rack.tlpHighSeq = -1;
    return;
  }
  if (seqLt(ack, tp.rack.tlpHighSeq)) return;
  tp.rack.tlpHighSeq = -1;
  if (tp.rack.tlpIsRetrans && !tp.inRecovery && !tp.inLoss) {
    tp.cc.onLoss(seqDiff(tp.sndMax, tp.sndUna) + tp.smss, tp.smss, now);
    tp.cc.cwnd = Math.max(tp.cc.ssthresh, 2 * tp.smss);
    tp.ctx.host.count('tcp.tlpRecoveries');
  }
}

/** RFC 6937 §3: the congestion window for the next sends of this recovery. */
export function prrUpdate(tp: TcpSocket, delivered: number): void {
  const smss = tp.smss;
  tp.prr.delivered += delivered;
  const pipe = tp.pipe();
  const ssthresh = tp.cc.ssthresh;
  let sndcnt: number;
  if (pipe > ssthresh) {
    // Proportional rate reduction.
    sndcnt = Math.ceil((tp.prr.delivered * ssthresh) / Math.max(tp.prr.recoverFs, 1)) - tp.prr.out;
  } else {
    // Slow-start reduction bound (PRR-SSRB).
    const limit = Math.max(tp.prr.delivered - tp.prr.out, delivered) + smss;
    sndcnt = Math.min(ssthresh - pipe, limit);
  }
  sndcnt = Math.max(sndcnt, 0);
  // Linux: the first retransmission goes out on entering recovery whatever PRR says.
  if (tp.prr.out === 0 && sndcnt < smss && tp.sb.pendingLost > 0) sndcnt = smss;
  tp.cc.cwnd = pipe + sndcnt;
}

function exitRecovery(tp: TcpSocket): void {
  tp.inRecovery = false;
  tp.dupAcks = 0;
  // RFC 6937 §3 / RFC 6675 §5: recovery ends with cwnd = ssthresh.
  tp.cc.cwnd = Math.max(tp.cc.ssthresh, tp.smss);
  if (tp.rack.reoWndPersist > 0 && --tp.rack.reoWndPersist === 0) tp.rack.reoWndMult = 1;
}

/**
 * The path MTU shrank (RFC 1191 §6.5, RFC 8201 §5.4): segments in flight larger than
 * the new SMSS were dropped on the way. Mark them lost — they are resent at the new
 * size — without a congestion response (Linux tcp_simple_retransmit()).
 */
export function markOversizeLost(tp: TcpSocket): void {
  const sb = tp.sb;
  const smss = tp.smss;
  for (let i = 0; i < sb.count; i++) {
    const f = sb.flagsAt(i);
    if (f & SB_SACKED) continue;
    if (sb.lenAt(i) - (f & SB_FIN ? 1 : 0) > smss) sb.setFlags(i, (f | SB_LOST) & ~SB_RETRANS);
  }
  if (sb.pendingLost > 0) tp.answers |= ANS_OUTPUT;
}

/** Remember what a loss response changes, so a spurious one can be undone. */
export function noteLossResponse(tp: TcpSocket, now: number): void {
  tp.priorCwnd = tp.cc.cwnd;
  tp.priorSsthresh = tp.cc.ssthresh;
  tp.recoveryUna = tp.sndUna;
  tp.rtxTs = tp.tsOk ? tp.tsNow(now) : -1;
}

/**
 * RFC 3522 §3.2: the first ACK covering the first retransmission echoes a timestamp
 * older than that retransmission when the original arrived: the loss was not real.
 * Restore cwnd/ssthresh (RFC 4015 §3), forget the loss marks, widen the reordering window.
 */
export function checkSpurious(tp: TcpSocket, seg: TcpRepr, ack: number): void {
  // A TSecr of 0 echoes nothing (RFC 7323 §3.2): no evidence either way, as Linux's
  // tcp_packet_delayed (read as a timestamp, 0 looked older than half of all rtxTs).
  if (tp.rtxTs < 0 || !seg.hasTimestamp || seg.tsEcr === 0 || !seqGt(ack, tp.recoveryUna)) return;
  const spurious = seqLt(seg.tsEcr, tp.rtxTs);
  tp.rtxTs = -1;
  if (!spurious) return;
  tp.ctx.host.count('tcp.spuriousRetransmits');
  tp.frto = undefined;
  if (tp.ccSaved !== undefined) tp.cc.restore(tp.ccSaved);
  tp.cc.cwnd = Math.max(tp.cc.cwnd, tp.priorCwnd);
  tp.cc.ssthresh = Math.max(tp.cc.ssthresh, tp.priorSsthresh);
  tp.inRecovery = false;
  tp.inLoss = false;
  tp.dupAcks = 0;
  tp.sb.clearLost();
  tp.rack.reord = true;
  if (tp.rack.reoWndMult < MAX_REO_WND_MULT) tp.rack.reoWndMult++;
  tp.rack.reoWndPersist = REO_WND_PERSIST;
}

/**
 * F-RTO (RFC 5682 §3.1, in its SACK-enhanced form as Linux runs it, tcp_process_loss()
 * step 3b): what an RTO changed, kept until the recovery it starts ends. A timeout is
 * spurious when not all data was lost: an ACK or SACK after it covers a segment sent
 * before it and never resent (SB_EVER_RETRANS marks every resent segment for good, so
 * this holds in fast recovery and after repeated timeouts too, as Linux has it since
 * 2018). Without timestamps this is the only way to tell; with them it also catches
 * what Eifel (RFC 3522) misses: an RTO in fast recovery, or the timeout's resend of a
 * head that had arrived while every later segment's ACK was lost.
 */
export interface FrtoState {
  /** When the (first) timeout fired. */
  at: number;
  origDelivered: boolean;
  cc: unknown;
  inRecovery: boolean;
  recoverSeq: number;
  prrDelivered: number;
  prrOut: number;
  recoverFs: number;
}

/** The first RTO of an episode: remember the state to return to (before it changes anything). */
export function armFrto(tp: TcpSocket, now: number): void {
  tp.frto = {
    at: now,
    origDelivered: false,
    cc: tp.cc.save(),
    inRecovery: tp.inRecovery,
    recoverSeq: tp.recoverSeq,
    prrDelivered: tp.prr.delivered,
    prrOut: tp.prr.out,
    recoverFs: tp.prr.recoverFs,
  };
}

/**
 * RFC 5682 §3.1 step 3b / RFC 4015 §3: the timeout was spurious. Return to the window
 * and the fast recovery (if one was running) from before it; lost marks are dropped and
 * RACK marks again from what was delivered. A reduction a fast recovery made before the
 * RTO stays: that loss was real (Linux would undo it too; RFC 5682 undoes only the RTO).
 */
export function checkFrto(tp: TcpSocket): void {
  const s = tp.frto;
  if (s === undefined || !s.origDelivered) return;
  tp.frto = undefined;
  tp.ctx.host.count('tcp.spuriousRtos');
  tp.cc.restore(s.cc);
  tp.inLoss = false;
  tp.inRecovery = s.inRecovery;
  tp.recoverSeq = s.recoverSeq;
  tp.prr.delivered = s.prrDelivered;
  tp.prr.out = s.prrOut;
  tp.prr.recoverFs = s.recoverFs;
  tp.retries = 0;
  tp.rtxTs = -1;
  tp.sb.clearLost();
}

/** RFC 6675 §5 / RFC 6582 §3.2 step 2 / RFC 9438 §4.6: a loss starts fast recovery. */
export function enterRecovery(tp: TcpSocket, now: number): void {
  const flight = seqDiff(tp.sndMax, tp.sndUna);
  noteLossResponse(tp, now);
  tp.ccSaved = tp.cc.save();
  tp.inRecovery = true;
  tp.tlpAt = Infinity;
  tp.recoverSeq = tp.sndMax;
  tp.cc.onLoss(flight, tp.smss, now);
  tp.prr.delivered = 0;
  tp.prr.out = 0;
  tp.prr.recoverFs = flight;
  tp.rttSeq = -1;
  tp.ctx.host.count('tcp.fastRecoveries');
  tp.answers |= ANS_OUTPUT;
}

/**
 * RFC 8985 §7.2: PTO = 2·SRTT + 2 ms (Linux's floor; + a delayed-ACK allowance for a
 * single segment), never later than the RTO. Armed after new data goes out and after an
 * ACK of new data; not in recovery, and not while a probe is outstanding (one probe per
 * episode, §7.3).
 */
export function armTlp(tp: TcpSocket, now: number): void {
  if (
    !tp.sackOk ||
    tp.inRecovery ||
    tp.inLoss ||
    tp.rack.tlpHighSeq >= 0 ||
    tp.srtt === 0 ||
    tp.sndUna === tp.sndMax ||
    tp.state < ESTABLISHED
  ) {
    tp.tlpAt = Infinity;
    return;
  }
  // Linux's allowance on top of 2·SRTT: 2 ms (TCP_TIMEOUT_MIN), so a near-zero SRTT
  // (a handshake over an in-process link) does not fire a probe right behind every burst.
  let pto = 2 * tp.srtt + 2;
  if (seqDiff(tp.sndMax, tp.sndUna) <= tp.smss) pto += tp.ctx.config.delayedAckTimeout * 5;
  tp.tlpAt = Math.min(now + pto, tp.rtoAt === Infinity ? now + tp.rto : tp.rtoAt);
}

/**
 * RFC 8985 §7.3: send one new segment if the window allows, else the last segment sent
 * (at most one SMSS) again; then re-arm the RTO — the probe itself never repeats until
 * an ACK ends its episode (§7.4) or the RTO fires.
 */
export function onTlp(tp: TcpSocket, now: number): void {
  tp.tlpAt = Infinity;
  if (tp.sndUna === tp.sndMax || tp.inRecovery || tp.inLoss || tp.rack.tlpHighSeq >= 0) return;
  const sb = tp.sb;
  const dataEnd = seqAdd(tp.sndBase, tp.sendRing.length);
  const wndEnd = seqAdd(tp.sndUna, tp.sndWnd);
  const room = seqDiff(wndEnd, tp.sndMax);
  const avail = seqDiff(dataEnd, tp.sndMax);
  if (avail > 0 && room > 0) {
    const seq = tp.sndMax;
    const took = emitSegment(tp, now, seq, ACK, Math.min(avail, room, tp.smss));
    if (took <= 0) return;
    const end = seqAdd(seq, took);
    sb.push(seq, end, now, false);
    tp.sndMax = end;
    tp.sndNxt = end;
    tp.rack.tlpIsRetrans = false;
    tp.rack.tlpSeq = seq;
  } else {
    let i = sb.count - 1;
    if (i < 0) return;
    const fin = (sb.flagsAt(i) & SB_FIN) !== 0;
    const dataLen = sb.lenAt(i) - (fin ? 1 : 0);
    // At most one SMSS: the end of the last segment.
    if (dataLen > tp.smss) {
      sb.split(i, seqAdd(sb.startAt(i), dataLen - tp.smss));
      i++;
    }
    // Not beyond a window the peer shrank (Linux __tcp_retransmit_skb()): the RTO
    // probes at SND.UNA instead.
    const s = sb.startAt(i);
    if (s !== tp.sndUna && !seqLt(s, wndEnd)) return;
    probeEntry(tp, now, i);
    return;
  }
  afterProbe(tp, now);
}

function probeEntry(tp: TcpSocket, now: number, i: number): void {
  const sb = tp.sb;
  const s = sb.startAt(i);
  const f = sb.flagsAt(i);
  const fin = (f & SB_FIN) !== 0;
  const dataLen = sb.lenAt(i) - (fin ? 1 : 0);
  const took = emitSegment(tp, now, s, ACK | (fin ? FIN : 0), dataLen);
  if (took < dataLen) sb.split(i, seqAdd(s, took));
  sb.setTs(i, now);
  sb.setFlags(i, sb.flagsAt(i) | SB_EVER_RETRANS);
  tp.retransmits++;
  tp.ctx.host.count('tcp.retransmits');
  tp.rack.tlpIsRetrans = true;
  tp.rack.tlpSeq = s;
  afterProbe(tp, now);
}

function afterProbe(tp: TcpSocket, now: number): void {
  tp.rack.tlpHighSeq = tp.sndMax;
  tp.ctx.host.count('tcp.tlpProbes');
  tp.rtoAt = now + tp.rto;
}
