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
import { SB_EVER_RETRANS, SB_FIN, SB_LOST, SB_RETRANS, SB_SACKED, Scoreboard } from './scoreboard.js';
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
/** RFC 8985 §6.2 step 4: recoveries before a widened reordering window shrinks back. */
const REO_WND_PERSIST = 16;
/** RFC 8985 §6.2 step 4: the largest reordering window multiplier (the window stays <= SRTT). */
const MAX_REO_WND_MULT = 16;

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
  /**
   * IpHost.gsoMaxSize towards the peer, taken with pathMax when the connection starts (a
   * route lookup per segment was a visible cost); 0: every segment at most one MSS.
   */
  gsoMax = 0;
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
  /** Spurious-retransmission detection (RFC 3522 Eifel with timestamps; RFC 4015 undo). */
  rtxTs = -1;
  recoveryUna = 0;
  priorCwnd = 0;
  priorSsthresh = 0;
  ccSaved: unknown;
  /** Lowest RTT seen (RFC 8985 §6.2 reordering window). */
  minRtt = Infinity;
  /** Earliest entry this socket has in the layer's timer heap. */
  scheduledAt = Infinity;
  queuedForOutput = false;

  // Loss recovery: one scoreboard (segments sent, their send times and SACKed / lost /
  // retransmitted marks) for RACK-TLP (RFC 8985), SACK recovery (RFC 6675) and NewReno
  // (RFC 6582) alike; the sending rate in recovery is PRR (RFC 6937), as in Linux.
  readonly sb = new Scoreboard();
  dupAcks = 0;
  /** Fast recovery (RFC 6675 §5 / RFC 6582 §3.2) until SND.UNA reaches recoverSeq. */
  inRecovery = false;
  /** RTO recovery (RFC 5681 §3.1 slow start from the loss window) until SND.UNA reaches recoverSeq. */
  inLoss = false;
  recoverSeq = 0;
  /** RFC 6937 PRR: bytes delivered and sent since recovery began, and the flight then. */
  prrDelivered = 0;
  prrOut = 0;
  recoverFs = 0;
  // RACK (RFC 8985 §5.2): the most recently sent segment delivered, its RTT, reordering.
  rackXmitTs = -1;
  rackEndSeq = 0;
  rackRtt = 0;
  /** Highest end of a delivered segment (reordering is a delivery below it). */
  rackFack = 0;
  rackReord = false;
  reoWndMult = 1;
  reoWndPersist = 0;
  /** A D-SACK widened the reordering window this round trip (until SND.UNA passes this). */
  dsackRound = -1;
  // TLP (RFC 8985 §7): the probe outstanding (SND.MAX when it went out), or -1.
  tlpHighSeq = -1;
  tlpIsRetrans = false;
  tlpSeq = 0;
  cc: CongestionControl;
  cwndLimited = false;

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
  /**
   * Segments still to ACK at once after a hole (Linux quick-ACK mode): the sender is
   * recovering and every ACK clocks out its next segment, so none waits for the delayed-ACK
   * timer (RFC 5681 §4.2 allows ACKing more often than every second segment).
   */
  quickAcks = 0;
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
    const g = this.gsoMax;
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

  /**
   * Bytes in flight, as RFC 6675 SetPipe() counts them: sent and not acknowledged, minus
   * what is SACKed or marked lost, plus retransmissions of lost segments still out.
   */
  pipe(): number {
    const sb = this.sb;
    return Math.max(0, seqDiff(this.sndMax, this.sndUna) - sb.sackedBytes - sb.lostBytes + sb.retransBytes);
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
    this.gsoMax = this.ctx.host.gsoMaxSize?.(this.remoteAddr!) ?? 0;
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
    this.gsoMax = this.ctx.host.gsoMaxSize?.(this.remoteAddr!) ?? 0;
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
    if (!this.processAck(seg, now, data.length)) return;

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
  private processAck(seg: TcpRepr, now: number, dataLen: number): boolean {
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
    // RFC 5681 §2: a duplicate ACK carries no data, no SYN or FIN, acknowledges SND.UNA,
    // advertises the same window, and arrives while data is outstanding.
    const dup =
      ack === this.sndUna &&
      this.sndMax !== this.sndUna &&
      dataLen === 0 &&
      wnd === this.sndWnd &&
      (seg.flags & (SYN | FIN)) === 0;
    let delivered = 0;
    const advanced = seqGt(ack, this.sndUna);
    // The cumulative ACK first, then the SACK blocks: a delivery below the highest one
    // delivered before is reordering (RFC 8985 §6.2 step 3), and within one ACK the
    // blocks lie above the acknowledged data.
    if (advanced) delivered += this.newAck(seg, ack, now);
    if (this.state === CLOSED) return false;
    this.dsackSeen = false;
    if (this.sackOk && seg.sackCount > 0) delivered += this.takeSack(seg, now);
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
    if (this.synchronized && this.sb.count > 0) this.lossRecovery(ack, now, delivered, dup, advanced);
    else if (advanced) this.dupAcks = 0;
    return true;
  }

  /** Set by takeSack when the ACK carried a D-SACK block (RFC 2883); dsackStart/End hold it. */
  private dsackSeen = false;
  private dsackRcvStart = 0;
  private dsackRcvEnd = 0;

  /**
   * Marks SACKed segments (RFC 2018 §4, RFC 6675 §3) and returns the bytes newly SACKed.
   * A first block below SND.UNA or inside the second is a D-SACK (RFC 2883 §4): it marks
   * nothing and widens the reordering window (RFC 8985 §6.2 step 4).
   */
  private takeSack(seg: TcpRepr, now: number): number {
    const sb = this.sb;
    let n = 0;
    for (let k = 0; k < seg.sackCount; k++) {
      const s = seg.sack[k * 2]!;
      const e = seg.sack[k * 2 + 1]!;
      if (seqGe(s, e)) continue;
      if (
        k === 0 &&
        (seqLe(e, this.sndUna) || (seg.sackCount > 1 && seqGe(s, seg.sack[2]!) && seqLe(e, seg.sack[3]!)))
      ) {
        this.dsackSeen = true;
        this.dsackRcvStart = s;
        this.dsackRcvEnd = e;
        this.ctx.host.count('tcp.dsacksReceived');
        continue;
      }
      // RFC 2018 §4: ignore blocks outside (SND.UNA, SND.MAX].
      if (seqLe(e, this.sndUna) || seqGt(e, this.sndMax)) continue;
      // Whole segments only: a peer cannot split the scoreboard into fragments.
      let i = sb.find(seqMax(s, this.sndUna));
      if (i < 0) continue;
      if (seqLt(sb.startAt(i), s)) i++;
      for (; i < sb.count && seqLe(sb.endAt(i), e); i++) {
        const f = sb.flagsAt(i);
        if (f & SB_SACKED) continue;
        n += sb.lenAt(i);
        this.rackDelivered(i, seg, now);
        sb.setFlags(i, f | SB_SACKED);
      }
    }
    if (this.dsackSeen && (this.dsackRound < 0 || seqGe(this.sndUna, this.dsackRound))) {
      // RFC 8985 §6.2 step 4: at most one increase per round trip; kept for 16 recoveries.
      if (this.reoWndMult < MAX_REO_WND_MULT) this.reoWndMult++;
      this.reoWndPersist = REO_WND_PERSIST;
      this.dsackRound = this.sndMax;
    }
    return n;
  }

  /** RFC 8985 §6.2 RACK_sent_after(): was (t1, seq1) sent after (t2, seq2)? */
  private static sentAfter(t1: number, seq1: number, t2: number, seq2: number): boolean {
    return t1 > t2 || (t1 === t2 && seqGt(seq1, seq2));
  }

  /** The ACK being processed, for onAcked (one callback for the socket's life, none per ACK). */
  private ackingSeg: TcpRepr | undefined;
  private ackingNow = 0;
  private readonly onAcked = (i: number): void => this.rackDelivered(i, this.ackingSeg!, this.ackingNow);

  /** RFC 8985 §6.2 steps 2–3: scoreboard entry i was just acknowledged or SACKed. */
  private rackDelivered(i: number, seg: TcpRepr, now: number): void {
    const sb = this.sb;
    const f = sb.flagsAt(i);
    const ts = sb.tsAt(i);
    const end = sb.endAt(i);
    const rtt = now - ts;
    if (f & SB_EVER_RETRANS) {
      // Step 2: an ambiguous delivery — the original may have arrived, not the resend.
      if (this.tsOk && seg.hasTimestamp && seg.tsEcr !== 0 && seqLt(seg.tsEcr, this.tsNow(ts))) return;
      if (rtt < this.minRtt) return;
    } else if (seqLt(end, this.rackFack)) {
      // Step 3: delivered below a segment delivered before, never resent: reordering.
      this.rackReord = true;
    }
    if (seqGt(end, this.rackFack)) this.rackFack = end;
    this.rackRtt = rtt;
    if (this.rackXmitTs < 0 || TcpSocket.sentAfter(ts, end, this.rackXmitTs, this.rackEndSeq)) {
      this.rackXmitTs = ts;
      this.rackEndSeq = end;
    }
  }

  /** RFC 8985 §6.2 step 4: the reordering window. */
  private reoWnd(): number {
    if (!this.rackReord) {
      if (this.inRecovery || this.inLoss) return 0;
      if (this.sb.sackedBytes >= DUP_THRESH * this.smss) return 0;
    }
    if (this.minRtt === Infinity) return 0;
    return Math.min((this.minRtt / 4) * this.reoWndMult, this.srtt);
  }

  /**
   * RFC 8985 §6.2 step 5: marks lost every segment sent before the most recently
   * delivered one by more than the reordering window; returns how long until the next one
   * could be (0 when none is waiting), for the reordering timer (§6.3).
   */
  private rackDetectLoss(now: number): number {
    if (this.rackXmitTs < 0) return 0;
    const sb = this.sb;
    const reo = this.reoWnd();
    let timeout = 0;
    for (let i = 0; i < sb.count; i++) {
      const f = sb.flagsAt(i);
      if (f & SB_SACKED || (f & (SB_LOST | SB_RETRANS)) === SB_LOST) continue;
      const ts = sb.tsAt(i);
      if (!TcpSocket.sentAfter(this.rackXmitTs, this.rackEndSeq, ts, sb.endAt(i))) {
        // Originals go out in sequence order: nothing after this one was sent earlier,
        // except retransmissions, which may still be older than RACK.xmit_ts.
        if ((f & SB_EVER_RETRANS) === 0) break;
        continue;
      }
      const remaining = ts + this.rackRtt + reo - now;
      if (remaining <= 0) {
        if (f & SB_RETRANS) this.ctx.host.count('tcp.lostRetransmits');
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
  private lossRecovery(ack: number, now: number, delivered: number, dup: boolean, advanced: boolean): void {
    const sb = this.sb;
    if (advanced) this.dupAcks = 0;
    if (this.sackOk) {
      const t = this.rackDetectLoss(now);
      this.reoAt = t > 0 ? now + t : Infinity;
    } else if (dup) {
      this.dupAcks++;
      // RFC 6937: without SACK a duplicate ACK stands for one delivered segment.
      delivered += this.smss;
      if (this.dupAcks === DUP_THRESH && !this.inRecovery && !this.inLoss) this.markHeadLost();
    } else if (advanced && this.inRecovery && seqLt(ack, this.recoverSeq)) {
      // RFC 6582 §3.2 step 4: a partial ACK — the first unacknowledged segment is lost too.
      this.markHeadLost();
    }
    this.tlpAck(ack, now);
    if (this.inLoss && seqGe(this.sndUna, this.recoverSeq)) this.inLoss = false;
    if (this.inRecovery && seqGe(this.sndUna, this.recoverSeq)) this.exitRecovery();
    if (!this.inRecovery && !this.inLoss && sb.pendingLost > 0) this.enterRecovery(now);
    if (this.inRecovery) this.prrUpdate(delivered);
    // Deliveries make room in the flight (RFC 6675 pipe): the ACK clocks out what may go.
    if (delivered > 0 || sb.pendingLost > 0) this.ctx.markOutput(this);
  }

  private markHeadLost(): void {
    const sb = this.sb;
    if (sb.count === 0) return;
    const f = sb.flagsAt(0);
    if ((f & (SB_SACKED | SB_LOST)) === 0) sb.setFlags(0, f | SB_LOST);
  }

  /**
   * RFC 8985 §7.4: the ACK that covers a tail loss probe ends its episode. A probe that
   * resent data and was not reported as a duplicate (D-SACK) repaired a loss: the window
   * is reduced as a fast recovery would have (Linux tcp_process_tlp_ack()).
   */
  private tlpAck(ack: number, now: number): void {
    if (this.tlpHighSeq < 0) return;
    if (
      this.tlpIsRetrans &&
      this.dsackSeen &&
      seqLe(this.dsackRcvStart, this.tlpSeq) &&
      seqGt(this.dsackRcvEnd, this.tlpSeq)
    ) {
      this.tlpHighSeq = -1;
      return;
    }
    if (seqLt(ack, this.tlpHighSeq)) return;
    this.tlpHighSeq = -1;
    if (this.tlpIsRetrans && !this.inRecovery && !this.inLoss) {
      this.cc.onLoss(seqDiff(this.sndMax, this.sndUna) + this.smss, this.smss, now);
      this.cc.cwnd = Math.max(this.cc.ssthresh, 2 * this.smss);
      this.ctx.host.count('tcp.tlpRecoveries');
    }
  }

  /** RFC 6937 §3: the congestion window for the next sends of this recovery. */
  private prrUpdate(delivered: number): void {
    const smss = this.smss;
    this.prrDelivered += delivered;
    const pipe = this.pipe();
    const ssthresh = this.cc.ssthresh;
    let sndcnt: number;
    if (pipe > ssthresh) {
      // Proportional rate reduction.
      sndcnt = Math.ceil((this.prrDelivered * ssthresh) / Math.max(this.recoverFs, 1)) - this.prrOut;
    } else {
      // Slow-start reduction bound (PRR-SSRB).
      const limit = Math.max(this.prrDelivered - this.prrOut, delivered) + smss;
      sndcnt = Math.min(ssthresh - pipe, limit);
    }
    sndcnt = Math.max(sndcnt, 0);
    // Linux: the first retransmission goes out on entering recovery whatever PRR says.
    if (this.prrOut === 0 && sndcnt < smss && this.sb.pendingLost > 0) sndcnt = smss;
    this.cc.cwnd = pipe + sndcnt;
  }

  private exitRecovery(): void {
    this.inRecovery = false;
    this.dupAcks = 0;
    // RFC 6937 §3 / RFC 6675 §5: recovery ends with cwnd = ssthresh.
    this.cc.cwnd = Math.max(this.cc.ssthresh, this.smss);
    if (this.reoWndPersist > 0 && --this.reoWndPersist === 0) this.reoWndMult = 1;
  }

  /**
   * The path MTU shrank (RFC 1191 §6.5, RFC 8201 §5.4): segments in flight larger than
   * the new SMSS were dropped on the way. Mark them lost — they are resent at the new
   * size — without a congestion response (Linux tcp_simple_retransmit()).
   */
  pathShrank(): void {
    const sb = this.sb;
    const smss = this.smss;
    for (let i = 0; i < sb.count; i++) {
      const f = sb.flagsAt(i);
      if (f & SB_SACKED) continue;
      if (sb.lenAt(i) - (f & SB_FIN ? 1 : 0) > smss) sb.setFlags(i, (f | SB_LOST) & ~SB_RETRANS);
    }
    if (sb.pendingLost > 0) this.ctx.markOutput(this);
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
   * Restore cwnd/ssthresh (RFC 4015 §3), forget the loss marks, widen the reordering window.
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
    this.inRecovery = false;
    this.inLoss = false;
    this.dupAcks = 0;
    this.sb.clearLost();
    this.rackReord = true;
    if (this.reoWndMult < MAX_REO_WND_MULT) this.reoWndMult++;
    this.reoWndPersist = REO_WND_PERSIST;
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

  /** New data acknowledged; returns the bytes it delivered that were not SACKed before. */
  private newAck(seg: TcpRepr, ack: number, now: number): number {
    const flightBefore = seqDiff(this.sndMax, this.sndUna);
    // Data bytes acknowledged (the SYN and FIN take sequence space but not ring space).
    const dataEnd = seqAdd(this.sndBase, this.sendRing.length);
    const dataAcked = seqDiff(seqGt(ack, dataEnd) ? dataEnd : ack, this.sndBase);
    if (dataAcked > 0) {
      this.sendRing.consume(dataAcked);
      this.sndBase = seqAdd(this.sndBase, dataAcked);
    }
    this.ackingSeg = seg;
    this.ackingNow = now;
    const delivered = this.sb.ackTo(ack, this.onAcked);
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    this.rttSample(seg, now, false);
    this.checkSpurious(seg, ack);
    this.retries = 0;

    // Growth outside fast recovery (in RTO recovery this is the slow start from 1 SMSS).
    if (!this.inRecovery && dataAcked > 0) {
      const limited = this.cwndLimited || flightBefore >= this.cc.cwnd - 2 * this.smss;
      // After our GSO super-segments the peer ACKs many segments at once (as after GRO):
      // count such a stretch ACK as the ACKs of every second segment it stands for, so
      // slow start's per-ACK limit (RFC 3465 L = 2 SMSS) does not stall the window.
      const step = this.sentGso ? 2 * this.smss : dataAcked;
      for (let left = dataAcked; left > 0; left -= step)
        this.cc.onAck(Math.min(left, step), this.smss, now, this.srtt, limited);
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
        return delivered;
      }
    }

    // RFC 6298 §5.2 / §5.3.
    this.rtoAt = this.sndUna === this.sndMax ? Infinity : now + this.rto;
    this.armTlp(now);
    if (this.sb.count === 0) this.reoAt = Infinity;
    if (this.sendWasFull && this.sendRing.free >= this.sendRing.capacity >>> 1) {
      this.sendWasFull = false;
      this.emitEvents(SocketEvent.Writable);
    }
    if (this.sendRing.length === 0) this.armIdleRelease(now);
    this.ctx.markOutput(this);
    return delivered;
  }

  /** RFC 6675 §5 / RFC 6582 §3.2 step 2 / RFC 9438 §4.6: a loss starts fast recovery. */
  private enterRecovery(now: number): void {
    const flight = seqDiff(this.sndMax, this.sndUna);
    this.noteLossResponse(now);
    this.ccSaved = this.cc.save();
    this.inRecovery = true;
    this.tlpAt = Infinity;
    this.recoverSeq = this.sndMax;
    this.cc.onLoss(flight, this.smss, now);
    this.prrDelivered = 0;
    this.prrOut = 0;
    this.recoverFs = flight;
    this.rttSeq = -1;
    this.ctx.host.count('tcp.fastRecoveries');
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
      if (filled) this.enterQuickAck();
      else if (this.quickAcks > 0) {
        this.quickAcks--;
        this.ackNow = true;
      }
      if (filled || this.ackNow || this.unackedBytes >= 2 * this.rcvMss) {
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
      this.enterQuickAck();
      this.ackNow = true;
      this.ctx.markOutput(this);
    }
  }

  /** Linux tcp_enter_quickack_mode(): up to 16 immediate ACKs, at most half a window's segments. */
  private enterQuickAck(): void {
    this.quickAcks = Math.max(2, Math.min(16, Math.floor(this.recvRing.capacity / (2 * this.rcvMss))));
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
    if (data.length === 0) {
      // An empty send asks to hear when there is room: Writable now if there is, else once
      // the ring has drained. A caller on another thread (the stack on a worker) cannot
      // check the space and ask in one step; this asks without racing the ACKs.
      if (this.sendRing.free > 0) this.emitEvents(SocketEvent.Writable);
      else this.sendWasFull = true;
      return 0;
    }
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
    // A probe due no later than the RTO goes first; it re-arms the RTO (RFC 8985 §7.3).
    if (this.tlpAt <= now && this.tlpAt <= this.rtoAt) this.onTlp(now);
    if (this.rtoAt <= now) this.onRto(now);
    if (this.state === CLOSED) return;
    if (this.tlpAt <= now) this.onTlp(now);
    if (this.reoAt <= now) {
      // RFC 8985 §6.3: the reordering timer — segments it was waiting on are lost now.
      this.reoAt = Infinity;
      if (this.sackOk && this.sb.count > 0) {
        const t = this.rackDetectLoss(now);
        if (t > 0) this.reoAt = now + t;
        if (this.sb.pendingLost > 0) {
          if (!this.inRecovery && !this.inLoss) this.enterRecovery(now);
          if (this.inRecovery) this.prrUpdate(0);
          this.ctx.markOutput(this);
        }
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
      this.rttSeq = -1;
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
      // RFC 6675 §5.1 / RFC 8985 §6.3: everything not SACKed is lost; resend from the
      // head as the window (1 SMSS, then slow start) allows. A SACKed head that is still
      // not acknowledged means the receiver reneged (RFC 2018 §8): forget the SACKs.
      const sb = this.sb;
      if (sb.count > 0 && sb.flagsAt(0) & SB_SACKED) sb.clearSacked();
      sb.markAllLost();
      this.recoverSeq = this.sndMax;
      this.inRecovery = false;
      this.inLoss = true;
      this.dupAcks = 0;
      this.tlpHighSeq = -1;
      this.reoAt = Infinity;
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
    // Only bytes that were sent: the data in flight, never past SND.MAX.
    const dataEnd = seqAdd(this.sndBase, this.sendRing.length);
    const sent = seqDiff(seqLt(this.sndMax, dataEnd) ? this.sndMax : dataEnd, this.sndUna);
    if (sent <= 0) return; // only the FIN is outstanding: sendData resends it
    this.emitSegment(now, this.sndUna, ACK, Math.min(sent, this.smss));
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

  /**
   * RFC 8985 §7.2: PTO = 2·SRTT + 2 ms (Linux's floor; + a delayed-ACK allowance for a
   * single segment), never later than the RTO. Armed after new data goes out and after an
   * ACK of new data; not in recovery, and not while a probe is outstanding (one probe per
   * episode, §7.3).
   */
  private armTlp(now: number): void {
    if (
      !this.sackOk ||
      this.inRecovery ||
      this.inLoss ||
      this.tlpHighSeq >= 0 ||
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
    this.tlpAt = Math.min(now + pto, this.rtoAt === Infinity ? now + this.rto : this.rtoAt);
  }

  /**
   * RFC 8985 §7.3: send one new segment if the window allows, else the last segment sent
   * (at most one SMSS) again; then re-arm the RTO — the probe itself never repeats until
   * an ACK ends its episode (§7.4) or the RTO fires.
   */
  private onTlp(now: number): void {
    this.tlpAt = Infinity;
    if (this.sndUna === this.sndMax || this.inRecovery || this.inLoss || this.tlpHighSeq >= 0) return;
    const sb = this.sb;
    const dataEnd = seqAdd(this.sndBase, this.sendRing.length);
    const wndEnd = seqAdd(this.sndUna, this.sndWnd);
    const room = seqDiff(wndEnd, this.sndMax);
    const avail = seqDiff(dataEnd, this.sndMax);
    if (avail > 0 && room > 0) {
      const seq = this.sndMax;
      const took = this.emitSegment(now, seq, ACK, Math.min(avail, room, this.smss));
      if (took <= 0) return;
      const end = seqAdd(seq, took);
      sb.push(seq, end, now, false);
      this.sndMax = end;
      this.sndNxt = end;
      this.tlpIsRetrans = false;
      this.tlpSeq = seq;
    } else {
      let i = sb.count - 1;
      if (i < 0) return;
      const fin = (sb.flagsAt(i) & SB_FIN) !== 0;
      const dataLen = sb.lenAt(i) - (fin ? 1 : 0);
      // At most one SMSS: the end of the last segment.
      if (dataLen > this.smss) {
        sb.split(i, seqAdd(sb.startAt(i), dataLen - this.smss));
        i++;
      }
      // Not beyond a window the peer shrank (Linux __tcp_retransmit_skb()): the RTO
      // probes at SND.UNA instead.
      const s = sb.startAt(i);
      if (s !== this.sndUna && !seqLt(s, wndEnd)) return;
      this.probeEntry(now, i);
      return;
    }
    this.afterProbe(now);
  }

  private probeEntry(now: number, i: number): void {
    const sb = this.sb;
    const s = sb.startAt(i);
    const f = sb.flagsAt(i);
    const fin = (f & SB_FIN) !== 0;
    const dataLen = sb.lenAt(i) - (fin ? 1 : 0);
    const took = this.emitSegment(now, s, ACK | (fin ? FIN : 0), dataLen);
    if (took < dataLen) sb.split(i, seqAdd(s, took));
    sb.setTs(i, now);
    sb.setFlags(i, sb.flagsAt(i) | SB_EVER_RETRANS);
    this.retransmits++;
    this.ctx.host.count('tcp.retransmits');
    this.tlpIsRetrans = true;
    this.tlpSeq = s;
    this.afterProbe(now);
  }

  private afterProbe(now: number): void {
    this.tlpHighSeq = this.sndMax;
    this.ctx.host.count('tcp.tlpProbes');
    this.rtoAt = now + this.rto;
    this.ctx.schedule(this);
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
      // RFC 6298 §2 / Karn: the handshake's first SYN (or SYN,ACK) times an RTT sample.
      if (this.sndMax === this.iss) {
        this.rttSeq = seqAdd(this.iss, 1);
        this.rttTime = now;
      } else {
        this.rttSeq = -1;
      }
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
    const sb = this.sb;
    for (let guard = 0; guard < 100000; guard++) {
      const una = this.sndUna;
      const dataEnd = seqAdd(this.sndBase, ring.length);
      const wndEnd = seqAdd(una, this.sndWnd);
      const pipe = this.pipe();
      // Segments marked lost go first, in sequence order (RFC 6675 §4 NextSeg rule 1).
      if (sb.pendingLost > 0) {
        const i = sb.nextLost();
        // A lost segment that cannot go (cwnd, or the window: it starts below any new
        // data) holds back everything above it.
        if (i >= 0) {
          if (this.retransmitLost(now, i, pipe, wndEnd)) continue;
          return;
        }
      }
      // New data (and the FIN) at SND.MAX.
      const seq = this.sndMax;
      const avail = Math.max(0, seqDiff(dataEnd, seq));
      const wndRoom = seqDiff(wndEnd, seq);
      const cwndRoom = Math.floor(cc.cwnd - pipe);
      // New data may go as one GSO super-segment of whole segments (emitSegment).
      const most = this.inRecovery ? smss : this.gsoBurst(smss);
      let len = Math.min(avail, most, Math.max(wndRoom, 0), Math.max(cwndRoom, 0));
      if (len > smss && len < avail) len -= len % smss;
      const finSent = this.finQueued && seqGt(this.sndMax, dataEnd);
      const finPossible = this.finQueued && !finSent && seqAdd(seq, len) === dataEnd;
      if (len <= 0 && !finPossible) {
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
      if (len < smss && len < avail) {
        // Limited by window or cwnd: sender SWS avoidance (RFC 9293 §3.8.6.2.1).
        if (cwndRoom < smss && cwndRoom <= wndRoom) {
          this.cwndLimited = true;
          return;
        }
        if (len < this.maxSndWnd / 2 && una !== this.sndMax) return;
      }
      if (len === avail && len < smss && !finPossible) {
        // Nagle (RFC 896, RFC 9293 §3.7.4): hold a small segment while data is unacknowledged.
        if (!this.noDelay && una !== this.sndMax) return;
      }
      let fin = finPossible;
      let flags = ACK;
      if (fin) flags |= FIN;
      if (len > 0 && seqAdd(seq, len) === dataEnd) flags |= PSH;
      const took = this.emitSegment(now, seq, flags, len);
      if (took < len) {
        len = took;
        fin = false;
      }
      if (this.rttSeq < 0 && !this.tsOk && len > 0) {
        this.rttSeq = seqAdd(seq, len);
        this.rttTime = now;
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
      this.sndMax = end;
      this.sndNxt = end;
      if (this.inRecovery) this.prrOut += len + (fin ? 1 : 0);
      // RFC 6298 §5.1: start the timer if it is not running.
      if (this.rtoAt === Infinity) this.rtoAt = now + this.rto;
      this.armTlp(now);
      this.persistAt = Infinity;
      if (fin) return;
    }
  }

  /**
   * Resends scoreboard entry i (marked lost), as the window allows: at most one SMSS,
   * never a byte past SND.MAX (the entry holds only what was sent) and never past the
   * peer's window. Returns false when it cannot go now.
   */
  private retransmitLost(now: number, i: number, pipe: number, wndEnd: number): boolean {
    const sb = this.sb;
    const s = sb.startAt(i);
    const f = sb.flagsAt(i);
    let fin = (f & SB_FIN) !== 0;
    const dataLen = sb.lenAt(i) - (fin ? 1 : 0);
    const room = this.cc.cwnd - pipe;
    if (room < Math.min(this.smss, Math.max(dataLen, 1))) {
      this.cwndLimited = true;
      return false;
    }
    const wndRoom = seqDiff(wndEnd, s);
    let len = Math.min(dataLen, this.smss, Math.max(wndRoom, 0));
    if (len < dataLen) fin = false;
    if (len <= 0 && !fin) return false;
    if (len < dataLen) sb.split(i, seqAdd(s, len));
    const took = this.emitSegment(now, s, ACK | (fin ? FIN : 0), len);
    if (took < len) {
      sb.split(i, seqAdd(s, took));
      fin = false;
      len = took;
      if (took === 0) return false;
    }
    sb.setTs(i, now);
    sb.setFlags(i, sb.flagsAt(i) | SB_RETRANS | SB_EVER_RETRANS);
    this.retransmits++;
    this.ctx.host.count('tcp.retransmits');
    if (this.inRecovery) this.prrOut += len + (fin ? 1 : 0);
    if (this.rtoAt === Infinity) this.rtoAt = now + this.rto;
    return true;
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
      if (maxPayload > 0 && this.gsoMax > 0) {
        const g = this.gsoMax;
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
