/**
 * SYN cookies (RFC 4987 §3.6, as Linux's net/ipv4/syncookies.c): the ISN is
 *   H0(tuple) + peer ISN + (count << 24) + ((H1(tuple, count) + mssIndex) & 0xffffff)
 * with `count` a 64-second clock from the caller's `now`. The peer's MSS goes in as an
 * index into a table; window scale and SACK ride in the low 6 bits of our timestamp
 * (so only with timestamps, as on Linux). H0 and H1 are the configured keyed PRF
 * (`StackConfig.keyedPrf`: SipHash-2-4 from a library, as Linux uses). The keys come from
 * the configured random source and are replaced every COOKIE_ROTATE counts; the
 * previous key still checks.
 *
 * This file is the codec and its keys; the layer sends the SYN,ACK and opens the
 * connection from a good cookie.
 */
import type { IpHost, KeyedPrf } from '../registration.js';
import { seqAdd, seqGt } from '../seq.js';
import type { IpAddress } from '../wire/ip-address.js';
import { TcpFlags, TcpRepr } from '../wire/tcp.js';
import { KeyedHash } from './isn.js';

const { SYN, ACK } = TcpFlags;

const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;
const COOKIE_PERIOD_MS = 64_000;
/** A cookie is good for this many counts (64–128 s, Linux: two minutes). */
const COOKIE_MAX_AGE = 2;
const COOKIE_ROTATE = 4;
/** MSS values a cookie can carry (Linux msstab). */
const MSS_TABLE_V4 = [536, 1300, 1440, 1460];
const MSS_TABLE_V6 = [1220, 1400, 1440, 1460];
/** Timestamp low bits: window scale (4 bits, 15 = none) and SACK (bit 4). */
const TS_OPT_BITS = 6;
const TS_OPT_MASK = (1 << TS_OPT_BITS) - 1;
const TS_NO_WSCALE = 0xf;

export class SynCookies {
  /** Keys: current and previous, and the count at which the current one was made. */
  private key: KeyedHash | undefined;
  private keyPrev: KeyedHash | undefined;
  private keyAt = 0;
  /** A SYN as the peer sent it, rebuilt from a cookie's ACK. */
  private readonly syn = new TcpRepr();
  /** Listeners that sent cookies: until when an ACK may carry one. */
  private readonly until = new WeakMap<object, number>();

  constructor(
    private readonly host: IpHost,
    private readonly prf: KeyedPrf,
  ) {}

  /**
   * May an ACK to `listener` carry a cookie now? Only while cookies are recent on it, as
   * Linux's tcp_synq_no_recent_overflow.
   */
  recent(listener: object, now: number): boolean {
    return (this.until.get(listener) ?? 0) > now;
  }

  /** The cookie keys for count `count`, rotated from the configured random source. */
  private rotate(count: number): void {
    if (this.key === undefined || ((count - this.keyAt) & 0xff) >= COOKIE_ROTATE) {
      this.keyPrev = this.key;
      this.key = new KeyedHash((b) => this.host.random(b), this.prf);
      this.keyAt = count;
      this.host.count('tcp.synCookieKeys');
    }
  }

  private value(
    key: KeyedHash,
    local: IpAddress,
    lport: number,
    remote: IpAddress,
    rport: number,
    sseq: number,
    count: number,
    mssIndex: number,
  ): number {
    const h0 = key.tuple(local, lport, remote, rport, 0x5c0);
    const h1 = key.tuple(local, lport, remote, rport, 0x5c1 + (count << 8));
    return (h0 + sseq + ((count & 0xff) << COOKIE_BITS) + ((h1 + mssIndex) & COOKIE_MASK)) >>> 0;
  }

  /** The MSS index a valid cookie carries, or -1. */
  private check(
    key: KeyedHash,
    local: IpAddress,
    lport: number,
    remote: IpAddress,
    rport: number,
    sseq: number,
    cookie: number,
    nowCount: number,
  ): number {
    const h0 = key.tuple(local, lport, remote, rport, 0x5c0);
    const diff = (cookie - h0 - sseq) >>> 0;
    const count = diff >>> COOKIE_BITS;
    if (((nowCount - count) & 0xff) >= COOKIE_MAX_AGE) return -1;
    const h1 = key.tuple(local, lport, remote, rport, 0x5c1 + (count << 8));
    const mssIndex = (diff - h1) & COOKIE_MASK;
    return mssIndex < MSS_TABLE_V4.length ? mssIndex : -1;
  }

  /**
   * Fills `r` with the SYN,ACK that answers `syn` (src → dst, to `listener`) with a cookie
   * ISN. `pathMax` is the path's transport payload towards src; `tsOffset` the
   * connection's timestamp offset (used only when the SYN has timestamps).
   */
  synAck(
    r: TcpRepr,
    listener: object,
    src: IpAddress,
    dst: IpAddress,
    syn: TcpRepr,
    now: number,
    recvCapacity: number,
    pathMax: number,
    tsOffset: number,
    /** The receive buffer the window scale is chosen for (recvBufferMax when autotuning). */
    recvMax = recvCapacity,
  ): void {
    const count = Math.floor(now / COOKIE_PERIOD_MS) & 0xff;
    this.rotate(count);
    this.until.set(listener, now + COOKIE_MAX_AGE * COOKIE_PERIOD_MS);
    const table = src.version === 4 ? MSS_TABLE_V4 : MSS_TABLE_V6;
    const peerMss = syn.mss > 0 ? syn.mss : table[0]!;
    let idx = table.length - 1;
    while (idx > 0 && table[idx]! > peerMss) idx--;
    const iss = this.value(this.key!, dst, syn.dstPort, src, syn.srcPort, syn.seq, count, idx);
    r.srcPort = syn.dstPort;
    r.dstPort = syn.srcPort;
    r.seq = iss;
    r.ack = seqAdd(syn.seq, 1);
    r.flags = SYN | ACK;
    r.window = Math.min(recvCapacity, 65535);
    r.urgent = 0;
    r.checksum = 0;
    r.clearOptions();
    r.mss = Math.min(pathMax - 20, 65535);
    if (syn.hasTimestamp) {
      // Window scale and SACK only where the timestamp can carry them back.
      let opts = TS_NO_WSCALE;
      if (syn.wscale >= 0) {
        r.wscale = rcvShiftFor(Math.max(recvCapacity, recvMax));
        opts = Math.min(syn.wscale, 14);
      }
      if (syn.sackPermitted) {
        r.sackPermitted = true;
        opts |= 0x10;
      }
      const tsNow = (Math.floor(now) + tsOffset) >>> 0;
      let ts = ((tsNow & ~TS_OPT_MASK) | opts) >>> 0;
      // Never a timestamp in the future (its echo is an RTT sample).
      if (seqGt(ts, tsNow)) ts = (ts - (1 << TS_OPT_BITS)) >>> 0;
      r.hasTimestamp = true;
      r.tsVal = ts;
      r.tsEcr = syn.tsVal;
    }
  }

  /**
   * Checks the cookie in an ACK `r` (src → dst) and returns the SYN the peer sent, options
   * rebuilt (our ISN is `r.ack - 1`); undefined when it is not a valid cookie.
   */
  open(src: IpAddress, dst: IpAddress, r: TcpRepr, now: number): TcpRepr | undefined {
    const nowCount = Math.floor(now / COOKIE_PERIOD_MS) & 0xff;
    const sseq = (r.seq - 1) >>> 0;
    const cookie = (r.ack - 1) >>> 0;
    let idx = -1;
    for (const key of [this.key, this.keyPrev]) {
      if (key === undefined) continue;
      idx = this.check(key, dst, r.dstPort, src, r.srcPort, sseq, cookie, nowCount);
      if (idx >= 0) break;
    }
    if (idx < 0) {
      this.host.count('tcp.synCookiesFailed');
      return undefined;
    }
    const syn = this.syn;
    syn.clearOptions();
    syn.srcPort = r.srcPort;
    syn.dstPort = r.dstPort;
    syn.seq = sseq;
    syn.ack = 0;
    syn.flags = SYN;
    syn.window = r.window;
    syn.mss = (src.version === 4 ? MSS_TABLE_V4 : MSS_TABLE_V6)[idx]!;
    if (r.hasTimestamp) {
      const opts = r.tsEcr & TS_OPT_MASK;
      const ws = opts & 0xf;
      if (ws !== TS_NO_WSCALE) syn.wscale = ws;
      syn.sackPermitted = (opts & 0x10) !== 0;
      syn.hasTimestamp = true;
      syn.tsVal = r.tsVal;
    }
    return syn;
  }
}

/** The window scale we announce for a receive buffer of `capacity` (as TcpSocket.chooseShift). */
function rcvShiftFor(capacity: number): number {
  // One listener's capacity, over and over under a flood: remember the last answer.
  if (capacity === lastShiftCapacity) return lastShift;
  let s = 0;
  while (s < 14 && 65535 * 2 ** s < capacity) s++;
  lastShiftCapacity = capacity;
  lastShift = s;
  return s;
}
let lastShiftCapacity = -1;
let lastShift = 0;
