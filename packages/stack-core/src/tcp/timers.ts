/**
 * One connection's timers, kept as deadlines on the socket (nextDeadline()) that the
 * layer's poll() fires: the retransmission timeout (RFC 6298 §5, RFC 5681 §3.1), persist
 * probes (RFC 9293 §3.8.6.1), the delayed ACK, keepalive (RFC 1122 §4.2.3.6), the
 * TIME-WAIT and FIN-WAIT-2 ends, the tail loss probe and reordering deadlines (RFC 8985),
 * and the release of idle ring storage.
 *
 * Functions over the connection `tp` (the name Linux gives its tcp_sock).
 */
import { SocketError } from '../registration.js';
import { seqDiff } from '../seq.js';
import { ANS_OUTPUT } from './answers.js';
import { armFrto, enterRecovery, noteLossResponse, onTlp, prrUpdate, rackDetectLoss } from './recovery.js';
import { SB_SACKED } from './scoreboard.js';
import { sendProbe, zeroWindowProbe } from './sender.js';
import type { TcpSocket } from './socket.js';
import { CLOSE_WAIT, CLOSED, ESTABLISHED, FIN_WAIT_2, SYN_RECEIVED, SYN_SENT, TIME_WAIT } from './state.js';

/** Keepalive probe interval and count (Linux tcp_keepalive_intvl / _probes). */
const KEEPALIVE_INTERVAL = 75_000;
const KEEPALIVE_PROBES = 9;

export function fireTimers(tp: TcpSocket, now: number): void {
  if (tp.closeAt <= now) {
    tp.closeAt = Infinity;
    if (tp.state === TIME_WAIT || tp.state === FIN_WAIT_2) {
      tp.toClosed();
      return;
    }
  }
  // A probe due no later than the RTO goes first; it re-arms the RTO (RFC 8985 §7.3).
  if (tp.tlpAt <= now && tp.tlpAt <= tp.rtoAt) onTlp(tp, now);
  if (tp.rtoAt <= now) onRto(tp, now);
  if (tp.state === CLOSED) return;
  if (tp.tlpAt <= now) onTlp(tp, now);
  if (tp.reoAt <= now) {
    // RFC 8985 §6.3: the reordering timer — segments it was waiting on are lost now.
    tp.reoAt = Infinity;
    if (tp.sackOk && tp.sb.count > 0) {
      const t = rackDetectLoss(tp, now);
      if (t > 0) tp.reoAt = now + t;
      if (tp.sb.pendingLost > 0) {
        if (!tp.inRecovery && !tp.inLoss) enterRecovery(tp, now);
        if (tp.inRecovery) prrUpdate(tp, 0);
        tp.answers |= ANS_OUTPUT;
      }
    }
  }
  if (tp.persistAt <= now) {
    // RFC 9293 §3.8.6.1: probe the zero window, for as long as the peer answers (RFC 1122
    // §4.2.2.17); maxRetries probes in a row without an answer end the connection (Linux
    // tcp_probe_timer()). The interval backs off up to maxRto.
    tp.persistAt = Infinity;
    if (tp.sndWnd === 0 && tp.sendRing.length > 0) {
      const c = tp.ctx.config;
      if (tp.probesOut >= c.maxRetries) {
        tp.ctx.host.count('tcp.timeouts');
        tp.fail(SocketError.ETIMEDOUT);
        return;
      }
      sendProbe(tp, now);
      tp.probesOut++;
      tp.ctx.host.count('tcp.zeroWindowProbes');
      tp.persistShift++;
      tp.persistAt = now + Math.min(tp.rto * 2 ** tp.persistShift, c.maxRto);
    }
  }
  if (tp.delackAt <= now) {
    tp.delackAt = Infinity;
    tp.ackNow = true;
    tp.answers |= ANS_OUTPUT;
  }
  if (tp.keepaliveAt <= now) onKeepalive(tp, now);
  if (tp.idleAt <= now) {
    tp.idleAt = Infinity;
    releaseIdleStorage(tp);
  }
}

function onRto(tp: TcpSocket, now: number): void {
  tp.rtoAt = Infinity;
  tp.tlpAt = Infinity;
  tp.reoAt = Infinity;
  if (tp.sndUna === tp.sndMax) return;
  const c = tp.ctx.config;
  const syn = tp.state === SYN_SENT || tp.state === SYN_RECEIVED;
  // A timeout into a window the peer closed under data in flight resends as a zero-window
  // probe (below). A peer that answers those is alive: like persist probes they count
  // only while unanswered, not as retries (Linux tcp_retransmit_timer(): "our retransmits
  // become zero probes, but we should not timeout this connection").
  const probing = !syn && tp.sndWnd === 0;
  if (probing ? tp.probesOut >= c.maxRetries : tp.retries >= (syn ? c.maxSynRetries : c.maxRetries)) {
    tp.ctx.host.count('tcp.timeouts');
    if (tp.listener && tp.state === SYN_RECEIVED) tp.toClosed();
    else tp.fail(SocketError.ETIMEDOUT);
    return;
  }
  // The first timeout of an episode reduces the window once (RFC 5681 §3.1 eq. 4). Probes
  // count it as one retry at most, so a long answered probing phase uses up none.
  let first: boolean;
  if (probing) {
    tp.probesOut++;
    first = tp.retries === 0;
    if (first) tp.retries = 1;
  } else {
    tp.retries++;
    first = tp.retries === 1;
  }
  // RFC 6298 §5.5: back off.
  tp.rto = Math.min(tp.rto * 2, c.maxRto);
  tp.retransmits++;
  tp.ctx.host.count('tcp.rtoTimeouts');
  if (syn) {
    tp.sndNxt = tp.iss;
    tp.rttSeq = -1;
  } else {
    const flight = seqDiff(tp.sndMax, tp.sndUna);
    // RFC 5681 §3.1 eq. 4: reduce once per loss episode; further timeouts keep ssthresh.
    if (first) {
      armFrto(tp, now);
      if (!tp.inRecovery) {
        noteLossResponse(tp, now);
        tp.ccSaved = tp.cc.save();
      } else {
        tp.rtxTs = -1;
      }
      tp.cc.onRto(flight, tp.smss, now);
    } else {
      tp.cc.cwnd = tp.smss;
      tp.rtxTs = -1;
    }
    // RFC 6675 §5.1 / RFC 8985 §6.3: everything not SACKed is lost; resend from the
    // head as the window (1 SMSS, then slow start) allows. A SACKed head that is still
    // not acknowledged means the receiver reneged (RFC 2018 §8): forget the SACKs.
    const sb = tp.sb;
    if (sb.count > 0 && sb.flagsAt(0) & SB_SACKED) sb.clearSacked();
    sb.markAllLost();
    tp.recoverSeq = tp.sndMax;
    tp.inRecovery = false;
    tp.inLoss = true;
    tp.dupAcks = 0;
    tp.rack.tlpHighSeq = -1;
    tp.reoAt = Infinity;
    tp.rttSeq = -1;
    if (tp.sndWnd === 0) zeroWindowProbe(tp, now);
  }
  tp.rtoAt = now + tp.rto;
  tp.answers |= ANS_OUTPUT;
}

function releaseIdleStorage(tp: TcpSocket): void {
  if (tp.sendRing.length === 0 && tp.sndUna === tp.sndMax) tp.sendRing.release();
  if (tp.recvRing.length === 0 && (tp.ooo === undefined || tp.ooo.count === 0)) tp.recvRing.release();
}

function onKeepalive(tp: TcpSocket, now: number): void {
  tp.keepaliveAt = Infinity;
  if (tp.keepAliveIdle <= 0 || !(tp.state === ESTABLISHED || tp.state === CLOSE_WAIT)) return;
  // Compare deadlines, not differences: (a + b) - a may round below b.
  const due = tp.lastRecvAt + tp.keepAliveIdle;
  if (due > now && tp.keepaliveProbes === 0) {
    tp.keepaliveAt = due;
    return;
  }
  if (tp.keepaliveProbes >= KEEPALIVE_PROBES) {
    tp.fail(SocketError.ETIMEDOUT);
    return;
  }
  // RFC 1122 §4.2.3.6: a probe is an ACK with SEG.SEQ = SND.NXT - 1.
  tp.keepaliveProbes++;
  sendProbe(tp, now);
  tp.keepaliveAt = now + Math.min(KEEPALIVE_INTERVAL, tp.keepAliveIdle);
}
