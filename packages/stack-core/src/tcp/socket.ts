/**
 * One TCP connection: its transmission control block (RFC 9293 §3.2) and the state
 * machine's lifecycle — opening, closing, the application's calls. The rest works on the
 * same block, one job per file: input.ts (segment arrival), sender.ts (what goes out on
 * poll), emit.ts (one segment onto the wire), recovery.ts (loss detection and recovery),
 * timers.ts (the deadlines the layer's poll() fires).
 */
import type { IpHost, TcpConfig, TcpSocketOptions } from '../registration.js';
import { SocketError, SocketEvent } from '../registration.js';
import { seqAdd, seqDiff } from '../seq.js';
import type { IpAddress } from '../wire/ip-address.js';
import { TCP_HEADER_LEN, type TcpRepr } from '../wire/tcp.js';
import { ANS_CLOSED, ANS_OUTPUT, ANS_TIME_WAIT } from './answers.js';
import { type CongestionControl, Cubic, initialWindow, NewReno } from './congestion.js';
import { inputSynchronized, inputSynSent } from './input.js';
import { type FrtoState, markOversizeLost, rackDelivered } from './recovery.js';
import { ByteRing } from './ring.js';
import type { SeqRangeSet } from './sack.js';
import { Scoreboard } from './scoreboard.js';
import { dispatch } from './sender.js';
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
import { fireTimers } from './timers.js';
import { PrrState, RackState } from './recovery-state.js';

/**
 * What a socket reads from its layer: the IP layer below, the configuration and the
 * buffers every segment is built in. No callbacks: what a call on a socket asks of the
 * layer comes back as `answers` (answers.ts).
 */
export interface TcpContext {
  readonly host: IpHost;
  readonly config: TcpConfig;
  /** One reused buffer for every outgoing segment. */
  readonly scratch: Uint8Array;
  readonly txRepr: TcpRepr;
}

/** Largest window scale shift (RFC 7323 §2.3). */
const MAX_WSCALE = 14;
/** Shortest receive-autotuning period, ms (before there is an RTT sample, or below it). */
const RCV_SPACE_MIN_MS = 1;
/** Empty rings of an idle connection are freed after this long (ms). */
const IDLE_RELEASE = 5_000;
/** Smallest peer MSS honoured (Linux: 48 + options; 88 for IPv6). */
const MIN_PEER_MSS = 88;

export class TcpSocket {
  state = CLOSED;
  /** What the current call asks of the layer (ANS_* bits, answers.ts); the layer takes them after it. */
  answers = 0;
  /** Events for the handle raised by the current call; the layer reports them after it. */
  events = 0;
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
  /** F-RTO (RFC 5682 §3.1): armed by an RTO until its recovery ends (recovery.ts). */
  frto: FrtoState | undefined;
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
  readonly prr = new PrrState();
  /** RACK-TLP (RFC 8985): the most recently delivered segment, reordering, the probe. */
  readonly rack = new RackState();
  /** Set by takeSack when the ACK carried a D-SACK block (RFC 2883); dsackRcvStart/End hold it. */
  dsackSeen = false;
  dsackRcvStart = 0;
  dsackRcvEnd = 0;
  /** The ACK being processed, for onAcked (one callback for the socket's life, none per ACK). */
  ackingSeg: TcpRepr | undefined;
  ackingNow = 0;
  readonly onAcked = (i: number): void => rackDelivered(this, i, this.ackingSeg!, this.ackingNow);
  cc: CongestionControl;
  cwndLimited = false;

  retries = 0;
  /** When this connection last told IP its next hop is reachable (RFC 4861 §7.3.1), at most once a second. */
  reachableAt = Number.NEGATIVE_INFINITY;
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
    readonly ctx: TcpContext,
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

  /** Our MSS option: the path towards the peer minus the TCP header. */
  ourMss(): number {
    return Math.min(this.pathMax - TCP_HEADER_LEN, 65535);
  }

  get synchronized(): boolean {
    return this.state >= ESTABLISHED;
  }

  tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  /**
   * Bytes in flight, as RFC 6675 SetPipe() counts them: sent and not acknowledged, minus
   * what is SACKed or marked lost, plus retransmissions of lost segments still out.
   */
  pipe(): number {
    const sb = this.sb;
    return Math.max(0, seqDiff(this.sndMax, this.sndUna) - sb.sackedBytes - sb.lostBytes + sb.retransBytes);
  }

  /** Events for the socket's handle, reported by the layer after the call. */
  report(ev: number): void {
    this.events |= ev;
  }

  // ---------------------------------------------------------------- opening

  /** Active open (RFC 9293 §3.10.1): SYN goes out on the next poll. */
  /**
   * Sequence marks compared with seqLt/seqGt start at the ISN, never at 0: a 0 is 2^31
   * away from half of all ISNs, where serial comparison flips (RACK's FACK at 0 made
   * every SACK look like reordering and held off loss detection for ISNs >= 2^31).
   */
  private initSendMarks(iss: number): void {
    this.rack.fack = iss;
    this.rack.endSeq = iss;
    this.rack.tlpSeq = iss;
    this.recoveryUna = iss;
  }

  startConnect(iss: number, tsOffset: number, now: number): void {
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.sndBase = seqAdd(iss, 1);
    this.recoverSeq = iss;
    this.initSendMarks(iss);
    this.tsOffset = tsOffset;
    this.pathMax = this.ctx.host.maxTransportPayload(this.remoteAddr!);
    this.gsoMax = this.ctx.host.gsoMaxSize?.(this.remoteAddr!) ?? 0;
    this.rcvShift = this.chooseShift();
    this.state = SYN_SENT;
    this.lastRecvAt = now;
    this.answers |= ANS_OUTPUT;
  }

  chooseShift(): number {
    let s = 0;
    const cap = Math.max(this.recvRing.capacity, this.opts.recvBufferMax);
    while (s < MAX_WSCALE && 65535 * 2 ** s < cap) s++;
    return s;
  }

  /** Receive autotuning (recvBufferMax): bytes read in the current period, its start, the most read in one. */
  private rcvSpaceCopied = 0;
  private rcvSpaceAt = -1;
  private rcvSpace = 0;

  /**
   * Linux's tcp_rcv_space_adjust, simplified: over periods of at least one smoothed RTT
   * (RCV_SPACE_MIN_MS before there is one), when the application read more than in any
   * period before, the receive buffer grows to twice that (at most recvBufferMax). A
   * reader slower than the sender reads no more per period than before and does not grow it.
   */
  private autotune(n: number, now: number): void {
    this.rcvSpaceCopied += n;
    if (this.rcvSpaceAt < 0) this.rcvSpaceAt = now;
    if (now - this.rcvSpaceAt < Math.max(this.srtt, RCV_SPACE_MIN_MS)) return;
    const copied = this.rcvSpaceCopied;
    this.rcvSpaceCopied = 0;
    this.rcvSpaceAt = now;
    if (copied <= this.rcvSpace) return;
    this.rcvSpace = copied;
    const want = Math.min(2 * copied, this.opts.recvBufferMax);
    if (want > this.recvRing.capacity) {
      this.recvRing.grow(want);
      this.ctx.host.count('tcp.rcvBufGrown');
    }
  }

  /** Takes the peer's SYN options (RFC 9293 §3.7.1, RFC 7323 §2.2/§3.2, RFC 2018 §2). */
  takeSynOptions(seg: TcpRepr, weOffered: boolean): void {
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
    this.initSendMarks(iss);
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
    this.answers |= ANS_OUTPUT;
  }

  enterEstablished(now: number): void {
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
    if (this.state === SYN_SENT) inputSynSent(this, seg, data, now);
    else if (this.state !== CLOSED && this.state !== LISTEN) inputSynchronized(this, seg, data, now);
  }

  // ---------------------------------------------------------------- closing

  enterTimeWait(now: number): void {
    this.state = TIME_WAIT;
    this.rtoAt = Infinity;
    this.persistAt = Infinity;
    this.keepaliveAt = Infinity;
    this.closeAt = now + 2 * this.ctx.config.msl;
    this.sendRing.release();
    this.answers |= ANS_TIME_WAIT;
    this.report(SocketEvent.Closed);
  }

  /** A TIME-WAIT socket got its peer's FIN again: ACK it and restart the 2MSL wait (§3.10.7.4). */
  timeWaitFin(now: number): void {
    this.ackNow = true;
    this.closeAt = now + 2 * this.ctx.config.msl;
    this.answers |= ANS_OUTPUT;
  }

  /** Records an error, closes, reports Error|Closed. */
  fail(err: SocketError): void {
    if (this.state === CLOSED) return;
    this.error = err;
    this.toClosed();
    this.report(SocketEvent.Error | SocketEvent.Closed | SocketEvent.Readable);
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
      this.answers |= ANS_CLOSED;
      if (!wasListen && !wasTimeWait && this.error === 0) this.report(SocketEvent.Closed);
    }
  }

  /** Sends RST on the next poll and closes (RFC 9293 §3.10.5 ABORT). */
  abortWithRst(): void {
    const sync = this.state >= ESTABLISHED || this.state === SYN_RECEIVED;
    if (sync) {
      this.rstPending = true;
      this.answers |= ANS_OUTPUT;
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
    this.answers |= ANS_OUTPUT;
    return 0;
  }

  // ---------------------------------------------------------------- application calls

  send(data: Uint8Array): number {
    if (data.length === 0) {
      // An empty send asks to hear when there is room: Writable now if there is, else once
      // the ring has drained. A caller on another thread (the stack on a worker) cannot
      // check the space and ask in one step; this asks without racing the ACKs.
      if (this.sendRing.free > 0) this.report(SocketEvent.Writable);
      else this.sendWasFull = true;
      return 0;
    }
    const took = this.sendRing.write(data);
    if (took < data.length) this.sendWasFull = true;
    if (took > 0 && this.state !== SYN_SENT && this.state !== SYN_RECEIVED) this.answers |= ANS_OUTPUT;
    return took;
  }

  recv(into: Uint8Array, now: number): number {
    const n = this.recvRing.read(into);
    if (n > 0) {
      if (this.opts.recvBufferMax > this.recvRing.capacity) this.autotune(n, now);
      if (this.recvRing.length === 0) this.armIdleRelease(now);
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
          this.answers |= ANS_OUTPUT;
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
    fireTimers(this, now);
  }

  /** Rings are kept while a connection is busy and freed after IDLE_RELEASE of emptiness. */
  armIdleRelease(now: number): void {
    if (this.idleAt === Infinity) this.idleAt = now + IDLE_RELEASE;
  }

  setKeepAlive(idle: number, now: number): void {
    this.keepAliveIdle = idle;
    this.keepaliveProbes = 0;
    this.keepaliveAt = idle > 0 && this.synchronized ? now + idle : Infinity;
  }

  // ---------------------------------------------------------------- output

  output(now: number): void {
    dispatch(this, now);
  }

  /**
   * The path MTU shrank (RFC 1191 §6.5, RFC 8201 §5.4): what is in flight above the new
   * SMSS is resent at the new size.
   */
  pathShrank(): void {
    markOversizeLost(this);
  }
}
