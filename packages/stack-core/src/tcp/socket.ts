/**
 * One TCP connection: the transmission control block and its state machine
 * (RFC 9293 §3.10), sending (window, Nagle, congestion control, retransmission),
 * receiving (reassembly, delayed ACKs, window updates) and its timers, kept as
 * deadlines that the layer checks in poll().
 */
import type { IpHost, TcpConfig, TcpSocketOptions } from '../registration.js';
import { SocketError, SocketEvent } from '../registration.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from '../seq.js';
import type { IpAddress } from '../wire/ip-address.js';
import { fillTcpChecksum, TCP_HEADER_LEN, TCP_PROTOCOL, TcpFlags, type TcpRepr } from '../wire/tcp.js';
import { type CongestionControl, Cubic, initialWindow, NewReno } from './congestion.js';
import { ByteRing } from './ring.js';
import { SeqRangeSet } from './sack.js';
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
  SYN_SENT,
  TIME_WAIT,
} from './state.js';

const { FIN, SYN, RST, PSH, ACK } = TcpFlags;

/** What a socket needs from its layer. */
export interface TcpContext {
  readonly host: IpHost;
  readonly config: TcpConfig;
  /** One reused buffer for every outgoing segment. */
  readonly scratch: Uint8Array;
  readonly txRepr: TcpRepr;
  /** Queue this socket for output in the next poll. */
  markOutput(s: TcpSocket): void;
  /** The socket's deadlines changed. */
  schedule(s: TcpSocket): void;
  /** Report events on the socket's handle (deferred while unaccepted; dropped once released). */
  emit(s: TcpSocket, events: number): void;
  /** The socket reached CLOSED: forget it. */
  closed(s: TcpSocket): void;
  /** The socket entered TIME-WAIT: its port binding is released (as with SO_REUSEADDR). */
  timeWait(s: TcpSocket): void;
  /** A passive child reached ESTABLISHED; false when the accept queue is full. */
  established(s: TcpSocket): boolean;
  /** RFC 5961 §7: may a challenge ACK go out now? */
  challengeAckAllowed(now: number): boolean;
  /** Queue <SEQ=SEG.ACK><CTL=RST> (or the RST,ACK form) answering `seg`. */
  replyRst(s: TcpSocket, seg: TcpRepr): void;
}

/** FIN-WAIT-2 lifetime of a closed (orphaned) socket, as Linux tcp_fin_timeout. */
const FIN_WAIT_2_TIMEOUT = 60_000;
/** Keepalive probe interval and count (Linux tcp_keepalive_intvl / _probes). */
const KEEPALIVE_INTERVAL = 75_000;
const KEEPALIVE_PROBES = 9;
/** Largest window scale shift (RFC 7323 §2.3). */
const MAX_WSCALE = 14;
/** Empty rings of an idle connection are freed after this long (ms). */
const IDLE_RELEASE = 5_000;
/** Smallest peer MSS honoured (Linux: 48 + options; 88 for IPv6). */
const MIN_PEER_MSS = 88;
/** RFC 6675 DupThresh. */
const DUP_THRESH = 3;

export class TcpSocket {
  state = CLOSED;
  /** The handle was given back (tcpClose / tcpAbort): no more events, the stack finishes alone. */
  released = false;
  /** Passive children are hidden until tcpAccept. */
  accepted = true;
  deferredEvents = 0;

  localAddr: IpAddress | undefined;
  localPort = 0;
  remoteAddr: IpAddress | undefined;
  remotePort = 0;
  /** Demultiplexing key while registered, '' otherwise. */
  key = '';
  /** Holds an entry in the layer's binding table (bind/listen). */
  bound = false;

  // Listener side.
  listener: TcpSocket | undefined;
  backlog = 0;
  readonly acceptQueue: TcpSocket[] = [];
  readonly synQueue: TcpSocket[] = [];

  // Options.
  noDelay: boolean;
  keepAliveIdle: number;
  readonly ccName: 'cubic' | 'newreno';
  readonly sendRing: ByteRing;
  readonly recvRing: ByteRing;

  // Send sequence space (RFC 9293 §3.3.1).
  iss = 0;
  sndUna = 0;
  /** Next sequence number to send (may be pulled back to sndUna by a timeout). */
  sndNxt = 0;
  /** Highest sequence number sent + 1. */
  sndMax = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  /** Sequence number of sendRing's first byte. */
  sndBase = 0;
  /** A FIN follows the queued data (shutdown). */
  finQueued = false;

  // Receive sequence space.
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window last advertised (never moves left, RFC 9293 §3.8.6). */
  rcvAdvEnd = 0;
  finReceived = false;
  /** Sequence number of a FIN that arrived out of order, or -1. */
  oooFin = -1;
  ooo: SeqRangeSet | undefined;
  /** RFC 2883 D-SACK: a duplicate range to report first in the next ACK (length 0 = none). */
  dsackStart = 0;
  dsackLen = 0;
  /** Largest payload seen from the peer (to count "full" segments for delayed ACKs). */
  rcvMss = 536;
  /** This connection has sent GSO super-segments (emitSegment): expect stretch ACKs. */
  sentGso = false;

  // Negotiated options.
  peerMss = 536;
  /** Largest transport payload to the peer (host.maxTransportPayload). */
  pathMax = 576 - 20;
  sndShift = 0;
  rcvShift = 0;
  wsOk = false;
  sackOk = false;
  tsOk = false;
  tsRecent = 0;
  tsOffset = 0;
  lastAckSent = 0;

  // RTT estimation (RFC 6298).
  srtt = 0;
  rttvar = 0;
  rto: number;
  /** Non-timestamp RTT sample in flight (Karn): sequence to be acked and send time. */
  rttSeq = -1;
  rttTime = 0;

  // Deadlines (ms; Infinity when off).
  rtoAt = Infinity;
  delackAt = Infinity;
  persistAt = Infinity;
  keepaliveAt = Infinity;
  closeAt = Infinity;
  /** Tail loss probe (RFC 8985 §7) and reordering-window loss detection deadlines. */
  tlpAt = Infinity;
  reoAt = Infinity;
  /** When to give back ring storage if both rings are still empty (idle connections stay small). */
  idleAt = Infinity;
  /** When the current pass over the holes began (for lost-retransmission detection). */
  rtxScanAt = 0;
  /** Spurious-retransmission detection (RFC 3522 Eifel with timestamps; RFC 4015 undo). */
  rtxTs = -1;
  recoveryUna = 0;
  priorCwnd = 0;
  priorSsthresh = 0;
  ccSaved: unknown;
  /** RFC 8985 §6.2: the reordering window grows after a spurious retransmission. */
  reoMult = 1;
  /** Lowest RTT seen (RFC 8985 §6.2 reordering window). */
  minRtt = Infinity;
  /** Earliest entry this socket has in the layer's timer heap. */
  scheduledAt = Infinity;
  queuedForOutput = false;

  // Loss recovery (RFC 6675, RFC 6582).
  sacked: SeqRangeSet | undefined;
  dupAcks = 0;
  inRecovery = false;
  recoverSeq = 0;
  highRxt = 0;
  /** NewReno: retransmit [highRxt, rtxEnd) regardless of cwnd. */
  rtxEnd = 0;
  cc: CongestionControl;
  cwndLimited = false;
  /** RFC 6675 §5 (4.3): the first hole goes out on entering recovery whatever cwnd says. */
  forceRtx = false;

  retries = 0;
  retransmits = 0;
  persistShift = 0;
  /**
   * Zero-window probes sent since the peer last acknowledged anything (Linux
   * icsk_probes_out): persist probes and retransmissions into a closed window alike. Any
   * ACK resets it; the connection is given up only after maxRetries unanswered probes.
   */
  probesOut = 0;
  keepaliveProbes = 0;
  lastRecvAt = 0;

  ackNow = false;
  unackedBytes = 0;
  error: 0 | SocketError = 0;
  /** The last error handed out by socketError(), so later calls still fail the same way. */
  errorReported: 0 | SocketError = 0;
  sendWasFull = false;
  /** Send an RST and forget the socket (abort). */
  rstPending = false;

  constructor(
    private readonly ctx: TcpContext,
    readonly handle: number,
    readonly opts: Required<TcpSocketOptions>,
  ) {
    this.noDelay = opts.noDelay;
    this.keepAliveIdle = opts.keepAlive;
    this.ccName = opts.congestionControl;
    this.sendRing = new ByteRing(opts.sendBufferSize);
    this.recvRing = new ByteRing(opts.recvBufferSize);
    this.rto = ctx.config.initialRto;
    this.cc = this.ccName === 'newreno' ? new NewReno(1460) : new Cubic(1460);
  }

  // ---------------------------------------------------------------- helpers

  /** Payload bytes of a full segment: peer MSS and path, minus the timestamp option. */
  get smss(): number {
    return Math.max(
      1,
      Math.min(this.peerMss + TCP_HEADER_LEN, this.pathMax) - TCP_HEADER_LEN - (this.tsOk ? 12 : 0),
    );
  }

  /**
   * How much new data one emitSegment may take: smss, or as many whole smss-segments as
   * fit a GSO super-segment when the route's interface offloads segmentation.
   */
  private gsoBurst(smss: number): number {
    const g = this.ctx.host.gsoMaxSize?.(this.remoteAddr!) ?? 0;
    if (g <= 0) return smss;
    const fit = g - (this.remoteAddr!.version === 4 ? 20 : 40) - TCP_HEADER_LEN - 40;
    return fit > smss ? fit - (fit % smss) : smss;
  }

  /** Our MSS option: the path towards the peer minus the TCP header. */
  ourMss(): number {
    return Math.min(this.pathMax - TCP_HEADER_LEN, 65535);
  }

  get synchronized(): boolean {
    return this.state >= ESTABLISHED;
  }

  private tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  /** The window field for the next segment, updating rcvAdvEnd (RFC 9293 §3.8.6.2.2 receiver SWS avoidance). */
  // Window arithmetic uses shifts, not `2 ** shift`: both scales are at most MAX_WSCALE
  // (14), so 65535 << 14 stays a positive int32, and Math.pow (a float call) on every
  // segment was the hottest TCP function at MTU 1500 (+20% end to end without it).
  private windowField(syn: boolean): number {
    const free = this.recvRing.free;
    if (syn) {
      const w = Math.min(free, 65535);
      this.rcvAdvEnd = seqAdd(this.rcvNxt, w);
      return w;
    }
    const max = 65535 << this.rcvShift;
    let edge = seqAdd(this.rcvNxt, Math.min(free, max));
    const grow = seqDiff(edge, this.rcvAdvEnd);
    // Move the right edge only by a useful amount: a closed window stays closed until
    // min(buffer/2, MSS) is free, so the peer is never offered tiny windows.
    if (grow < Math.min(this.recvRing.capacity >>> 1, this.rcvMss)) {
      edge = seqGt(this.rcvAdvEnd, this.rcvNxt) ? this.rcvAdvEnd : this.rcvNxt;
    }
    const field = Math.min(seqDiff(edge, this.rcvNxt) >>> this.rcvShift, 65535);
    const adv = seqAdd(this.rcvNxt, field << this.rcvShift);
    if (seqGt(adv, this.rcvAdvEnd)) this.rcvAdvEnd = adv;
    return field;
  }

  /** Bytes sent and not yet acknowledged or SACKed, as RFC 6675 SetPipe() counts them. */
  private pipe(): number {
    const una = this.sndUna;
    const out = seqDiff(this.sndMax, una);
    if (!this.sacked || this.sacked.count === 0) return out;
    const sacked = this.sacked.bytes();
    // Holes below the highest SACKed byte not yet retransmitted count as lost.
    const high = this.sacked.highest(una);
    const from = seqMax(this.highRxt, una);
    let lost = 0;
    if (seqLt(from, high)) lost = seqDiff(high, from) - this.sacked.bytesIn(from, high);
    return Math.max(0, out - sacked - lost);
  }

  private emitEvents(ev: number): void {
    this.ctx.emit(this, ev);
  }

  // ---------------------------------------------------------------- opening

  /** Active open (RFC 9293 §3.10.1): SYN goes out on the next poll. */
  startConnect(iss: number, tsOffset: number, now: number): void {
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.sndBase = seqAdd(iss, 1);
    this.recoverSeq = iss;
    this.tsOffset = tsOffset;
    this.pathMax = this.ctx.host.maxTransportPayload(this.remoteAddr!);
    this.rcvShift = this.chooseShift();
    this.state = SYN_SENT;
    this.lastRecvAt = now;
    this.ctx.markOutput(this);
  }

  private chooseShift(): number {
    let s = 0;
    while (s < MAX_WSCALE && 65535 * 2 ** s < this.recvRing.capacity) s++;
    return s;
  }

  /** Takes the peer's SYN options (RFC 9293 §3.7.1, RFC 7323 §2.2/§3.2, RFC 2018 §2). */
  private takeSynOptions(seg: TcpRepr, weOffered: boolean): void {
    // RFC 9293 §3.7.1 defaults; tiny announced values are raised (as Linux does) so a peer
    // cannot make us send a segment per byte.
    this.peerMss =
      seg.mss > 0 ? Math.max(seg.mss, MIN_PEER_MSS) : this.remoteAddr?.version === 6 ? 1220 : 536;
    this.wsOk = weOffered && seg.wscale >= 0;
    this.sndShift = this.wsOk ? Math.min(seg.wscale, MAX_WSCALE) : 0;
    if (!this.wsOk) this.rcvShift = 0;
    this.sackOk = seg.sackPermitted;
    this.tsOk = seg.hasTimestamp;
    if (this.tsOk) this.tsRecent = seg.tsVal;
  }

  /** Passive open: a SYN reached our listener and this child answers it (RFC 9293 §3.10.7.2). */
  acceptSyn(seg: TcpRepr, iss: number, tsOffset: number, now: number): void {
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.sndBase = seqAdd(iss, 1);
    this.recoverSeq = iss;
    this.tsOffset = tsOffset;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.pathMax = this.ctx.host.maxTransportPayload(this.remoteAddr!);
    this.rcvShift = this.chooseShift();
    this.takeSynOptions(seg, seg.wscale >= 0);
    this.sndWnd = seg.window;
    this.maxSndWnd = seg.window;
    this.sndWl1 = seg.seq;
    this.sndWl2 = iss;
    this.state = SYN_RECEIVED;
    this.lastRecvAt = now;
    this.ctx.markOutput(this);
  }

  private enterEstablished(now: number): void {
    this.state = ESTABLISHED;
    const mss = this.smss;
    this.cc = this.ccName === 'newreno' ? new NewReno(mss) : new Cubic(mss);
    this.cc.cwnd = initialWindow(mss);
    this.retries = 0;
    if (this.keepAliveIdle > 0) this.keepaliveAt = now + this.keepAliveIdle;
  }

  // ---------------------------------------------------------------- input

  /** A segment for this connection (RFC 9293 §3.10.7.3 / §3.10.7.4). */
  input(seg: TcpRepr, data: Uint8Array, now: number): void {
    if (this.state === SYN_SENT) this.inputSynSent(seg, data, now);
    else if (this.state !== CLOSED && this.state !== LISTEN) this.inputSynchronized(seg, data, now);
    this.ctx.schedule(this);
  }

  private inputSynSent(seg: TcpRepr, _data: Uint8Array, now: number): void {
    const f = seg.flags;
    // §3.10.7.3 first: check the ACK.
    if (f & ACK) {
      if (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax)) {
        if (!(f & RST)) this.ctx.replyRst(this, seg);
        return;
      }
    }
    if (f & RST) {
      // RFC 5961 §3.2 / RFC 9293: only an RST that acknowledges our SYN refuses the connection.
      if (f & ACK) this.fail(SocketError.ECONNREFUSED);
      return;
    }
    if (!(f & SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    // Our SYN's window was relative to an unknown RCV.NXT: start the right edge afresh.
    this.rcvAdvEnd = this.rcvNxt;
    this.takeSynOptions(seg, true);
    this.sndWnd = seg.window;
    this.maxSndWnd = seg.window;
    this.sndWl1 = seg.seq;
    this.lastRecvAt = now;
    if (f & ACK) {
      this.sndWl2 = seg.ack;
      this.sndUna = seg.ack;
      this.rtoAt = Infinity;
      this.rttSample(seg, now, true);
      this.enterEstablished(now);
      this.ackNow = true;
      this.ctx.markOutput(this);
      this.emitEvents(SocketEvent.Connected | SocketEvent.Writable);
      if (this.finQueued) this.state = FIN_WAIT_1;
    } else {
      // Simultaneous open (§3.10.7.3, figure 8): answer with SYN,ACK from the same ISS.
      this.sndWl2 = this.iss;
      this.state = SYN_RECEIVED;
      this.sndNxt = this.iss;
      this.ctx.markOutput(this);
    }
  }

  private sendChallengeAck(now: number): void {
    if (this.ctx.challengeAckAllowed(now)) {
      this.ackNow = true;
      this.ctx.markOutput(this);
    }
  }

  private inputSynchronized(seg: TcpRepr, data: Uint8Array, now: number): void {
    const f = seg.flags;
    let len = data.length;
    let seq = seg.seq;
    let fin = (f & FIN) !== 0;
    const segLen = len + ((f & SYN) !== 0 ? 1 : 0) + (fin ? 1 : 0);
    const wnd = Math.max(0, seqDiff(this.rcvAdvEnd, this.rcvNxt));

    // RFC 7323 §5.3 PAWS: an old timestamp marks an old duplicate.
    if (this.tsOk && seg.hasTimestamp && !(f & RST) && seqLt(seg.tsVal, this.tsRecent)) {
      this.ctx.host.count('tcp.pawsDrop');
      this.ackNow = true;
      this.ctx.markOutput(this);
      return;
    }

    // RFC 5961 §3.2: an RST must hit rcvNxt exactly; in-window ones get a challenge ACK.
    if (f & RST) {
      if (seq === this.rcvNxt) this.onReset();
      else if (seqGe(seq, this.rcvNxt) && seqLt(seq, seqAdd(this.rcvNxt, Math.max(wnd, 1))))
        this.sendChallengeAck(now);
      return;
    }

    // §3.10.7.4 first: sequence number acceptability.
    let ok: boolean;
    if (segLen === 0) {
      ok = wnd === 0 ? seq === this.rcvNxt : seqGe(seq, this.rcvNxt) && seqLe(seq, seqAdd(this.rcvNxt, wnd));
    } else if (wnd === 0) {
      ok = false;
    } else {
      const last = seqAdd(seq, segLen - 1);
      ok =
        (seqGe(seq, this.rcvNxt) && seqLt(seq, this.rcvAdvEnd)) ||
        (seqGe(last, this.rcvNxt) && seqLt(last, this.rcvAdvEnd));
    }
    if (this.state === SYN_RECEIVED && f & SYN && !(f & ACK) && seq === this.irs) {
      // A retransmitted SYN: our SYN,ACK was lost; send it again.
      this.sndNxt = this.iss;
      this.ctx.markOutput(this);
      return;
    }
    if (!ok) {
      if (segLen > 0 && wnd === 0) this.ctx.host.count('tcp.zeroWindowDrop');
      this.ackNow = true;
      this.ctx.markOutput(this);
      if (data.length > 0 && seqLt(seq, this.rcvNxt))
        this.noteDuplicate(seq, Math.min(data.length, seqDiff(this.rcvNxt, seq)));
      // Still use its ACK when it is only an old duplicate (helps recovery), or when it
      // starts at RCV.NXT and only our zero window refused its data: "special allowance
      // should be made to accept valid ACKs" (§3.10.7.4). Else, when both sides' windows
      // are closed, each drops the ACKs riding on the other's probes: a deadlock.
      const zeroWindowAtNxt = wnd === 0 && seq === this.rcvNxt;
      if (!(f & ACK) || f & SYN || !(zeroWindowAtNxt || seqLe(seqAdd(seq, segLen), this.rcvNxt))) return;
      len = 0;
      fin = false;
      seq = this.rcvNxt;
    }

    // RFC 5961 §4: a SYN in a synchronized state gets a challenge ACK.
    if (f & SYN) {
      this.sendChallengeAck(now);
      return;
    }
    if (!(f & ACK)) return;

    this.lastRecvAt = now;
    this.keepaliveProbes = 0;

    // RFC 7323 §4.3: remember the timestamp of the segment that covers Last.ACK.sent.
    if (this.tsOk && seg.hasTimestamp && seqLe(seq, this.lastAckSent) && seqGe(seg.tsVal, this.tsRecent)) {
      this.tsRecent = seg.tsVal;
    }

    // Trim to the window (§3.10.7.4 "segment text").
    let off = 0;
    if (len > 0) {
      if (seqLt(seq, this.rcvNxt)) {
        const d = seqDiff(this.rcvNxt, seq);
        this.noteDuplicate(seq, Math.min(d, len));
        if (d >= len) {
          len = 0;
        } else {
          off = d;
          len -= d;
        }
        seq = this.rcvNxt;
      }
      const room = seqDiff(this.rcvAdvEnd, seq);
      const ringRoom = this.recvRing.free - seqDiff(seq, this.rcvNxt);
      const max = Math.max(0, Math.min(room, ringRoom));
      if (len > max) {
        len = max;
        fin = false;
      }
    }

    // Fifth: the ACK field.
    if (!this.processAck(seg, now)) return;

    // Seventh: segment text.
    if (len > 0 && (this.state === ESTABLISHED || this.state === FIN_WAIT_1 || this.state === FIN_WAIT_2)) {
      if (this.released && this.finQueued) {
        // Data for a socket the application closed: Linux answers with RST (RFC 9293 §3.10.4).
        this.abortWithRst();
        return;
      }
      this.receiveData(seq, data, off, len, now);
    }

    // Eighth: FIN.
    if (fin) {
      const finSeq = seqAdd(seq, len);
      if (finSeq === this.rcvNxt) this.receiveFin(now);
      else if (seqGt(finSeq, this.rcvNxt)) this.oooFin = finSeq;
    }
  }

  /** Returns false when the segment must be dropped. */
  private processAck(seg: TcpRepr, now: number): boolean {
    const ack = seg.ack;
    if (this.state === SYN_RECEIVED) {
      if (seqLe(ack, this.sndUna) || seqGt(ack, this.sndMax)) {
        this.ctx.replyRst(this, seg);
        return false;
      }
      if (this.listener && !this.ctx.established(this)) return false; // accept queue full: drop the ACK
      this.enterEstablished(now);
      this.sndWnd = seg.window << this.sndShift;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (!this.listener) this.emitEvents(SocketEvent.Connected | SocketEvent.Writable);
      if (this.finQueued) this.state = FIN_WAIT_1;
    }
    // RFC 5961 §5.2: acceptable ACKs lie in [sndUna - maxSndWnd, sndMax].
    if (seqGt(ack, this.sndMax)) {
      this.ackNow = true;
      this.ctx.markOutput(this);
      return false;
    }
    if (seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      this.sendChallengeAck(now);
      return false;
    }
    const wnd = seg.window << this.sndShift;
    // RFC 1122 §4.2.2.17: a peer that answers zero-window probes is alive; keep probing
    // (Linux tcp_ack() clears icsk_probes_out for every ACK that is not older than SND.UNA).
    if (seqGe(ack, this.sndUna)) this.probesOut = 0;
    if (this.sackOk && seg.sackCount > 0) this.takeSack(seg, now);
    if (seqGt(ack, this.sndUna)) {
      this.newAck(seg, ack, now);
    } else if (
      ack === this.sndUna &&
      this.sndMax !== this.sndUna &&
      seg.headerLength !== 0 &&
      wnd === this.sndWnd &&
      (seg.flags & (SYN | FIN)) === 0
    ) {
      this.dupAck(now);
    }
    // §3.10.7.4: window update when the segment is newer than the last one used.
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      const opened = wnd > this.sndWnd;
      this.sndWnd = wnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
      if (wnd > 0) {
        this.persistAt = Infinity;
        this.persistShift = 0;
      }
      if (opened) this.ctx.markOutput(this);
    }
    return this.state !== CLOSED;
  }

  private takeSack(seg: TcpRepr, now: number): void {
    if (!this.sacked) this.sacked = new SeqRangeSet();
    let grew = false;
    for (let i = 0; i < seg.sackCount; i++) {
      const s = seg.sack[i * 2]!;
      const e = seg.sack[i * 2 + 1]!;
      // RFC 2018 §4: ignore blocks outside (sndUna, sndMax]; a D-SACK below una is ignored too.
      if (seqLe(e, this.sndUna) || seqGt(e, this.sndMax) || seqGe(s, e)) continue;
      if (this.sacked.add(seqMax(s, this.sndUna), e)) grew = true;
    }
    if (!grew) return;
    if (this.inRecovery) {
      this.ctx.markOutput(this);
    } else if (this.reoAt === Infinity) {
      // RFC 8985 §6.2 (simplified): a hole below SACKed data counts as lost once a
      // reordering window (min RTT / 4) has passed without it being filled.
      this.reoAt = now + this.reorderWindow();
    }
  }

  private reorderWindow(): number {
    const base = this.minRtt === Infinity ? 1 : (this.minRtt / 4) * this.reoMult;
    return Math.max(this.srtt > 0 ? Math.min(base, this.srtt) : base, 0.25);
  }

  /** Remember what a loss response changes, so a spurious one can be undone. */
  private noteLossResponse(now: number): void {
    this.priorCwnd = this.cc.cwnd;
    this.priorSsthresh = this.cc.ssthresh;
    this.recoveryUna = this.sndUna;
    this.rtxTs = this.tsOk ? this.tsNow(now) : -1;
  }

  /**
   * RFC 3522 §3.2: the first ACK covering the first retransmission echoes a timestamp
   * older than that retransmission when the original arrived: the loss was not real.
   * Restore cwnd/ssthresh (RFC 4015 §3) and widen the reordering window.
   */
  private checkSpurious(seg: TcpRepr, ack: number): void {
    if (this.rtxTs < 0 || !seg.hasTimestamp || !seqGt(ack, this.recoveryUna)) return;
    const spurious = seqLt(seg.tsEcr, this.rtxTs);
    this.rtxTs = -1;
    if (!spurious) return;
    this.ctx.host.count('tcp.spuriousRetransmits');
    if (this.ccSaved !== undefined) this.cc.restore(this.ccSaved);
    this.cc.cwnd = Math.max(this.cc.cwnd, this.priorCwnd);
    this.cc.ssthresh = Math.max(this.cc.ssthresh, this.priorSsthresh);
    if (this.inRecovery) {
      this.inRecovery = false;
      this.dupAcks = 0;
    }
    if (seqLt(this.sndNxt, this.sndMax)) this.sndNxt = this.sndMax; // stop a go-back-N resend
    if (this.reoMult < 16) this.reoMult++;
  }

  private rttSample(seg: TcpRepr, now: number, synAcked: boolean): void {
    let r = -1;
    if (this.tsOk && seg.hasTimestamp && seg.tsEcr !== 0) {
      const d = seqDiff(this.tsNow(now), seg.tsEcr);
      if (d >= 0) r = d;
    } else if (this.rttSeq >= 0 && seqGe(seg.ack, this.rttSeq)) {
      r = now - this.rttTime;
      this.rttSeq = -1;
    }
    if (r < 0 || (synAcked && this.retries > 0 && !this.tsOk)) return;
    if (r < this.minRtt) this.minRtt = r;
    // RFC 6298 §2.
    if (this.srtt === 0) {
      this.srtt = Math.max(r, 0.001);
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    const c = this.ctx.config;
    this.rto = Math.min(c.maxRto, Math.max(c.minRto, this.srtt + Math.max(1, 4 * this.rttvar)));
  }

  private newAck(seg: TcpRepr, ack: number, now: number): void {
    const acked = seqDiff(ack, this.sndUna);
    const flightBefore = seqDiff(this.sndMax, this.sndUna);
    // Data bytes acknowledged (the SYN and FIN take sequence space but not ring space).
    const dataEnd = seqAdd(this.sndBase, this.sendRing.length);
    const dataAcked = seqDiff(seqGt(ack, dataEnd) ? dataEnd : ack, this.sndBase);
    if (dataAcked > 0) {
      this.sendRing.consume(dataAcked);
      this.sndBase = seqAdd(this.sndBase, dataAcked);
    }
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    if (seqLt(this.highRxt, ack)) this.highRxt = ack;
    this.rttSample(seg, now, false);
    this.checkSpurious(seg, ack);
    this.retries = 0;
    if (this.sacked) this.sacked.trimBelow(ack);

    if (this.inRecovery) {
      if (seqGe(ack, this.recoverSeq)) {
        // RFC 6582 §3.2 step 3 / RFC 6675 §5: full acknowledgment ends recovery.
        this.inRecovery = false;
        this.cc.cwnd = Math.max(this.cc.ssthresh, this.smss);
        this.dupAcks = 0;
      } else if (!this.sackOk) {
        // RFC 6582 §3.2 step 4: partial ACK — retransmit the next segment, deflate.
        this.highRxt = ack;
        this.rtxEnd = seqAdd(ack, this.smss);
        this.cc.cwnd = Math.max(this.cc.cwnd - acked + this.smss, this.smss);
      }
    } else {
      this.dupAcks = 0;
      if (dataAcked > 0) {
        const limited = this.cwndLimited || flightBefore >= this.cc.cwnd - 2 * this.smss;
        // After our GSO super-segments the peer ACKs many segments at once (as after GRO):
        // count such a stretch ACK as the ACKs of every second segment it stands for, so
        // slow start's per-ACK limit (RFC 3465 L = 2 SMSS) does not stall the window.
        const step = this.sentGso ? 2 * this.smss : dataAcked;
        for (let left = dataAcked; left > 0; left -= step)
          this.cc.onAck(Math.min(left, step), this.smss, now, this.srtt, limited);
      }
    }

    // Our FIN acknowledged?
    const finAcked = this.finQueued && seqGt(ack, dataEnd);
    if (finAcked) {
      if (this.state === FIN_WAIT_1) {
        this.state = FIN_WAIT_2;
        if (this.released) this.closeAt = now + FIN_WAIT_2_TIMEOUT;
      } else if (this.state === CLOSING) {
        this.enterTimeWait(now);
      } else if (this.state === LAST_ACK) {
        this.toClosed();
        return;
      }
    }

    this.rtoAt = this.sndUna === this.sndMax ? Infinity : now + this.rto;
    this.armTlp(now);
    if (this.sacked === undefined || this.sacked.count === 0) this.reoAt = Infinity;
    if (this.sendWasFull && this.sendRing.free >= this.sendRing.capacity >>> 1) {
      this.sendWasFull = false;
      this.emitEvents(SocketEvent.Writable);
    }
    if (this.sendRing.length === 0) this.armIdleRelease(now);
    this.ctx.markOutput(this);
  }

  private dupAck(now: number): void {
    this.dupAcks++;
    if (this.inRecovery) {
      if (!this.sackOk) this.cc.cwnd += this.smss; // RFC 6582 §3.2 step 4 inflation
      this.ctx.markOutput(this);
      return;
    }
    // Once reordering has been seen (a spurious recovery was undone), a duplicate-ACK count
    // proves nothing: wait for the reordering window instead (RFC 8985 §6.2).
    if (this.sackOk && this.reoMult > 1) return;
    const sackedEnough =
      this.sackOk && this.sacked !== undefined && this.sacked.bytes() >= DUP_THRESH * this.smss;
    if ((this.dupAcks >= DUP_THRESH || sackedEnough) && seqGt(this.sndUna, this.recoverSeq)) {
      this.enterRecovery(now);
    } else if (this.dupAcks >= DUP_THRESH && this.sndUna === this.recoverSeq) {
      this.enterRecovery(now);
    }
  }

  /** RFC 6675 §5 / RFC 6582 §3.2 step 2: fast retransmit and recovery. */
  private enterRecovery(now: number): void {
    const flight = seqDiff(this.sndMax, this.sndUna);
    this.noteLossResponse(now);
    this.ccSaved = this.cc.save();
    this.inRecovery = true;
    this.rtxScanAt = now;
    this.reoAt = Infinity;
    this.tlpAt = Infinity;
    this.forceRtx = true;
    this.recoverSeq = this.sndMax;
    this.cc.onLoss(flight, this.smss, now);
    this.highRxt = this.sndUna;
    this.rtxEnd = seqAdd(this.sndUna, this.smss);
    if (!this.sackOk) this.cc.cwnd = this.cc.ssthresh + DUP_THRESH * this.smss;
    this.rttSeq = -1;
    this.ctx.markOutput(this);
  }

  private noteDuplicate(seq: number, len: number): void {
    if (!this.sackOk || len <= 0) return;
    this.dsackStart = seq;
    this.dsackLen = len;
    this.ackNow = true;
    this.ctx.markOutput(this);
    this.ctx.host.count('tcp.duplicateData');
  }

  private receiveData(seq: number, data: Uint8Array, off: number, len: number, now: number): void {
    const ring = this.recvRing;
    // The estimate of the peer's segment size (RFC 9293 §3.8.6.2.2, RFC 5681 §4.2 "full-sized"):
    // a segment longer than our MSS is a GSO/GRO super-segment of many, not one big one.
    if (len > this.rcvMss && len <= this.ourMss()) this.rcvMss = len;
    if (seq === this.rcvNxt) {
      ring.writeAt(ring.length, data, off, len);
      ring.commit(len);
      this.rcvNxt = seqAdd(this.rcvNxt, len);
      let filled = false;
      const ooo = this.ooo;
      if (ooo && ooo.count > 0) {
        ooo.trimBelow(this.rcvNxt);
        if (ooo.count > 0 && ooo.r[0] === this.rcvNxt) {
          const end = ooo.r[1]!;
          const n = seqDiff(end, this.rcvNxt);
          ring.commit(n);
          this.rcvNxt = end;
          ooo.trimBelow(end);
        }
        filled = true;
      }
      if (this.oooFin >= 0 && this.oooFin === this.rcvNxt) {
        this.oooFin = -1;
        this.receiveFin(now);
      }
      this.unackedBytes += len;
      if (filled || this.unackedBytes >= 2 * this.rcvMss) {
        this.ackNow = true;
        this.ctx.markOutput(this);
      } else if (this.delackAt === Infinity) {
        this.delackAt = now + this.ctx.config.delayedAckTimeout;
      }
      this.emitEvents(SocketEvent.Readable);
    } else {
      // Out of order (RFC 9293 §3.10.7.4, RFC 5681 §4.2): keep it, ACK at once with SACK.
      ring.writeAt(ring.length + seqDiff(seq, this.rcvNxt), data, off, len);
      if (!this.ooo) this.ooo = new SeqRangeSet();
      if (!this.ooo.add(seq, seqAdd(seq, len))) this.noteDuplicate(seq, len);
      this.ackNow = true;
      this.ctx.markOutput(this);
    }
  }

  private receiveFin(now: number): void {
    if (this.finReceived) return;
    this.finReceived = true;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackNow = true;
    this.ctx.markOutput(this);
    switch (this.state) {
      case SYN_RECEIVED:
      case ESTABLISHED:
        this.state = CLOSE_WAIT;
        break;
      case FIN_WAIT_1:
        this.state = CLOSING;
        break;
      case FIN_WAIT_2:
        this.enterTimeWait(now);
        break;
    }
    this.emitEvents(SocketEvent.Readable | SocketEvent.PeerClosed);
  }

  private onReset(): void {
    // RFC 9293 §3.10.7.4 second: a passive child just disappears; others report the reset.
    switch (this.state) {
      case SYN_RECEIVED:
        if (this.listener) this.toClosed();
        else this.fail(SocketError.ECONNREFUSED);
        break;
      case ESTABLISHED:
      case FIN_WAIT_1:
      case FIN_WAIT_2:
      case CLOSE_WAIT:
        this.fail(SocketError.ECONNRESET);
        break;
      default:
        this.toClosed();
    }
  }

  // ---------------------------------------------------------------- closing

  private enterTimeWait(now: number): void {
    this.state = TIME_WAIT;
    this.rtoAt = Infinity;
    this.persistAt = Infinity;
    this.keepaliveAt = Infinity;
    this.closeAt = now + 2 * this.ctx.config.msl;
    this.sendRing.release();
    this.ctx.timeWait(this);
    this.emitEvents(SocketEvent.Closed);
    this.ctx.schedule(this);
  }

  /** A TIME-WAIT socket got its peer's FIN again: ACK it and restart the 2MSL wait (§3.10.7.4). */
  timeWaitFin(now: number): void {
    this.ackNow = true;
    this.closeAt = now + 2 * this.ctx.config.msl;
    this.ctx.markOutput(this);
  }

  /** Records an error, closes, reports Error|Closed. */
  fail(err: SocketError): void {
    if (this.state === CLOSED) return;
    this.error = err;
    this.toClosed();
    this.emitEvents(SocketEvent.Error | SocketEvent.Closed | SocketEvent.Readable);
  }

  toClosed(): void {
    const wasClosed = this.state === CLOSED;
    const wasListen = this.state === LISTEN;
    const wasTimeWait = this.state === TIME_WAIT;
    this.state = CLOSED;
    this.rtoAt = this.delackAt = this.persistAt = this.keepaliveAt = this.closeAt = Infinity;
    this.tlpAt = this.reoAt = this.idleAt = Infinity;
    this.ackNow = false;
    if (!wasClosed) {
      this.ctx.closed(this);
      if (!wasListen && !wasTimeWait && this.error === 0) this.emitEvents(SocketEvent.Closed);
    }
  }

  /** Sends RST on the next poll and closes (RFC 9293 §3.10.5 ABORT). */
  abortWithRst(): void {
    const sync = this.state >= ESTABLISHED || this.state === SYN_RECEIVED;
    if (sync) {
      this.rstPending = true;
      this.ctx.markOutput(this);
    }
    this.toClosed();
  }

  /** Queues a FIN after the data (RFC 9293 §3.10.4 CLOSE). */
  shutdown(): 0 | SocketError {
    switch (this.state) {
      case ESTABLISHED:
        this.finQueued = true;
        this.state = FIN_WAIT_1;
        break;
      case CLOSE_WAIT:
        this.finQueued = true;
        this.state = LAST_ACK;
        break;
      case SYN_SENT:
      case SYN_RECEIVED:
        this.finQueued = true;
        break;
      case FIN_WAIT_1:
      case FIN_WAIT_2:
      case CLOSING:
      case LAST_ACK:
      case TIME_WAIT:
        return 0;
      default:
        return SocketError.ENOTCONN;
    }
    this.ctx.markOutput(this);
    return 0;
  }

  // ---------------------------------------------------------------- application calls

  send(data: Uint8Array): number {
    const took = this.sendRing.write(data);
    if (took < data.length) this.sendWasFull = true;
    if (took > 0 && this.state !== SYN_SENT && this.state !== SYN_RECEIVED) this.ctx.markOutput(this);
    return took;
  }

  recv(into: Uint8Array, now: number): number {
    const n = this.recvRing.read(into);
    if (n > 0) {
      if (this.recvRing.length === 0 && this.idleAt === Infinity) {
        this.armIdleRelease(now);
        this.ctx.schedule(this);
      }
      // Window update once the window can grow by enough (RFC 9293 §3.8.6.2.2; RFC 1122 §4.2.3.3).
      const potential = seqAdd(this.rcvNxt, Math.min(this.recvRing.free, 65535 << this.rcvShift));
      const grow = seqDiff(potential, this.rcvAdvEnd);
      if (
        this.synchronized &&
        !this.finReceived &&
        grow >= Math.min(this.recvRing.capacity >>> 1, 2 * this.rcvMss)
      ) {
        const advertised = seqDiff(this.rcvAdvEnd, this.rcvNxt);
        if (advertised < this.recvRing.capacity >>> 1) {
          this.ackNow = true;
          this.ctx.markOutput(this);
        }
      }
    }
    return n;
  }

  // ---------------------------------------------------------------- timers

  nextDeadline(): number {
    return Math.min(
      this.rtoAt,
      this.delackAt,
      this.persistAt,
      this.keepaliveAt,
      this.closeAt,
      this.tlpAt,
      this.reoAt,
      this.idleAt,
    );
  }

  onTimer(now: number): void {
    if (this.closeAt <= now) {
      this.closeAt = Infinity;
      if (this.state === TIME_WAIT || this.state === FIN_WAIT_2) {
        this.toClosed();
        return;
      }
    }
    if (this.rtoAt <= now) this.onRto(now);
    if (this.state === CLOSED) return;
    if (this.tlpAt <= now) this.onTlp(now);
    if (this.reoAt <= now) {
      this.reoAt = Infinity;
      const sacked = this.sacked;
      if (sacked && sacked.count > 0 && seqLt(this.sndUna, sacked.r[0]!)) {
        if (!this.inRecovery) this.enterRecovery(now);
        else this.ctx.markOutput(this); // sendData re-scans the holes when they are overdue
      }
    }
    if (this.persistAt <= now) {
      // RFC 9293 §3.8.6.1: probe the zero window, for as long as the peer answers (RFC 1122
      // §4.2.2.17); maxRetries probes in a row without an answer end the connection (Linux
      // tcp_probe_timer()). The interval backs off up to maxRto.
      this.persistAt = Infinity;
      if (this.sndWnd === 0 && this.sendRing.length > 0) {
        const c = this.ctx.config;
        if (this.probesOut >= c.maxRetries) {
          this.ctx.host.count('tcp.timeouts');
          this.fail(SocketError.ETIMEDOUT);
          return;
        }
        this.sendProbe(now);
        this.probesOut++;
        this.ctx.host.count('tcp.zeroWindowProbes');
        this.persistShift++;
        this.persistAt = now + Math.min(this.rto * 2 ** this.persistShift, c.maxRto);
      }
    }
    if (this.delackAt <= now) {
      this.delackAt = Infinity;
      this.ackNow = true;
      this.ctx.markOutput(this);
    }
    if (this.keepaliveAt <= now) this.onKeepalive(now);
    if (this.idleAt <= now) {
      this.idleAt = Infinity;
      this.releaseIdleStorage();
    }
    this.ctx.schedule(this);
  }

  private onRto(now: number): void {
    this.rtoAt = Infinity;
    this.tlpAt = Infinity;
    this.reoAt = Infinity;
    if (this.sndUna === this.sndMax) return;
    const c = this.ctx.config;
    const syn = this.state === SYN_SENT || this.state === SYN_RECEIVED;
    // A timeout into a window the peer closed under data in flight resends as a zero-window
    // probe (below). A peer that answers those is alive: like persist probes they count
    // only while unanswered, not as retries (Linux tcp_retransmit_timer(): "our retransmits
    // become zero probes, but we should not timeout this connection").
    const probing = !syn && this.sndWnd === 0;
    if (probing ? this.probesOut >= c.maxRetries : this.retries >= (syn ? c.maxSynRetries : c.maxRetries)) {
      this.ctx.host.count('tcp.timeouts');
      if (this.listener && this.state === SYN_RECEIVED) this.toClosed();
      else this.fail(SocketError.ETIMEDOUT);
      return;
    }
    // The first timeout of an episode reduces the window once (RFC 5681 §3.1 eq. 4). Probes
    // count it as one retry at most, so a long answered probing phase uses up none.
    let first: boolean;
    if (probing) {
      this.probesOut++;
      first = this.retries === 0;
      if (first) this.retries = 1;
    } else {
      this.retries++;
      first = this.retries === 1;
    }
    // RFC 6298 §5.5: back off.
    this.rto = Math.min(this.rto * 2, c.maxRto);
    this.retransmits++;
    this.ctx.host.count('tcp.rtoTimeouts');
    if (syn) {
      this.sndNxt = this.iss;
    } else {
      const flight = seqDiff(this.sndMax, this.sndUna);
      // RFC 5681 §3.1 eq. 4: reduce once per loss episode; further timeouts keep ssthresh.
      if (first) {
        if (!this.inRecovery) {
          this.noteLossResponse(now);
          this.ccSaved = this.cc.save();
        } else {
          this.rtxTs = -1;
        }
        this.cc.onRto(flight, this.smss, now);
      } else {
        this.cc.cwnd = this.smss;
        this.rtxTs = -1;
      }
      this.recoverSeq = this.sndMax;
      this.inRecovery = false;
      this.dupAcks = 0;
      this.sndNxt = this.sndUna;
      this.highRxt = this.sndUna;
      this.rttSeq = -1;
      if (this.sndWnd === 0) this.zeroWindowProbe(now);
    }
    this.rtoAt = now + this.rto;
    this.ctx.markOutput(this);
  }

  /**
   * RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: a timeout with the window closed resends the
   * head (at most one SMSS) as a probe: the update that reopened the window may have been
   * lost, and the answer carries the window. The probe lies outside the window, so SND.NXT
   * stays at SND.UNA: the ACKs we send meanwhile keep a SEQ the peer accepts, and once the
   * window opens sending resumes at SND.UNA (the probe's data was most likely dropped).
   */
  private zeroWindowProbe(now: number): void {
    const avail = seqDiff(seqAdd(this.sndBase, this.sendRing.length), this.sndUna);
    if (avail <= 0) return; // only the FIN is outstanding: sendData resends it
    this.emitSegment(now, this.sndUna, ACK, Math.min(avail, this.smss));
    this.ctx.host.count('tcp.zeroWindowProbes');
  }

  /**
   * SEG.SEQ of a segment without data: SND.NXT, but never beyond the right edge of the
   * peer's window (Linux tcp_acceptable_seq()). After the window shrank under data in
   * flight, SND.NXT lies outside it and a strict peer (RFC 9293 §3.10.7.4) would drop the
   * ACK, window update and all.
   */
  private ackSeq(): number {
    if (!this.synchronized) return this.sndNxt;
    const wndEnd = seqAdd(this.sndUna, this.sndWnd);
    return seqGt(this.sndNxt, wndEnd) ? wndEnd : this.sndNxt;
  }

  /** Rings are kept while a connection is busy and freed after IDLE_RELEASE of emptiness. */
  armIdleRelease(now: number): void {
    if (this.idleAt === Infinity) this.idleAt = now + IDLE_RELEASE;
  }

  private releaseIdleStorage(): void {
    if (this.sendRing.length === 0 && this.sndUna === this.sndMax) this.sendRing.release();
    if (this.recvRing.length === 0 && (this.ooo === undefined || this.ooo.count === 0))
      this.recvRing.release();
  }

  /** RFC 8985 §7.2: PTO = 2·SRTT + 2 ms (+ a delayed-ACK allowance for a single segment), at most the RTO. */
  private armTlp(now: number): void {
    if (
      !this.sackOk ||
      this.inRecovery ||
      this.srtt === 0 ||
      this.sndUna === this.sndMax ||
      this.state < ESTABLISHED
    ) {
      this.tlpAt = Infinity;
      return;
    }
    // Linux's allowance on top of 2·SRTT: 2 ms (TCP_TIMEOUT_MIN), so a near-zero SRTT
    // (a handshake over an in-process link) does not fire a probe right behind every burst.
    let pto = 2 * this.srtt + 2;
    if (seqDiff(this.sndMax, this.sndUna) <= this.smss) pto += this.ctx.config.delayedAckTimeout * 5;
    this.tlpAt = now + Math.min(pto, this.rto);
  }

  /** RFC 8985 §7.3: send one new segment if possible, else the last one again. */
  private onTlp(now: number): void {
    this.tlpAt = Infinity;
    if (this.sndUna === this.sndMax) return;
    if (this.inRecovery && !(this.sacked && seqGt(this.sndMax, this.sacked.highest(this.sndUna)))) return;
    const dataEnd = seqAdd(this.sndBase, this.sendRing.length);
    const room = seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndMax);
    const avail = seqDiff(dataEnd, this.sndMax);
    let seq: number;
    let len: number;
    if (avail > 0 && room > 0 && this.sndNxt === this.sndMax) {
      seq = this.sndMax;
      len = Math.min(avail, room, this.smss);
    } else {
      const dataSent = seqDiff(seqGt(this.sndMax, dataEnd) ? dataEnd : this.sndMax, this.sndUna);
      len = Math.min(this.smss, Math.max(dataSent, 0));
      seq = seqAdd(seqGt(this.sndMax, dataEnd) ? dataEnd : this.sndMax, -len);
      // Not beyond a window the peer shrank (Linux __tcp_retransmit_skb()): it would drop
      // the probe, and the ACK riding on it. The RTO probes at SND.UNA instead.
      if (seq !== this.sndUna && !seqLt(seq, seqAdd(this.sndUna, this.sndWnd))) return;
    }
    let fin = this.finQueued && seqAdd(seq, len) === dataEnd && seqGt(this.sndMax, dataEnd);
    if (len === 0 && !fin) return;
    const took = this.emitSegment(now, seq, ACK | (fin ? FIN : 0), len);
    if (took < len) fin = false;
    this.ctx.host.count('tcp.tlpProbes');
    const sent = seqAdd(seq, took + (fin ? 1 : 0));
    if (seqGt(sent, this.sndMax)) {
      this.sndMax = sent;
      this.sndNxt = sent;
    } else {
      this.retransmits++;
    }
    this.rtoAt = now + this.rto;
  }

  private onKeepalive(now: number): void {
    this.keepaliveAt = Infinity;
    if (this.keepAliveIdle <= 0 || !(this.state === ESTABLISHED || this.state === CLOSE_WAIT)) return;
    // Compare deadlines, not differences: (a + b) - a may round below b.
    const due = this.lastRecvAt + this.keepAliveIdle;
    if (due > now && this.keepaliveProbes === 0) {
      this.keepaliveAt = due;
      return;
    }
    if (this.keepaliveProbes >= KEEPALIVE_PROBES) {
      this.fail(SocketError.ETIMEDOUT);
      return;
    }
    // RFC 1122 §4.2.3.6: a probe is an ACK with SEG.SEQ = SND.NXT - 1.
    this.keepaliveProbes++;
    this.sendProbe(now);
    this.keepaliveAt = now + Math.min(KEEPALIVE_INTERVAL, this.keepAliveIdle);
  }

  setKeepAlive(idle: number, now: number): void {
    this.keepAliveIdle = idle;
    this.keepaliveProbes = 0;
    this.keepaliveAt = idle > 0 && this.synchronized ? now + idle : Infinity;
    this.ctx.schedule(this);
  }

  // ---------------------------------------------------------------- output

  /** Sends whatever is due: SYN, data, retransmissions, FIN, ACK, RST. */
  output(now: number): void {
    if (this.rstPending) {
      this.rstPending = false;
      this.emitSegment(now, this.sndMax, RST | ACK, 0);
      return;
    }
    const st = this.state;
    if (st === CLOSED || st === LISTEN) return;
    if ((st === SYN_SENT || st === SYN_RECEIVED) && this.sndNxt === this.iss) {
      this.emitSegment(now, this.iss, st === SYN_SENT ? SYN : SYN | ACK, 0);
      this.sndNxt = seqAdd(this.iss, 1);
      if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
      if (this.rtoAt === Infinity) this.rtoAt = now + this.rto;
      this.ctx.schedule(this);
      return;
    }
    if (st === SYN_SENT || st === SYN_RECEIVED) return;
    if (st !== TIME_WAIT && st !== FIN_WAIT_2) this.sendData(now);
    if (this.ackNow) this.emitSegment(now, this.ackSeq(), ACK, 0);
    this.ctx.schedule(this);
  }

  private sendProbe(now: number): void {
    this.emitSegment(now, seqAdd(this.sndUna, -1), ACK, 0);
  }

  private sendData(now: number): void {
    const ring = this.sendRing;
    const smss = this.smss;
    const cc = this.cc;
    for (let guard = 0; guard < 100000; guard++) {
      const una = this.sndUna;
      const dataEnd = seqAdd(this.sndBase, ring.length);
      const wndEnd = seqAdd(una, this.sndWnd);
      const sacked = this.sacked;
      let seq: number;
      let flight: number;
      if (this.inRecovery) {
        if (this.sackOk) {
          // RFC 6675 §4 NextSeg(): the first unSACKed hole below the highest SACK.
          let s = seqMax(this.highRxt, una);
          let high = una;
          if (sacked) {
            for (let e = sacked.endOfRangeAt(s); e !== -1; e = sacked.endOfRangeAt(s)) s = e;
            high = sacked.highest(una);
            if (!seqLt(s, high) && seqLt(una, high)) {
              if (now - this.rtxScanAt > this.srtt + this.reorderWindow()) {
                // Every hole was resent an RTT ago and some are still open: those resends were
                // lost too (RFC 8985 §6.2 applied to retransmissions); start over.
                this.highRxt = una;
                this.rtxScanAt = now;
                this.reoAt = Infinity;
                this.forceRtx = true;
                s = una;
                for (let e = sacked.endOfRangeAt(s); e !== -1; e = sacked.endOfRangeAt(s)) s = e;
              } else if (this.reoAt === Infinity) {
                // RFC 8985 §6.3-style timer: re-scan if the resends are still missing then.
                this.reoAt = Math.max(this.rtxScanAt + this.srtt + this.reorderWindow() + 0.001, now + 0.25);
              }
              // Data above the highest SACK can only be found lost by a probe: allow one
              // tail loss probe during recovery too (as Linux does with RACK).
              if (this.tlpAt === Infinity && seqGt(this.sndMax, high)) {
                this.tlpAt = now + Math.min(Math.max(2 * this.srtt, 1), this.rto);
              }
            }
          }
          const pipe = this.pipe();
          if (cc.cwnd - pipe < smss && !(this.forceRtx && seqLt(s, high))) {
            this.cwndLimited = true;
            return;
          }
          this.forceRtx = false;
          if (sacked) {
            if (seqLt(s, high)) {
              const nextSacked = sacked.nextStartAfter(s);
              let len = Math.min(
                smss,
                seqDiff(nextSacked === -1 ? high : nextSacked, s),
                seqDiff(dataEnd, s),
              );
              const finHere =
                this.finQueued && len >= 0 && seqAdd(s, len) === dataEnd && seqGt(this.sndMax, dataEnd);
              if (len < 0) len = 0;
              if (len > 0 || finHere) {
                const took = this.emitSegment(now, s, ACK | (finHere ? FIN : 0), len);
                this.highRxt = seqAdd(s, took + (finHere && took === len ? 1 : 0));
                this.retransmits++;
                this.ctx.host.count('tcp.retransmits');
                continue;
              }
            }
          }
          seq = this.sndMax;
          flight = pipe;
        } else {
          if (seqLt(this.highRxt, this.rtxEnd) && seqLt(this.highRxt, this.sndMax)) {
            const s = seqMax(this.highRxt, una);
            const len = Math.max(0, Math.min(smss, seqDiff(this.rtxEnd, s), seqDiff(dataEnd, s)));
            const finHere = this.finQueued && seqAdd(s, len) === dataEnd && seqGt(this.sndMax, dataEnd);
            if (len > 0 || finHere) {
              const took = this.emitSegment(now, s, ACK | (finHere ? FIN : 0), len);
              this.highRxt = seqAdd(s, took + (finHere && took === len ? 1 : 0));
              this.retransmits++;
              this.ctx.host.count('tcp.retransmits');
              continue;
            }
            this.highRxt = this.rtxEnd;
          }
          seq = this.sndMax;
          flight = seqDiff(this.sndMax, una);
        }
      } else {
        seq = this.sndNxt;
        if (sacked && sacked.count > 0 && seqLt(seq, this.sndMax)) {
          for (let e = sacked.endOfRangeAt(seq); e !== -1; e = sacked.endOfRangeAt(seq)) seq = e;
          if (seqGt(seq, this.sndMax)) seq = this.sndMax;
          this.sndNxt = seq;
        }
        flight = seqDiff(seq, una);
        if (sacked && sacked.count > 0) flight -= sacked.bytesIn(una, seq);
      }
      const avail = Math.max(0, seqDiff(dataEnd, seq));
      const wndRoom = seqDiff(wndEnd, seq);
      const cwndRoom = Math.floor(cc.cwnd - flight);
      // New data may go as one GSO super-segment of whole segments (emitSegment).
      const most = this.inRecovery || seqLt(seq, this.sndMax) ? smss : this.gsoBurst(smss);
      let len = Math.min(avail, most, Math.max(wndRoom, 0), Math.max(cwndRoom, 0));
      if (len > smss && len < avail) len -= len % smss;
      const finPossible = this.finQueued && seqLe(seq, dataEnd) && seqAdd(seq, len) === dataEnd;
      const finSent = this.finQueued && seqGt(this.sndMax, dataEnd);
      const isRtx = seqLt(seq, this.sndMax);
      if (len <= 0 && !(finPossible && (isRtx || !finSent))) {
        if (avail > 0) {
          if (wndRoom <= 0) {
            // RFC 9293 §3.8.6.1: zero window with nothing in flight starts the persist timer.
            if (una === this.sndMax && this.persistAt === Infinity) {
              this.persistAt = now + this.rto;
            }
            this.cwndLimited = false;
          } else {
            this.cwndLimited = true;
          }
        } else {
          this.cwndLimited = false;
        }
        return;
      }
      if (len < smss && len < avail && !isRtx) {
        // Limited by window or cwnd: sender SWS avoidance (RFC 9293 §3.8.6.2.1).
        if (cwndRoom < smss && cwndRoom <= wndRoom) {
          this.cwndLimited = true;
          return;
        }
        if (len < this.maxSndWnd / 2 && una !== this.sndMax) return;
      }
      if (len === avail && len < smss && !isRtx && !finPossible) {
        // Nagle (RFC 896, RFC 9293 §3.7.4): hold a small segment while data is unacknowledged.
        if (!this.noDelay && una !== this.sndMax) return;
      }
      let fin = finPossible && (isRtx || !finSent || seqLe(seq, dataEnd));
      let flags = ACK;
      if (fin) flags |= FIN;
      if (len > 0 && seqAdd(seq, len) === dataEnd) flags |= PSH;
      const took = this.emitSegment(now, seq, flags, len);
      if (took < len) {
        len = took;
        fin = false;
      }
      if (isRtx) {
        this.retransmits++;
        this.ctx.host.count('tcp.retransmits');
      } else if (this.rttSeq < 0 && !this.tsOk && len > 0) {
        this.rttSeq = seqAdd(seq, len);
        this.rttTime = now;
      }
      const end = seqAdd(seq, len + (fin ? 1 : 0));
      if (!this.inRecovery || !this.sackOk || !isRtx) this.sndNxt = end;
      if (seqGt(end, this.sndMax)) {
        this.sndMax = end;
        if (!isRtx && this.inRecovery) this.sndNxt = end;
      }
      if (this.inRecovery) this.sndNxt = this.sndMax;
      if (this.rtoAt === Infinity) this.rtoAt = now + this.rto;
      if (!isRtx) this.armTlp(now);
      this.persistAt = Infinity;
      if (fin) return;
    }
  }

  /** Builds one segment (in IP's transmit buffer, or the layer's scratch), checksums it and hands it to IP. */
  /**
   * Returns the payload bytes actually sent: fewer than `len` when SACK blocks leave less
   * room (RFC 9293 §3.7.1), and then without FIN.
   */
  emitSegment(now: number, seq: number, flags: number, len: number): number {
    const ctx = this.ctx;
    const r = ctx.txRepr;
    const syn = (flags & SYN) !== 0;
    r.srcPort = this.localPort;
    r.dstPort = this.remotePort;
    r.seq = seq;
    r.flags = flags;
    r.ack = flags & ACK ? this.rcvNxt : 0;
    r.urgent = 0;
    r.checksum = 0;
    r.clearOptions();
    if (flags & RST) {
      r.window = 0;
    } else {
      r.window = this.windowField(syn);
      if (syn) {
        r.mss = this.ourMss();
        // On SYN,ACK offer only what the peer offered (RFC 7323 §1.3, RFC 2018 §2).
        const passive = (flags & ACK) !== 0 && this.listener !== undefined;
        if (!passive || this.wsOk) r.wscale = this.rcvShift;
        r.sackPermitted = !passive || this.sackOk;
        if (!passive || this.tsOk) {
          r.hasTimestamp = true;
          r.tsVal = this.tsNow(now);
          r.tsEcr = flags & ACK ? this.tsRecent : 0;
        }
      } else {
        if (this.tsOk) {
          r.hasTimestamp = true;
          r.tsVal = this.tsNow(now);
          r.tsEcr = this.tsRecent;
        }
        const ooo = this.ooo;
        if (this.sackOk && ((ooo && ooo.count > 0) || this.dsackLen > 0)) this.fillSackBlocks(r, ooo);
      }
    }
    const hlen = r.emittedHeaderLength();
    const maxPayload = Math.min(this.peerMss + TCP_HEADER_LEN, this.pathMax) - hlen;
    let gso = 0;
    if (len > maxPayload) {
      // More than one segment: a GSO super-segment of whole maxPayload-byte segments when
      // the route's interface cuts them (the header, options included, repeats on each).
      let room = maxPayload;
      if (maxPayload > 0 && ctx.host.gsoMaxSize) {
        const g = ctx.host.gsoMaxSize(this.remoteAddr!);
        const ipHdr = this.remoteAddr!.version === 4 ? 20 : 40;
        const fit = g - ipHdr - hlen;
        if (fit > maxPayload) room = fit - (fit % maxPayload);
      }
      if (len > room) {
        len = Math.max(0, room);
        r.flags = flags & ~(FIN | PSH);
      }
      if (len > maxPayload) {
        gso = maxPayload;
        this.sentGso = true;
      }
    }
    // The segment is written straight into IP's transmit buffer when the host offers it
    // (one route lookup, no copy); else into the layer's scratch for sendIp to copy.
    const host = ctx.host;
    const src = this.localAddr!;
    const dst = this.remoteAddr!;
    const slot = host.reserve?.(src, dst, TCP_PROTOCOL, hlen + len, now, gso);
    const seg = slot !== undefined ? slot.segment : ctx.scratch.subarray(0, hlen + len);
    r.emit(seg, 0);
    if (len > 0) this.sendRing.peek(seqDiff(seq, this.sndBase), seg, hlen, len);
    if (slot !== undefined ? !slot.checksumOffload : host.checksumOffload?.(dst) !== true)
      fillTcpChecksum(src, dst, seg);
    if (flags & ACK) {
      this.lastAckSent = this.rcvNxt;
      this.ackNow = false;
      this.delackAt = Infinity;
      this.unackedBytes = 0;
    }
    if (slot !== undefined) host.sendReserved!(now);
    else host.sendIp(src, dst, TCP_PROTOCOL, seg, now, gso);
    ctx.host.count('tcp.segmentsSent');
    return len;
  }

  /** RFC 2018 §4: the block with the newest data first, then the others. */
  private fillSackBlocks(r: TcpRepr, ooo: SeqRangeSet | undefined): void {
    const max = this.tsOk ? 3 : 4;
    let n = 0;
    if (this.dsackLen > 0) {
      // RFC 2883 §4: the duplicate range goes first; it is reported once.
      r.sack[0] = this.dsackStart;
      r.sack[1] = seqAdd(this.dsackStart, this.dsackLen);
      n = 1;
      this.dsackLen = 0;
    }
    if (ooo === undefined || ooo.count === 0) {
      r.sackCount = n;
      return;
    }
    const base = n;
    const first = ooo.lastStart;
    const rr = ooo.r;
    for (let i = 0; i < rr.length; i += 2) {
      if (rr[i] === first) {
        r.sack[n * 2] = rr[i]!;
        r.sack[n * 2 + 1] = rr[i + 1]!;
        n++;
        break;
      }
    }
    const haveFirst = n > base;
    for (let i = 0; i < rr.length && n < max; i += 2) {
      if (haveFirst && rr[i] === first) continue;
      r.sack[n * 2] = rr[i]!;
      r.sack[n * 2 + 1] = rr[i + 1]!;
      n++;
    }
    r.sackCount = n;
  }
}
