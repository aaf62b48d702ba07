/**
 * The TCP layer: demultiplexes segments to connections by 4-tuple, answers
 * closed ports with RST (`rst.ts`), runs listeners (bounded SYN queue, then SYN cookies
 * from `syncookie.ts`; accept queue), picks ISNs (RFC 6528) and ephemeral ports
 * (RFC 6056; bindings in `ports.ts`), keeps every socket's timers as deadlines in one
 * heap (`timer-heap.ts`) checked by poll(), and implements the socket API by handle.
 * It calls into sockets and acts on what each call answers (`answers.ts`, settle()).
 */
import type {
  Handle,
  IcmpErrorKind,
  Instant,
  IpHost,
  TcpApi,
  TcpConfig,
  TcpInfo,
  TcpSocketOptions,
  TransportProtocol,
} from '../registration.js';
import { EOF, IcmpErrorKind as Icmp, SocketError, SocketEvent } from '../registration.js';
import { seqAdd, seqGt } from '../seq.js';
import type { IpAddress } from '../wire/ip-address.js';
import {
  fillTcpChecksum,
  readU32,
  TCP_PROTOCOL,
  TcpFlags,
  TcpPacket,
  TcpRepr,
  verifyTcpChecksum,
} from '../wire/tcp.js';
import {
  ANS_CHALLENGE_ACK,
  ANS_CLOSED,
  ANS_ESTABLISHED,
  ANS_OUTPUT,
  ANS_REPLY_RST,
  ANS_TIME_WAIT,
} from './answers.js';
import { KeyedHash } from './isn.js';
import { type TcpContext, TcpSocket } from './socket.js';
import { PortTable, removeFrom } from './ports.js';
import { RstReplies } from './rst.js';
import { SynCookies } from './syncookie.js';
import { TimerHeap } from './timer-heap.js';
import { CLOSE_WAIT, CLOSED, ESTABLISHED, LISTEN, SYN_SENT, stateNames, TIME_WAIT } from './state.js';

const { FIN, SYN, RST, ACK } = TcpFlags;

export const defaultTcpConfig: TcpConfig = {
  minRto: 200,
  initialRto: 1000,
  maxRto: 120_000,
  maxRetries: 15,
  maxSynRetries: 6,
  msl: 30_000,
  delayedAckTimeout: 40,
  defaults: {
    sendBufferSize: 262144,
    sendBufferMax: 0,
    recvBufferSize: 262144,
    recvBufferMax: 0,
    noDelay: false,
    keepAlive: 0,
    congestionControl: 'cubic',
  },
  ephemeralPortMin: 49152,
  ephemeralPortMax: 65535,
  maxTimeWait: 8192,
};

/** SYN-RECEIVED children kept per listener; beyond it SYNs are answered with cookies. */
const MIN_SYN_QUEUE = 128;
/** RFC 5961 §7: challenge ACKs per second, stack-wide. */
const CHALLENGE_ACK_LIMIT = 1000;
function addrKey(a: IpAddress | undefined): string {
  if (a === undefined) return '*';
  return a.version === 4 ? String(a.value) : a.key();
}

function tupleKey(local: IpAddress, lport: number, remote: IpAddress, rport: number): string {
  return `${addrKey(local)}/${lport}/${addrKey(remote)}/${rport}`;
}

/** The data of a segment that carries none (read-only by convention: nobody writes into received data). */
const NO_DATA = new Uint8Array(0);

export class TcpLayer implements TransportProtocol, TcpApi, TcpContext {
  readonly protocol = TCP_PROTOCOL;
  readonly config: TcpConfig;
  readonly scratch = new Uint8Array(65536 + 64);
  readonly txRepr = new TcpRepr();
  private readonly rx = new TcpRepr();
  /** The checked view received segments are read through (re-pointed per segment). */
  private readonly rxView = TcpPacket.newUnchecked(new Uint8Array(0));
  /** Views of `scratch` by length for cookie SYN,ACKs (sendCookie). */
  private readonly cookieViews: (Uint8Array | undefined)[] = [];
  private readonly handles = new Map<Handle, TcpSocket>();
  private readonly conns = new Map<string, TcpSocket>();
  /**
   * Entries of `conns` per remote port (never fewer): a segment from a port no connection
   * has — every SYN of a random-source flood, nearly — skips building the tuple key.
   */
  private readonly remotePorts = new Map<number, number>();
  /** Ports held by bind()/listen(), and the listeners. */
  private readonly ports = new PortTable();
  private readonly outQueue: TcpSocket[] = [];
  private readonly deferred: TcpSocket[] = [];
  private readonly rsts: RstReplies;
  private readonly stuck: TcpSocket[] = [];
  /** Every socket's next deadline (stale entries are skipped when they surface). */
  private readonly timers = new TimerHeap<TcpSocket>();
  private lastNow = 0;
  private readonly hash: KeyedHash;
  private nextEphemeral = 0;
  private lastHit: TcpSocket | undefined;
  private challengeWindow = -1;
  private challengeCount = 0;
  /** Connections in TIME-WAIT (bounded by config.maxTimeWait). */
  private readonly timeWaits = new Set<TcpSocket>();
  private readonly cookies: SynCookies;

  constructor(
    readonly host: IpHost,
    config: Partial<TcpConfig> = {},
  ) {
    this.config = {
      ...defaultTcpConfig,
      ...config,
      defaults: { ...defaultTcpConfig.defaults, ...(config.defaults ?? {}) },
    };
    this.hash = new KeyedHash((b) => host.random(b), host.keyedPrf);
    this.cookies = new SynCookies(host, host.keyedPrf);
    this.rsts = new RstReplies(host, this.txRepr, this.scratch);
  }

  // ---------------------------------------------------------------- answers

  /** After every call on a socket: take what it asks of the layer, report its events, reschedule it. */
  private settle(s: TcpSocket): void {
    if ((s.answers | s.events) !== 0) this.answer(s);
    this.schedule(s);
  }

  /**
   * Acts on a socket's answers (answers.ts), then reports its events: the answers first,
   * as closing or entering TIME-WAIT came before the events they raise when the socket
   * called into the layer.
   */
  private answer(s: TcpSocket): void {
    const a = s.answers;
    const ev = s.events;
    s.answers = 0;
    s.events = 0;
    if (a & ANS_ESTABLISHED) this.established(s);
    if (a & ANS_REPLY_RST) this.rsts.answer(s.localAddr!, s.remoteAddr!, this.rx, 0);
    if (a & ANS_CHALLENGE_ACK && this.challengeAckAllowed(this.lastNow)) {
      s.ackNow = true;
      this.markOutput(s);
    }
    if (a & ANS_OUTPUT) this.markOutput(s);
    if (a & ANS_TIME_WAIT) this.timeWait(s);
    if (a & ANS_CLOSED) this.closed(s);
    if (ev !== 0) this.emit(s, ev);
  }

  private markOutput(s: TcpSocket): void {
    if (!s.queuedForOutput) {
      s.queuedForOutput = true;
      this.outQueue.push(s);
    }
  }

  private schedule(s: TcpSocket): void {
    const at = s.nextDeadline();
    if (at < s.scheduledAt) {
      s.scheduledAt = at;
      this.timers.push(at, s);
    }
  }

  private emit(s: TcpSocket, events: number): void {
    if (s.released) return;
    if (!s.accepted) {
      s.deferredEvents |= events;
      return;
    }
    this.host.emit(s.handle, events);
  }

  /** The socket reached CLOSED: forget it. */
  private closed(s: TcpSocket): void {
    this.timeWaits.delete(s);
    if (s.key !== '') {
      if (this.conns.get(s.key) === s) {
        this.conns.delete(s.key);
        const n = this.remotePorts.get(s.remotePort) ?? 1;
        if (n > 1) this.remotePorts.set(s.remotePort, n - 1);
        else this.remotePorts.delete(s.remotePort);
      }
      s.key = '';
    }
    if (this.lastHit === s) this.lastHit = undefined;
    if (s.bound) this.ports.unbind(s);
    const l = s.listener;
    if (l) {
      removeFrom(l.synQueue, s);
      removeFrom(l.acceptQueue, s);
    }
    if (s.released || !s.accepted) this.handles.delete(s.handle);
    // A closed listener resets the connections nobody accepted.
    for (const c of s.synQueue.splice(0)) this.abortChild(c);
    for (const c of s.acceptQueue.splice(0)) this.abortChild(c);
  }

  private abortChild(c: TcpSocket): void {
    c.abortWithRst();
    this.settle(c);
  }

  /** The socket entered TIME-WAIT: its port binding is released (as with SO_REUSEADDR). */
  private timeWait(s: TcpSocket): void {
    if (s.bound) this.ports.unbind(s);
    if (this.timeWaits.size >= (this.config.maxTimeWait ?? defaultTcpConfig.maxTimeWait!)) {
      // tcp_max_tw_buckets: the table is full, so this one skips the 2·MSL wait. Its
      // last ACK still goes out (output runs before the next timer), then it closes.
      s.closeAt = this.lastNow + 1;
      this.host.count('tcp.timeWaitOverflow');
      return;
    }
    this.timeWaits.add(s);
  }

  /** A passive child reached ESTABLISHED (the socket checked that its listener has room). */
  private established(s: TcpSocket): void {
    const l = s.listener!;
    removeFrom(l.synQueue, s);
    l.acceptQueue.push(s);
    this.emit(l, SocketEvent.Acceptable);
  }

  /** RFC 5961 §7: may a challenge ACK go out now? */
  private challengeAckAllowed(now: number): boolean {
    const sec = Math.floor(now / 1000);
    if (sec !== this.challengeWindow) {
      this.challengeWindow = sec;
      this.challengeCount = 0;
    }
    this.host.count('tcp.challengeAcks');
    return ++this.challengeCount <= CHALLENGE_ACK_LIMIT;
  }

  // ---------------------------------------------------------------- TransportProtocol

  input(
    src: IpAddress,
    dst: IpAddress,
    segment: Uint8Array,
    now: Instant,
    checksumTrusted = false,
    segSize = 0,
  ): void {
    this.lastNow = now;
    // Untrusted bytes: the checked view first (one view, re-pointed: no allocation).
    const e = this.rxView.check(segment);
    if (e !== undefined) {
      this.host.count(e === 'truncated' ? 'tcp.truncated' : 'tcp.malformed');
      return;
    }
    const r = this.rx;
    if (!r.parsePacket(this.rxView)) {
      this.host.count('tcp.malformed');
      return;
    }
    r.segSize = segSize;
    if (!checksumTrusted && !verifyTcpChecksum(src, dst, segment)) {
      this.host.count('tcp.badChecksum');
      return;
    }
    // A segment without data (every SYN of a flood, most ACKs) shares one empty view.
    const data = r.headerLength === segment.length ? NO_DATA : segment.subarray(r.headerLength);
    let s = this.lastHit;
    if (
      s === undefined ||
      s.localPort !== r.dstPort ||
      s.remotePort !== r.srcPort ||
      !s.remoteAddr!.equals(src) ||
      !s.localAddr!.equals(dst)
    ) {
      s = this.remotePorts.has(r.srcPort)
        ? this.conns.get(tupleKey(dst, r.dstPort, src, r.srcPort))
        : undefined;
    }
    if (s !== undefined) {
      if (s.state === TIME_WAIT) {
        if (!this.timeWaitInput(s, r, data, now)) return;
      } else {
        this.lastHit = s;
        s.input(r, data, now);
        this.settle(s);
        return;
      }
    }
    const l = this.ports.findListener(dst, r.dstPort);
    if (l !== undefined) {
      this.listenInput(l, src, dst, r, data, now);
      return;
    }
    this.host.count('tcp.noSocket');
    // RFC 9293 §3.10.7.1: CLOSED answers everything but RST with RST.
    if (!(r.flags & RST)) this.rsts.answer(dst, src, r, data.length);
  }

  /** TIME-WAIT (RFC 9293 §3.10.7.4, RFC 1337, RFC 6191). Returns true when a new SYN may reuse the tuple. */
  private timeWaitInput(s: TcpSocket, r: TcpRepr, data: Uint8Array, now: number): boolean {
    const f = r.flags;
    if (f & SYN && !(f & ACK)) {
      const newer = s.tsOk && r.hasTimestamp ? seqGt(r.tsVal, s.tsRecent) : seqGt(r.seq, s.rcvNxt);
      if (newer) {
        s.toClosed();
        this.settle(s);
        return true;
      }
      s.timeWaitFin(now);
      this.settle(s);
      return false;
    }
    if (f & RST) return false; // RFC 1337: ignore RSTs in TIME-WAIT.
    if (f & FIN || data.length > 0) {
      s.timeWaitFin(now);
      this.settle(s);
    }
    return false;
  }

  /** LISTEN (RFC 9293 §3.10.7.2). */
  private listenInput(
    l: TcpSocket,
    src: IpAddress,
    dst: IpAddress,
    r: TcpRepr,
    data: Uint8Array,
    now: number,
  ): void {
    const f = r.flags;
    if (f & RST) return;
    if (f & ACK) {
      // The third segment of a handshake we answered with a cookie (only while cookies
      // are recent on this listener, as Linux's tcp_synq_no_recent_overflow).
      if (!(f & SYN) && this.cookies.recent(l, now) && this.cookieAck(l, src, dst, r, data, now)) return;
      this.rsts.answer(dst, src, r, data.length);
      return;
    }
    if (!(f & SYN)) return;
    if (l.acceptQueue.length >= l.backlog) {
      this.host.count('tcp.listenOverflow');
      return;
    }
    // No way back to the sender (a spoofed source nothing routes to): drop before any
    // work, as Linux does with its route lookup for the SYN,ACK.
    if (this.host.selectSource(src) === undefined) {
      this.host.count('tcp.synNoRoute');
      return;
    }
    // Bounded SYN queue. When it is full, SYNs are answered statelessly with a cookie;
    // half-open connections are never evicted (a legit ACK would then meet an RST).
    if (l.synQueue.length >= Math.max(MIN_SYN_QUEUE, l.backlog)) {
      if (this.config.synCookies === false) {
        this.host.count('tcp.synQueueFull');
        return;
      }
      this.sendCookie(l, src, dst, r, now);
      return;
    }
    const c = this.newChild(l, src, dst, r);
    l.synQueue.push(c);
    c.acceptSyn(
      r,
      this.isn(dst, r.dstPort, src, r.srcPort, now),
      this.tsOffset(dst, r.dstPort, src, r.srcPort),
      now,
    );
    this.settle(c);
  }

  // ---------------------------------------------------------------- SYN cookies

  /** Answers a SYN with a SYN,ACK whose ISN is a cookie; keeps no state. */
  private sendCookie(l: TcpSocket, src: IpAddress, dst: IpAddress, syn: TcpRepr, now: number): void {
    const r = this.txRepr;
    const tsOffset = syn.hasTimestamp ? this.tsOffset(dst, syn.dstPort, src, syn.srcPort) : 0;
    this.cookies.synAck(
      r,
      l,
      src,
      dst,
      syn,
      now,
      l.recvRing.capacity,
      this.host.maxTransportPayload(src),
      tsOffset,
      l.opts.recvBufferMax,
    );
    const hlen = r.emit(this.scratch, 0);
    // One view per header length (a handful: the options the SYN had), not one per SYN.
    let seg = this.cookieViews[hlen];
    if (seg === undefined) {
      seg = this.scratch.subarray(0, hlen);
      this.cookieViews[hlen] = seg;
    }
    fillTcpChecksum(dst, src, seg);
    this.host.sendIp(dst, src, TCP_PROTOCOL, seg, now);
    this.host.count('tcp.synCookiesSent');
  }

  /**
   * An ACK that may complete a cookie handshake: checks the cookie, rebuilds the SYN's
   * options and opens the connection straight into the accept queue. False when it is
   * not a valid cookie (the caller answers with RST).
   */
  private cookieAck(
    l: TcpSocket,
    src: IpAddress,
    dst: IpAddress,
    r: TcpRepr,
    data: Uint8Array,
    now: number,
  ): boolean {
    const syn = this.cookies.open(src, dst, r, now);
    if (syn === undefined) return false;
    if (l.acceptQueue.length >= l.backlog) {
      this.host.count('tcp.listenOverflow');
      return true; // dropped: the peer retransmits its ACK or data
    }
    const cookie = (r.ack - 1) >>> 0;
    const c = this.newChild(l, src, dst, r);
    c.acceptSyn(syn, cookie, this.tsOffset(dst, r.dstPort, src, r.srcPort), now);
    // Our SYN,ACK went out (statelessly): the ACK of it moves the child on.
    c.sndNxt = c.sndMax = seqAdd(cookie, 1);
    c.rcvAdvEnd = seqAdd(c.rcvNxt, Math.min(c.recvRing.capacity, 65535));
    c.input(r, data, now);
    this.settle(c);
    this.host.count('tcp.synCookiesAccepted');
    return true;
  }

  private addConn(s: TcpSocket): void {
    this.conns.set(s.key, s);
    this.remotePorts.set(s.remotePort, (this.remotePorts.get(s.remotePort) ?? 0) + 1);
  }

  /** A passive child of listener `l` for the SYN `r` (src → dst), registered but not yet accepted. */
  private newChild(l: TcpSocket, src: IpAddress, dst: IpAddress, r: TcpRepr): TcpSocket {
    const c = new TcpSocket(this, this.host.allocHandle(), l.opts);
    c.listener = l;
    c.accepted = false;
    c.localAddr = dst;
    c.localPort = r.dstPort;
    c.remoteAddr = src;
    c.remotePort = r.srcPort;
    c.key = tupleKey(dst, r.dstPort, src, r.srcPort);
    this.addConn(c);
    this.handles.set(c.handle, c);
    return c;
  }

  /**
   * An ICMP error quoting a segment we sent. Returns true when it quotes a real
   * connection with a sequence number in flight (RFC 5927 §4.1, §4.3): only then may
   * the IP layer believe a Packet Too Big's MTU.
   */
  icmpError(
    kind: IcmpErrorKind,
    src: IpAddress,
    dst: IpAddress,
    quoted: Uint8Array,
    mtu: number,
    now: Instant,
  ): boolean {
    if (quoted.length < 8) return false;
    // `quoted` is a segment we sent from src to dst.
    const sport = (quoted[0]! << 8) | quoted[1]!;
    const dport = (quoted[2]! << 8) | quoted[3]!;
    const seq = readU32(quoted, 4);
    const s = this.conns.get(tupleKey(src, sport, dst, dport));
    if (s === undefined || s.state === TIME_WAIT) {
      this.host.count('tcp.icmpNoConnection');
      return false;
    }
    // RFC 5927 §4.1: the quoted sequence number must be in flight.
    if (seqGt(s.sndUna, seq) || seqGt(seq, s.sndMax)) {
      this.host.count('tcp.icmpBadSeq');
      return false;
    }
    if (kind === Icmp.PacketTooBig) {
      const before = s.pathMax;
      // `mtu` is the IP MTU; the path's transport payload is that minus the IP header.
      const fromIcmp = mtu > 0 ? mtu - (dst.version === 4 ? 20 : 40) : before;
      s.pathMax = Math.max(Math.min(this.host.maxTransportPayload(dst), fromIcmp), 68);
      if (s.pathMax < before && s.sndMax !== s.sndUna) {
        // RFC 1191 §6.5 / RFC 8201: resend what was in flight at the smaller size.
        s.pathShrank();
        this.settle(s);
      }
    } else if (s.state === SYN_SENT) {
      // RFC 1122 §4.2.3.9: a hard error while connecting ends the attempt.
      s.fail(SocketError.EHOSTUNREACH);
      this.settle(s);
    }
    this.lastNow = now;
    return true;
  }

  poll(now: Instant): void {
    this.lastNow = now;
    const timers = this.timers;
    while (timers.size > 0 && timers.nextAt <= now) {
      const t = timers.nextAt;
      const s = timers.next!;
      timers.pop();
      if (t !== s.scheduledAt) continue;
      s.scheduledAt = Infinity;
      if (s.state === CLOSED && !s.rstPending) continue;
      s.onTimer(now);
      if ((s.answers | s.events) !== 0) this.answer(s);
      if (s.nextDeadline() <= now) {
        // A deadline that did not move would spin this loop: leave it to the next poll.
        this.host.count('tcp.timerStuck');
        this.stuck.push(s);
      } else {
        this.schedule(s);
      }
    }
    if (this.stuck.length > 0) for (const s of this.stuck.splice(0)) this.schedule(s);
    if (this.deferred.length > 0) {
      for (const s of this.deferred.splice(0)) {
        const ev = s.deferredEvents;
        s.deferredEvents = 0;
        if (ev && !s.released) this.host.emit(s.handle, ev);
      }
    }
    const q = this.outQueue;
    for (let i = 0; i < q.length; i++) {
      const s = q[i]!;
      s.queuedForOutput = false;
      s.output(now);
      this.settle(s);
    }
    q.length = 0;
    this.rsts.flush(now);
  }

  pollAt(): Instant {
    if (this.outQueue.length > 0 || this.rsts.pending > 0 || this.deferred.length > 0) return this.lastNow;
    const timers = this.timers;
    while (timers.size > 0 && timers.nextAt !== timers.next!.scheduledAt) timers.pop();
    return timers.nextAt;
  }

  // ---------------------------------------------------------------- ISN, ports

  /** RFC 6528 §3: ISN = M + F(4-tuple, secret), M a 4 µs clock. */
  private isn(local: IpAddress, lport: number, remote: IpAddress, rport: number, now: number): number {
    return (this.hash.tuple(local, lport, remote, rport, 0) + Math.floor(now * 250)) >>> 0;
  }

  /** RFC 7323 §5.4: a per-connection timestamp offset. */
  private tsOffset(local: IpAddress, lport: number, remote: IpAddress, rport: number): number {
    return this.hash.tuple(local, lport, remote, rport, 1);
  }

  /** RFC 6056 §3.3.3 (Algorithm 3): a hashed starting point per destination, then a counter. */
  private ephemeralPort(local: IpAddress, remote: IpAddress | undefined, rport: number): number {
    const min = this.config.ephemeralPortMin;
    const num = this.config.ephemeralPortMax - min + 1;
    const offset = remote
      ? this.hash.tuple(local, 0, remote, rport, 2)
      : this.hash.tuple(local, 0, local, 0, 3);
    for (let i = 0; i < num; i++) {
      const port = min + ((offset + this.nextEphemeral + i) % num);
      if (this.ports.isBound(port)) continue;
      if (remote === undefined) {
        if (this.portInUse(port)) continue;
      } else {
        const old = this.conns.get(tupleKey(local, port, remote, rport));
        if (old !== undefined && !this.reusableTimeWait(old)) continue;
      }
      this.nextEphemeral = (this.nextEphemeral + i + 1) % num;
      return port;
    }
    return 0;
  }

  /**
   * Linux's tcp_tw_reuse for connect(): a tuple still in TIME-WAIT may carry a new
   * outgoing connection once the old one used timestamps (PAWS then tells the new
   * connection's segments from the old one's duplicates, RFC 7323 §5.8 and Appendix B)
   * and has been in TIME-WAIT for a second. Without it a client making short
   * connections to one server runs out of ports (16,384 per 2·MSL: ~270/s).
   */
  private reusableTimeWait(s: TcpSocket): boolean {
    return s.state === TIME_WAIT && s.tsOk && this.lastNow - (s.closeAt - 2 * this.config.msl) >= 1000;
  }

  private portInUse(port: number): boolean {
    for (const s of this.conns.values()) if (s.localPort === port) return true;
    return false;
  }

  // ---------------------------------------------------------------- TcpApi

  private sock(h: Handle): TcpSocket | undefined {
    const s = this.handles.get(h);
    return s !== undefined && !s.released ? s : undefined;
  }

  /** Does this layer own the handle? (The stack routes socketError() by it.) */
  owns(h: Handle): boolean {
    return this.sock(h) !== undefined;
  }

  /** The recorded error (read once), 0 when none. */
  socketError(h: Handle): 0 | SocketError {
    const s = this.sock(h);
    if (s === undefined) return SocketError.EBADF;
    const e = s.error;
    s.error = 0;
    if (e !== 0) s.errorReported = e;
    return e;
  }

  tcpOpen(options: TcpSocketOptions = {}): Handle {
    const opts = { ...this.config.defaults, ...options };
    const s = new TcpSocket(this, this.host.allocHandle(), opts);
    this.handles.set(s.handle, s);
    return s.handle;
  }

  tcpBind(h: Handle, address: IpAddress | undefined, port: number): 0 | SocketError {
    const s = this.sock(h);
    if (s === undefined) return SocketError.EBADF;
    if (
      s.state !== CLOSED ||
      s.bound ||
      s.localPort !== 0 ||
      !Number.isInteger(port) ||
      port < 0 ||
      port > 65535
    ) {
      return SocketError.EINVAL;
    }
    if (address?.isUnspecified()) address = undefined;
    if (address !== undefined && !this.host.isLocalAddress(address)) return SocketError.EADDRNOTAVAIL;
    if (port === 0) {
      port = this.ephemeralPort(address ?? this.anyLocal(), undefined, 0);
      if (port === 0) return SocketError.EADDRINUSE;
    } else if (this.ports.conflict(address, port)) {
      return SocketError.EADDRINUSE;
    }
    s.localAddr = address;
    s.localPort = port;
    this.ports.bind(s);
    return 0;
  }

  private anyLocal(): IpAddress {
    return { version: 4, value: 0 } as IpAddress;
  }

  tcpConnect(h: Handle, address: IpAddress, port: number, now: Instant): 0 | SocketError {
    const s = this.sock(h);
    if (s === undefined) return SocketError.EBADF;
    this.lastNow = now;
    if (s.state !== CLOSED) return s.state === LISTEN ? SocketError.EINVAL : SocketError.EISCONN;
    if (s.remoteAddr !== undefined) return SocketError.EISCONN;
    if (port <= 0 || port > 65535 || address.isUnspecified()) return SocketError.EINVAL;
    // TCP is unicast: never SYNs to a broadcast or multicast address (Linux: ENETUNREACH).
    if (address.isMulticast() || this.host.isBroadcast?.(address)) return SocketError.ENETUNREACH;
    if (s.localAddr !== undefined && s.localAddr.version !== address.version) return SocketError.EINVAL;
    const src = s.localAddr ?? this.host.selectSource(address);
    if (src === undefined) return SocketError.EHOSTUNREACH;
    let lport = s.localPort;
    if (lport === 0) {
      lport = this.ephemeralPort(src, address, port);
      if (lport === 0) return SocketError.EADDRNOTAVAIL;
    }
    const key = tupleKey(src, lport, address, port);
    const old = this.conns.get(key);
    let iss = this.isn(src, lport, address, port, now);
    if (old !== undefined) {
      // A TIME-WAIT tuple is reused by an explicit bind (as with SO_REUSEADDR) or, when
      // safe, by the ephemeral port choice (reusableTimeWait); never a live connection.
      if (old.state !== TIME_WAIT) return SocketError.EADDRINUSE;
      // Start beyond anything the old connection sent (as Linux does: snd_nxt + 65537).
      iss = (old.sndNxt + 65537) >>> 0;
      old.toClosed();
      this.settle(old);
      this.host.count('tcp.timeWaitReused');
    }
    s.localAddr = src;
    s.localPort = lport;
    s.remoteAddr = address;
    s.remotePort = port;
    s.key = key;
    this.addConn(s);
    s.startConnect(iss, this.tsOffset(src, lport, address, port), now);
    this.settle(s);
    return 0;
  }

  tcpListen(h: Handle, backlog: number): 0 | SocketError {
    const s = this.sock(h);
    if (s === undefined) return SocketError.EBADF;
    if (s.state === LISTEN) {
      s.backlog = Math.max(1, backlog | 0);
      return 0;
    }
    if (s.state !== CLOSED || s.remoteAddr !== undefined) return SocketError.EINVAL;
    if (!s.bound) {
      const e = this.tcpBind(h, undefined, 0);
      if (e !== 0) return e;
    }
    s.state = LISTEN;
    s.backlog = Math.max(1, backlog | 0);
    this.ports.listen(s);
    return 0;
  }

  tcpAccept(h: Handle): Handle | undefined {
    const l = this.sock(h);
    if (l === undefined || l.state !== LISTEN) return undefined;
    const c = l.acceptQueue.shift();
    if (c === undefined) return undefined;
    c.accepted = true;
    c.listener = undefined;
    if (c.deferredEvents !== 0) this.deferred.push(c);
    return c.handle;
  }

  tcpSend(h: Handle, data: Uint8Array): number | SocketError {
    const s = this.sock(h);
    if (s === undefined) return -SocketError.EBADF;
    if (s.error !== 0) return -s.error;
    const st = s.state;
    if (s.finQueued || (st > ESTABLISHED && st !== CLOSE_WAIT)) return -SocketError.EPIPE;
    if (st === CLOSED)
      return s.remoteAddr !== undefined || s.errorReported ? -SocketError.EPIPE : -SocketError.ENOTCONN;
    if (st === LISTEN) return -SocketError.ENOTCONN;
    const took = s.send(data);
    this.settle(s);
    return took;
  }

  tcpSendSpace(h: Handle): number {
    const s = this.sock(h);
    return s === undefined ? 0 : s.sendRing.free;
  }

  tcpRecv(h: Handle, into: Uint8Array): number {
    const s = this.sock(h);
    if (s === undefined) return -SocketError.EBADF;
    if (s.error !== 0 && s.error !== SocketError.ETIMEDOUT && s.recvRing.length === 0) return -s.error;
    if (s.error === SocketError.ECONNRESET) return -s.error;
    const n = s.recv(into, this.lastNow);
    if (n > 0) {
      this.settle(s);
      return n;
    }
    if (s.finReceived) return EOF;
    if (s.error !== 0) return -s.error;
    if (s.state === CLOSED && s.remoteAddr === undefined) return -SocketError.ENOTCONN;
    if (s.state === CLOSED) return s.errorReported ? -s.errorReported : EOF;
    return 0;
  }

  tcpShutdown(h: Handle): 0 | SocketError {
    const s = this.sock(h);
    if (s === undefined) return SocketError.EBADF;
    const e = s.shutdown();
    this.settle(s);
    return e;
  }

  tcpClose(h: Handle): void {
    const s = this.sock(h);
    if (s === undefined) return;
    s.released = true;
    this.handles.delete(h);
    const st = s.state;
    if (st === CLOSED) return;
    if (st === LISTEN || st === SYN_SENT) s.toClosed();
    // RFC 2525 §2.17: closing with unread data resets the connection.
    else if (s.recvRing.length > 0) s.abortWithRst();
    else s.shutdown();
    this.settle(s);
  }

  tcpAbort(h: Handle): void {
    const s = this.sock(h);
    if (s === undefined) return;
    s.released = true;
    this.handles.delete(h);
    if (s.state === CLOSED) return;
    s.abortWithRst();
    this.settle(s);
  }

  tcpSetNoDelay(h: Handle, on: boolean): void {
    const s = this.sock(h);
    if (s === undefined) return;
    s.noDelay = on;
    if (on && s.sendRing.length > 0) this.markOutput(s);
  }

  tcpSetKeepAlive(h: Handle, idleMs: number): void {
    const s = this.sock(h);
    if (s === undefined) return;
    s.setKeepAlive(Math.max(0, idleMs), this.lastNow);
    this.settle(s);
  }

  tcpInfo(h: Handle): TcpInfo | undefined {
    const s = this.sock(h);
    if (s === undefined) return undefined;
    return {
      state: stateNames[s.state]!,
      localAddress: s.localAddr,
      localPort: s.localPort,
      remoteAddress: s.remoteAddr,
      remotePort: s.remotePort,
      sendQueued: s.sendRing.length,
      recvQueued: s.recvRing.length,
      srtt: s.srtt,
      rto: s.rto,
      cwnd: Math.floor(s.cc.cwnd),
      ssthresh: Math.min(Math.floor(s.cc.ssthresh), 0x7fffffff),
      mss: s.smss,
      sendWindow: s.sndWnd,
      retransmits: s.retransmits,
    };
  }

  /** Connections the layer still tracks (including TIME-WAIT and orphans): for tests and stats. */
  connectionCount(): number {
    return this.conns.size;
  }

  /** Connections in TIME-WAIT. */
  timeWaitCount(): number {
    return this.timeWaits.size;
  }

  /** Open TCP handles (connections the application holds, listeners, unconnected sockets). */
  handleCount(): number {
    return this.handles.size;
  }
}
