/**
 * A WireGuard device: peers, the index table, the receive path (handshake, cookie and transport
 * messages from UDP) and the send path (IP packets to peers by cryptokey routing), with the timer
 * rules fired from poll(). The UDP socket, the clock and the random source are injected, so two
 * devices can run in one process over an in-memory network with a manual clock.
 *
 * Every message that is malformed, forged, replayed or not for us is counted in `counters` and
 * dropped with no state change.
 */
import { AllowedIps } from './allowedips.js';
import { CookieChecker } from './cookie.js';
import {
  DEFAULT_LIMITS,
  HANDSHAKE_INITIATION_RATE,
  type Limits,
  MAX_TIMER_HANDSHAKES,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_INITIATION,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_TRANSPORT,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_MIN_SIZE,
  PADDING_MULTIPLE,
} from './constants.js';
import { KEY_SIZE, PrivateKey, type RandomSource, TAG_SIZE, cryptoRandom, equalBytes } from './crypto.js';
import { type Prefix, parseIp } from './ip.js';
import { Keypair } from './keypair.js';
import { encodeKey } from './keys.js';
import {
  HandshakeState,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveSession,
  openInitiation,
  precompute,
} from './noise.js';
import { type Endpoint, Peer } from './peer.js';
import { PeerTimers, TIMER_NAMES, type TimerName } from './timers.js';
import { type AeadBackend, type TransportAead, transportAead } from './transport-aead.js';
import { nativeTcpSegment, planTcpSegments, type TcpSegmentFn, tcpSegmentInto } from '@tapstack/tap-io';

export type { Endpoint } from './peer.js';

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch (for TAI64N and `latest handshake`). */
  wall(): number;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
};

/** Where the device sends UDP datagrams. */
export interface Bind {
  send(datagram: Uint8Array, to: Endpoint): void;
  /**
   * True when send() copies the datagram before it returns (tap-io's batched socket): the
   * device then reuses one buffer for the messages it seals. Otherwise (node:dgram keeps it
   * until sent) every flush seals into a new one.
   */
  readonly copies?: boolean;
}

export interface DeviceOptions {
  privateKey: Uint8Array | PrivateKey;
  bind: Bind;
  /**
   * Decrypted IP packets from peers, after the cryptokey routing check. Each packet is a
   * view of a buffer made for it alone: the callee may keep it.
   */
  onPacket: (packet: Uint8Array, peerPublicKey: string) => void;
  clock?: Clock;
  random?: RandomSource;
  limits?: Partial<Limits>;
  /** Inner MTU: packets are padded up to a multiple of 16 but not past it. Default 1420. */
  mtu?: number;
  /** Handshake messages per second above which the device is under load and asks for cookies. */
  underLoadThreshold?: number;
  /** Staged packets per peer while it has no session. Default 128. */
  maxStaged?: number;
  /** Sources tracked by the under-load rate limiter. Default 4096. */
  maxRateLimitEntries?: number;
  /**
   * Transport data AEAD: 'openssl' (default where tap-io's addon is built: OpenSSL contexts
   * reused, a batch per call) or 'node' (node:crypto, a cipher object per message).
   * TAPSTACK_WG_AEAD=node makes 'node' the default.
   */
  aead?: AeadBackend;
}

export interface PeerOptions {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  allowedIps?: Prefix[];
  endpoint?: Endpoint;
  /** Seconds; 0 = off. */
  persistentKeepalive?: number;
}

export interface PeerInfo {
  publicKey: string;
  endpoint: Endpoint | undefined;
  /** Wall-clock ms of the latest handshake, 0 if none. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  allowedIps: Prefix[];
  persistentKeepalive: number;
  /** A session exists that can send now. */
  hasSession: boolean;
}

export interface DeviceCounters {
  rxDatagrams: number;
  txDatagrams: number;
  dropMalformed: number;
  dropMac1: number;
  dropUnknownPeer: number;
  dropHandshakeRejected: number;
  dropUnknownIndex: number;
  dropRateLimited: number;
  dropDecrypt: number;
  dropReplay: number;
  dropExpiredKeypair: number;
  dropAllowedIps: number;
  dropBadInner: number;
  dropNoRoute: number;
  dropNoEndpoint: number;
  dropStagedFull: number;
  dropTooBig: number;
  /** OpenSSL refused to seal (never seen; counted rather than sent unsealed). */
  dropEncrypt: number;
  cookieRepliesSent: number;
  cookieRepliesConsumed: number;
  initiationsSent: number;
  initiationsReceived: number;
  responsesSent: number;
  responsesReceived: number;
  keepalivesSent: number;
  keepalivesReceived: number;
}

function newCounters(): DeviceCounters {
  return {
    rxDatagrams: 0,
    txDatagrams: 0,
    dropMalformed: 0,
    dropMac1: 0,
    dropUnknownPeer: 0,
    dropHandshakeRejected: 0,
    dropUnknownIndex: 0,
    dropRateLimited: 0,
    dropDecrypt: 0,
    dropReplay: 0,
    dropExpiredKeypair: 0,
    dropAllowedIps: 0,
    dropBadInner: 0,
    dropNoRoute: 0,
    dropNoEndpoint: 0,
    dropStagedFull: 0,
    dropTooBig: 0,
    dropEncrypt: 0,
    cookieRepliesSent: 0,
    cookieRepliesConsumed: 0,
    initiationsSent: 0,
    initiationsReceived: 0,
    responsesSent: 0,
    responsesReceived: 0,
    keepalivesSent: 0,
    keepalivesReceived: 0,
  };
}

type IndexEntry = { peer: Peer; keypair?: Keypair };

/** A transport message written into the seal buffer, waiting to be sealed and sent (#flushSeals). */
interface SealJob {
  peer: Peer;
  kp: Keypair;
  /** The IP packet's length (0: a keepalive). */
  size: number;
  /** Where the message starts in the seal buffer. */
  at: number;
  /** Plaintext bytes after padding. */
  padded: number;
}

/** A transport message waiting to be opened (receiveMany collects them, #flushOpens delivers). */
interface OpenJob {
  peer: Peer;
  kp: Keypair;
  msg: Uint8Array;
  from: Endpoint;
  counter: number;
  plain: Uint8Array | undefined;
}

/** Plaintext bytes of collected messages after which they are opened (bounds the arena). */
const OPEN_BATCH_BYTES = 256 * 1024;
/** The buffer opened packets are carved from, batch after batch. */
const OPEN_POOL_BYTES = 64 * 1024;

const EMPTY = new Uint8Array(0);

/** Bytes of a UDP source (address then little-endian port), what cookies are bound to. */
function endpointBytes(e: Endpoint): Uint8Array {
  const a = parseIp(e.address) ?? new Uint8Array(0);
  const out = new Uint8Array(a.length + 2);
  out.set(a);
  out[a.length] = e.port & 0xff;
  out[a.length + 1] = e.port >> 8;
  return out;
}

function sameEndpoint(a: Endpoint | undefined, b: Endpoint): boolean {
  return a !== undefined && a.address === b.address && a.port === b.port;
}

/** Inner source address of an IP packet, or undefined if it is not a well-formed IP header. */
function innerLength(p: Uint8Array): number | undefined {
  const version = (p[0] as number) >> 4;
  if (version === 4 && p.length >= 20) return ((p[2] as number) << 8) | (p[3] as number);
  if (version === 6 && p.length >= 40) return (((p[4] as number) << 8) | (p[5] as number)) + 40;
  return undefined;
}

export class WireGuardDevice {
  readonly counters = newCounters();
  readonly #key: PrivateKey;
  readonly #bind: Bind;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #limits: Limits;
  readonly #mtu: number;
  readonly #onPacket: DeviceOptions['onPacket'];
  readonly #cookieChecker: CookieChecker;
  readonly #peers = new Map<string, Peer>();
  readonly #indices = new Map<number, IndexEntry>();
  readonly #allowed = new AllowedIps<Peer>();
  readonly #underLoadThreshold: number;
  readonly #maxStaged: number;
  readonly #maxRateLimit: number;
  #loadWindowStart = Number.NEGATIVE_INFINITY;
  #loadCount = 0;
  #underLoadUntil = Number.NEGATIVE_INFINITY;
  /** Under load: per-source token buckets (20/s, burst 5), capped and aged. */
  readonly #rateLimit = new Map<string, { tokens: number; at: number }>();
  readonly #word = new Uint8Array(4);
  readonly #aead: TransportAead;
  #sealJobs: SealJob[] = [];
  // The buffer transport messages are written into as they are collected: reused when the
  // bind copies what it sends, else a new one after each flush (node:dgram may still hold
  // the last one's messages), sized from the last.
  #sealBuf: ArrayBuffer | undefined;
  #sealU8 = EMPTY;
  #sealView = new DataView(new ArrayBuffer(0));
  #sealUsed = 0;
  #lastSealBytes = 0;
  #openJobs: OpenJob[] = [];
  #openPool: ArrayBuffer | undefined;
  #openPoolUsed = 0;
  #openBytes = 0;
  // Index arrays for the batched AEAD calls, grown on demand.
  #off = new Uint32Array(64);
  #dstOff = new Uint32Array(64);
  #len = new Uint32Array(64);
  #ctr = new Uint32Array(128);
  #ok = new Uint8Array(64);
  readonly #onePacket: Uint8Array[] = [EMPTY];
  /** Where sendSegmented's parts go in the seal buffer. */
  #partOff = new Uint32Array(64);
  readonly #segment: TcpSegmentFn = nativeTcpSegment() ?? tcpSegmentInto;

  constructor(o: DeviceOptions) {
    this.#key = o.privateKey instanceof PrivateKey ? o.privateKey : new PrivateKey(o.privateKey);
    this.#bind = o.bind;
    this.#clock = o.clock ?? systemClock;
    this.#random = o.random ?? cryptoRandom;
    this.#limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.#mtu = o.mtu ?? 1420;
    this.#onPacket = o.onPacket;
    this.#cookieChecker = new CookieChecker(this.#key.publicKey, this.#random);
    this.#underLoadThreshold = o.underLoadThreshold ?? 1000;
    this.#maxStaged = o.maxStaged ?? 128;
    this.#maxRateLimit = o.maxRateLimitEntries ?? 4096;
    this.#aead = transportAead(o.aead);
  }

  /** Which transport AEAD is in use: 'openssl' (batched, tap-io's addon) or 'node'. */
  get aeadBackend(): AeadBackend {
    return this.#aead.backend;
  }

  get publicKey(): Uint8Array {
    return this.#key.publicKey;
  }

  // ---------------------------------------------------------------- peers

  addPeer(o: PeerOptions): void {
    if (o.publicKey.length !== KEY_SIZE) throw new Error('PublicKey: must be 32 bytes');
    const id = encodeKey(o.publicKey);
    if (this.#peers.has(id)) throw new Error(`PublicKey: peer ${id} already exists`);
    if (equalBytes(o.publicKey, this.#key.publicKey)) throw new Error('PublicKey: is our own key');
    const psk = o.presharedKey ? Uint8Array.from(o.presharedKey) : new Uint8Array(KEY_SIZE);
    const timers = new PeerTimers(this.#limits, () => this.#jitter(), (o.persistentKeepalive ?? 0) * 1000);
    const peer = new Peer(Uint8Array.from(o.publicKey), psk, timers);
    peer.handshake.precomputedStaticStatic = precompute(this.#key, o.publicKey);
    if (o.endpoint) peer.endpoint = { ...o.endpoint };
    for (const p of o.allowedIps ?? []) this.#allowed.insert(p, peer);
    this.#peers.set(id, peer);
    // A persistent keepalive starts the session without waiting for traffic.
    if (timers.persistentKeepaliveInterval > 0 && peer.endpoint) this.#sendKeepalive(peer);
  }

  removePeer(publicKey: Uint8Array): boolean {
    const id = encodeKey(publicKey);
    const peer = this.#peers.get(id);
    if (!peer) return false;
    this.#flushSeals();
    this.#zeroPeer(peer);
    peer.handshake.destroy();
    peer.cookieGenerator.destroy();
    this.#allowed.removeValue(peer);
    this.#peers.delete(id);
    return true;
  }

  peers(): PeerInfo[] {
    return [...this.#peers.values()].map((p) => this.#info(p));
  }

  #info(p: Peer): PeerInfo {
    return {
      publicKey: encodeKey(p.publicKey),
      endpoint: p.endpoint ? { ...p.endpoint } : undefined,
      latestHandshake: p.lastHandshake,
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
      allowedIps: this.#allowed.prefixesOf(p),
      persistentKeepalive: p.timers.persistentKeepaliveInterval / 1000,
      hasSession: this.#sendableKeypair(p) !== undefined,
    };
  }

  /** Wipe every key: the device is unusable afterwards. */
  destroy(): void {
    for (const p of [...this.#peers.values()]) this.removePeer(p.publicKey);
    this.#cookieChecker.destroy();
    this.#key.destroy();
  }

  // ---------------------------------------------------------------- timers

  /** When poll() next has work, in the clock's monotonic ms; undefined = nothing scheduled. */
  pollAt(): number | undefined {
    let at: number | undefined;
    for (const p of this.#peers.values()) {
      const d = p.timers.next();
      if (d !== undefined && (at === undefined || d < at)) at = d;
    }
    return at;
  }

  /** Fire every timer that is due. */
  poll(): void {
    this.#flushSeals();
    const now = this.#clock.now();
    for (const p of this.#peers.values()) {
      for (const name of TIMER_NAMES) {
        const d = p.timers.deadline[name];
        if (d !== undefined && d <= now) {
          p.timers.deadline[name] = undefined;
          this.#fire(p, name, now);
        }
      }
    }
  }

  #fire(peer: Peer, name: TimerName, now: number): void {
    const t = peer.timers;
    switch (name) {
      case 'retransmitHandshake':
        if (t.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
          // Give up: drop what waited for this handshake and schedule the wipe.
          peer.staged = [];
          if (t.deadline.zeroKeyMaterial === undefined)
            t.deadline.zeroKeyMaterial = now + this.#limits.rejectAfterTime * 3;
        } else {
          t.handshakeAttempts++;
          this.#sendInitiation(peer, true);
        }
        break;
      case 'sendKeepalive':
        this.#sendKeepalive(peer);
        if (t.needAnotherKeepalive) {
          t.needAnotherKeepalive = false;
          t.deadline.sendKeepalive = now + this.#limits.keepaliveTimeout;
        }
        break;
      case 'newHandshake':
        this.#sendInitiation(peer, false);
        break;
      case 'zeroKeyMaterial':
        this.#zeroKeys(peer);
        break;
      case 'persistentKeepalive':
        if (t.persistentKeepaliveInterval > 0) this.#sendKeepalive(peer);
        break;
    }
  }

  #jitter(): number {
    this.#random(this.#word);
    return new DataView(this.#word.buffer).getUint32(0) / 0x1_0000_0000;
  }

  // ---------------------------------------------------------------- send path

  /** Send an IP packet to the peer whose AllowedIPs hold its destination. */
  send(packet: Uint8Array): boolean {
    this.#onePacket[0] = packet;
    const n = this.sendMany(this.#onePacket);
    this.#onePacket[0] = EMPTY;
    return n === 1;
  }

  /**
   * Send IP packets: each as send() would, with the transport messages of the call sealed in
   * batches (one AEAD call per session key). `accepted[i]`, when given, is set to 1 for a packet
   * sent or staged for a handshake, 0 for one dropped (counted). Returns how many were accepted.
   */
  sendMany(packets: readonly Uint8Array[], accepted?: Uint8Array): number {
    let n = 0;
    for (let i = 0; i < packets.length; i++) {
      const ok = this.sendDeferred(packets[i] as Uint8Array);
      if (accepted) accepted[i] = ok ? 1 : 0;
      if (ok) n++;
    }
    this.flush();
    return n;
  }

  /**
   * Take an IP packet as send() does (the bytes are copied before this returns) but seal and
   * send it at the next flush(), with the others taken until then: one AEAD call per session
   * key. True when it was taken (or staged for a handshake), false when dropped (counted).
   */
  sendDeferred(packet: Uint8Array): boolean {
    const peer = this.#route(packet);
    if (!peer) return false;
    if (peer.staged.length === 0 && peer.endpoint) {
      // A session is up and nothing waits: copied into the seal buffer, sealed at the flush.
      const kp = this.#sendableKeypair(peer);
      if (kp) {
        this.#sendTransport(peer, kp, packet);
        return true;
      }
    }
    // Not sendable now: what was collected goes out first; this one waits for a session.
    this.flush();
    if (peer.staged.length >= this.#maxStaged) {
      peer.staged.shift();
      this.counters.dropStagedFull++;
    }
    peer.staged.push(Uint8Array.from(packet));
    this.#sendStaged(peer);
    return true;
  }

  /**
   * Take a TCP super-segment (a stack's GSO output: an IP packet longer than the MTU whose
   * payload goes out in parts of `gsoSize` bytes, see WireGuardLink `offload`) as
   * sendDeferred() takes a packet: its parts are cut straight into the seal buffer, each a
   * whole IP packet with its checksums (tap-io's tcpSegment, in C where the addon is built),
   * and sealed at the next flush(). Returns how many packets were taken (0: dropped, counted).
   */
  sendSegmented(packet: Uint8Array, gsoSize: number): number {
    const plan = planTcpSegments(packet, gsoSize);
    if (!plan) {
      this.counters.dropBadInner++;
      return 0;
    }
    const { th, hdr, payload, count } = plan;
    if (hdr + Math.min(gsoSize, payload) > this.#mtu) {
      this.counters.dropTooBig++;
      return 0;
    }
    const peer = this.#lookup(packet);
    if (!peer) return 0;
    const kp = peer.staged.length === 0 && peer.endpoint ? this.#sendableKeypair(peer) : undefined;
    if (!kp || kp.sendCounter + count > this.#limits.rejectAfterMessages) {
      // Not sendable now (no session, a handshake pending, the key's message limit near):
      // the parts go one by one as sendDeferred takes them.
      const scratch = new ArrayBuffer(packet.length + count * hdr);
      const offs = new Uint32Array(count);
      for (let i = 0, at = 0; i < count; i++) {
        offs[i] = at;
        at += hdr + Math.min(gsoSize, payload - i * gsoSize);
      }
      this.#segment(packet, th, gsoSize, scratch, offs, 0, count);
      let taken = 0;
      for (let i = 0; i < count; i++) {
        const len = hdr + Math.min(gsoSize, payload - i * gsoSize);
        if (this.sendDeferred(new Uint8Array(scratch, offs[i], len))) taken++;
      }
      return taken;
    }
    // Room for every part in one seal buffer (a 64 KiB super-segment: ~66 KiB).
    let total = 0;
    for (let i = 0; i < count; i++)
      total += this.#messageBytes(hdr + Math.min(gsoSize, payload - i * gsoSize));
    this.#reserve(total);
    if (this.#partOff.length < count) this.#partOff = new Uint32Array(count * 2);
    const offs = this.#partOff;
    const dv = this.#sealView;
    const u8 = this.#sealU8;
    let at = this.#sealUsed;
    for (let i = 0; i < count; i++) {
      const size = hdr + Math.min(gsoSize, payload - i * gsoSize);
      const need = this.#messageBytes(size);
      const padded = need - MESSAGE_TRANSPORT_HEADER_SIZE - TAG_SIZE;
      offs[i] = at + MESSAGE_TRANSPORT_HEADER_SIZE;
      if (padded > size)
        u8.fill(0, at + MESSAGE_TRANSPORT_HEADER_SIZE + size, at + MESSAGE_TRANSPORT_HEADER_SIZE + padded);
      at += need;
    }
    this.#segment(packet, th, gsoSize, this.#sealBuf as ArrayBuffer, offs, 0, count);
    at = this.#sealUsed;
    for (let i = 0; i < count; i++) {
      const size = hdr + Math.min(gsoSize, payload - i * gsoSize);
      const need = this.#messageBytes(size);
      const counter = kp.sendCounter++;
      dv.setUint32(at, MESSAGE_TRANSPORT, true); // type, then 3 reserved zero bytes
      dv.setUint32(at + 4, kp.remoteIndex, true);
      dv.setUint32(at + 8, counter >>> 0, true);
      dv.setUint32(at + 12, Math.floor(counter / 0x1_0000_0000), true);
      this.#sealJobs.push({ peer, kp, size, at, padded: need - MESSAGE_TRANSPORT_HEADER_SIZE - TAG_SIZE });
      at += need;
    }
    this.#sealUsed = at;
    return count;
  }

  /** Seal and send what sendDeferred() took. */
  flush(): void {
    this.#flushSeals();
  }

  /** The peer an IP packet goes to, or undefined (dropped and counted). */
  #route(packet: Uint8Array): Peer | undefined {
    const v = packet.length > 0 ? (packet[0] as number) >> 4 : 0;
    let dst: Uint8Array;
    if (v === 4 && packet.length >= 20) dst = packet.subarray(16, 20);
    else if (v === 6 && packet.length >= 40) dst = packet.subarray(24, 40);
    else {
      this.counters.dropBadInner++;
      return undefined;
    }
    if (packet.length > this.#mtu) {
      this.counters.dropTooBig++;
      return undefined;
    }
    const peer = this.#allowed.lookup(dst);
    if (!peer) this.counters.dropNoRoute++;
    return peer;
  }

  /** The peer whose AllowedIPs hold the destination of a checked IP packet (see planTcpSegments), or undefined (counted). */
  #lookup(packet: Uint8Array): Peer | undefined {
    const v4 = (packet[0] as number) >> 4 === 4;
    const peer = this.#allowed.lookup(v4 ? packet.subarray(16, 20) : packet.subarray(24, 40));
    if (!peer) this.counters.dropNoRoute++;
    return peer;
  }

  /** Initiate a handshake with a peer now (as `wg` does on first traffic). */
  connect(publicKey: Uint8Array): void {
    const peer = this.#peers.get(encodeKey(publicKey));
    if (peer) this.#sendInitiation(peer, false);
  }

  #sendableKeypair(peer: Peer): Keypair | undefined {
    const kp = peer.keypairs.current;
    if (!kp) return undefined;
    if (kp.sendCounter >= this.#limits.rejectAfterMessages) return undefined;
    if (this.#clock.now() - kp.created >= this.#limits.rejectAfterTime) return undefined;
    return kp;
  }

  #sendKeepalive(peer: Peer): void {
    if (peer.staged.length === 0) peer.staged.push(new Uint8Array(0));
    this.#sendStaged(peer);
  }

  #sendStaged(peer: Peer): void {
    const kp = this.#sendableKeypair(peer);
    if (!kp) {
      this.#sendInitiation(peer, false);
      return;
    }
    if (!peer.endpoint) {
      this.counters.dropNoEndpoint += peer.staged.length;
      peer.staged = [];
      return;
    }
    const queue = peer.staged;
    peer.staged = [];
    for (const p of queue) {
      if (kp.sendCounter >= this.#limits.rejectAfterMessages) {
        peer.staged.push(p);
        continue;
      }
      this.#sendTransport(peer, kp, p);
    }
    this.#flushSeals();
  }

  /** Rekey as initiator after REKEY_AFTER_MESSAGES or REKEY_AFTER_TIME (paper 6.2). */
  #maybeRekey(peer: Peer, kp: Keypair, now: number): void {
    if (
      kp.isInitiator &&
      (kp.sendCounter >= this.#limits.rekeyAfterMessages || now - kp.created >= this.#limits.rekeyAfterTime)
    ) {
      this.#sendInitiation(peer, false);
    }
  }

  /** Write a transport message (header and padded plaintext) into the seal buffer; its counter is taken now. */
  /** Bytes of the transport message for an IP packet of `size` bytes (header, padded plaintext, tag). */
  #messageBytes(size: number): number {
    let padded = size;
    if (padded % PADDING_MULTIPLE !== 0) padded += PADDING_MULTIPLE - (padded % PADDING_MULTIPLE);
    if (padded > this.#mtu) padded = Math.max(size, this.#mtu);
    return MESSAGE_TRANSPORT_HEADER_SIZE + padded + TAG_SIZE;
  }

  /** Makes room for `need` more bytes in the seal buffer (sealing what it holds first if they do not fit). */
  #reserve(need: number): void {
    if (this.#sealBuf !== undefined && this.#sealUsed + need > this.#sealBuf.byteLength) {
      this.#flushSeals();
      // A reused buffer that this batch outgrew gives way to a larger one (up to 256 KiB).
      const b = this.#sealBuf as ArrayBuffer | undefined;
      if (b !== undefined && (b.byteLength < 256 * 1024 || need > b.byteLength)) this.#sealBuf = undefined;
    }
    if (this.#sealBuf === undefined) {
      const size = Math.max(need, Math.min(256 * 1024, Math.max(4096, this.#lastSealBytes * 2)));
      this.#sealBuf = new ArrayBuffer(size);
      this.#sealU8 = new Uint8Array(this.#sealBuf);
      this.#sealView = new DataView(this.#sealBuf);
      this.#sealUsed = 0;
    }
  }

  #sendTransport(peer: Peer, kp: Keypair, packet: Uint8Array): void {
    const need = this.#messageBytes(packet.length);
    const padded = need - MESSAGE_TRANSPORT_HEADER_SIZE - TAG_SIZE;
    this.#reserve(need);
    const at = this.#sealUsed;
    const counter = kp.sendCounter++;
    const dv = this.#sealView;
    dv.setUint32(at, MESSAGE_TRANSPORT, true); // type, then 3 reserved zero bytes
    dv.setUint32(at + 4, kp.remoteIndex, true);
    dv.setUint32(at + 8, counter >>> 0, true);
    dv.setUint32(at + 12, Math.floor(counter / 0x1_0000_0000), true);
    this.#sealU8.set(packet, at + MESSAGE_TRANSPORT_HEADER_SIZE);
    // Zero padding (the buffer may be a reused one).
    if (padded > packet.length)
      this.#sealU8.fill(
        0,
        at + MESSAGE_TRANSPORT_HEADER_SIZE + packet.length,
        at + MESSAGE_TRANSPORT_HEADER_SIZE + padded,
      );
    this.#sealUsed = at + need;
    this.#sealJobs.push({ peer, kp, size: packet.length, at, padded });
  }

  #grow(n: number): void {
    if (this.#off.length >= n) return;
    let c = this.#off.length;
    while (c < n) c *= 2;
    this.#off = new Uint32Array(c);
    this.#dstOff = new Uint32Array(c);
    this.#len = new Uint32Array(c);
    this.#ctr = new Uint32Array(2 * c);
    this.#ok = new Uint8Array(c);
  }

  /**
   * Seal the collected transport messages in place (one AEAD call per run of one session key),
   * send them in order, then run the timer and rekey rules.
   */
  #flushSeals(): void {
    const jobs = this.#sealJobs;
    const n = jobs.length;
    const arena = this.#sealBuf;
    if (n === 0 || arena === undefined) return;
    // A send below may re-enter (an in-process peer answering at once): start afresh first.
    this.#sealJobs = [];
    this.#sealBuf = undefined;
    this.#lastSealBytes = this.#sealUsed;
    const dv = this.#sealView;
    const u8 = this.#sealU8;
    this.#grow(n);
    const off = this.#off;
    const len = this.#len;
    const ctr = this.#ctr;
    for (let j = 0; j < n; j++) {
      const job = jobs[j] as SealJob;
      off[j] = job.at + MESSAGE_TRANSPORT_HEADER_SIZE;
      len[j] = job.padded;
      ctr[2 * j] = dv.getUint32(job.at + 8, true);
      ctr[2 * j + 1] = dv.getUint32(job.at + 12, true);
    }
    // Runs of one session key, one call each; what OpenSSL could not seal is not sent.
    const msgs: Array<Uint8Array | undefined> = new Array(n);
    for (let j = 0; j < n; ) {
      const kp = (jobs[j] as SealJob).kp;
      let k = j + 1;
      while (k < n && (jobs[k] as SealJob).kp === kp) k++;
      if (kp.destroyed) {
        // The session was wiped after these were taken (not seen: flushed before that can happen).
        this.counters.dropExpiredKeypair += k - j;
        j = k;
        continue;
      }
      const done = kp.aead.seal(kp.sendKey, arena, off, len, ctr, j, k - j);
      this.counters.dropEncrypt += k - j - done;
      for (let x = j; x < j + done; x++) {
        const start = (off[x] as number) - MESSAGE_TRANSPORT_HEADER_SIZE;
        msgs[x] = new Uint8Array(arena, start, MESSAGE_TRANSPORT_HEADER_SIZE + (len[x] as number) + TAG_SIZE);
      }
      j = k;
    }
    // Only jobs and msgs from here: a send may re-enter this device and reuse the index arrays.
    const now = this.#clock.now();
    const rekey: SealJob[] = [];
    for (let j = 0; j < n; j++) {
      const job = jobs[j] as SealJob;
      const msg = msgs[j];
      if (!msg) continue;
      const peer = job.peer;
      this.#out(peer, msg);
      peer.txBytes += msg.length;
      const t = peer.timers;
      t.anyAuthenticatedPacketTraversal(now);
      t.anyAuthenticatedPacketSent();
      if (job.size > 0) t.dataSent(now);
      else this.counters.keepalivesSent++;
      const last = rekey[rekey.length - 1];
      if (last === undefined || last.kp !== job.kp) rekey.push(job);
    }
    // A bind that copied every message leaves the buffer free: keep it, unless a send above
    // re-entered and started another.
    if (this.#bind.copies === true && this.#sealBuf === undefined && this.#sealJobs.length === 0) {
      this.#sealBuf = arena;
      this.#sealUsed = 0;
      this.#sealU8 = u8;
      this.#sealView = dv;
    }
    for (const job of rekey) this.#maybeRekey(job.peer, job.kp, now);
  }

  #out(peer: Peer, msg: Uint8Array): void {
    if (!peer.endpoint) {
      this.counters.dropNoEndpoint++;
      return;
    }
    this.counters.txDatagrams++;
    this.#bind.send(msg, peer.endpoint);
  }

  #newIndex(entry: IndexEntry): number {
    for (;;) {
      this.#random(this.#word);
      const i = new DataView(this.#word.buffer).getUint32(0, true);
      if (!this.#indices.has(i)) {
        this.#indices.set(i, entry);
        return i;
      }
    }
  }

  #sendInitiation(peer: Peer, isRetry: boolean): void {
    const now = this.#clock.now();
    const t = peer.timers;
    if (!isRetry) t.handshakeAttempts = 0;
    const hs = peer.handshake;
    // At most one initiation per REKEY_TIMEOUT (paper 6.1); retries come from the timer.
    if (!isRetry && now - hs.lastSentInitiation < this.#limits.rekeyTimeout) return;
    if (!peer.endpoint) {
      this.counters.dropNoEndpoint++;
      return;
    }
    if (hs.localIndex !== 0) this.#indices.delete(hs.localIndex);
    const index = this.#newIndex({ peer });
    const msg = createInitiation(this.#key, hs, index, this.#clock.wall(), this.#random);
    if (!msg) {
      this.#indices.delete(index);
      return;
    }
    hs.lastSentInitiation = now;
    peer.cookieGenerator.addMacs(msg, now);
    this.counters.initiationsSent++;
    this.#out(peer, msg);
    t.anyAuthenticatedPacketTraversal(now);
    t.anyAuthenticatedPacketSent();
    t.handshakeInitiated(now);
  }

  // ---------------------------------------------------------------- receive path

  /** A UDP datagram arrived from `from`. */
  receive(datagram: Uint8Array, from: Endpoint): void {
    this.#receiveOne(datagram, from);
    this.#flushOpens();
  }

  /**
   * Datagrams that arrived together (a recvmmsg burst): each as receive() would, with the
   * transport messages opened in batches (one AEAD call per session key). The datagrams need
   * to stay valid only during the call.
   */
  receiveMany(datagrams: readonly Uint8Array[], from: readonly Endpoint[], count = datagrams.length): void {
    for (let i = 0; i < count; i++) this.#receiveOne(datagrams[i] as Uint8Array, from[i] as Endpoint);
    this.#flushOpens();
  }

  #receiveOne(datagram: Uint8Array, from: Endpoint): void {
    this.counters.rxDatagrams++;
    const n = datagram.length;
    if (n < 4 || datagram[1] !== 0 || datagram[2] !== 0 || datagram[3] !== 0) {
      this.counters.dropMalformed++;
      return;
    }
    // Transport messages collected so far (both ways) go before anything that changes sessions.
    if (datagram[0] !== MESSAGE_TRANSPORT) {
      this.#flushOpens();
      this.#flushSeals();
    }
    switch (datagram[0]) {
      case MESSAGE_INITIATION:
        if (n !== MESSAGE_INITIATION_SIZE) break;
        this.#receiveHandshake(datagram, from);
        return;
      case MESSAGE_RESPONSE:
        if (n !== MESSAGE_RESPONSE_SIZE) break;
        this.#receiveHandshake(datagram, from);
        return;
      case MESSAGE_COOKIE_REPLY:
        if (n !== MESSAGE_COOKIE_REPLY_SIZE) break;
        this.#receiveCookieReply(datagram);
        return;
      case MESSAGE_TRANSPORT:
        if (n < MESSAGE_TRANSPORT_MIN_SIZE) break;
        this.#receiveTransport(datagram, from);
        return;
    }
    this.counters.dropMalformed++;
  }

  #underLoad(now: number): boolean {
    if (now - this.#loadWindowStart >= 1000) {
      this.#loadWindowStart = now;
      this.#loadCount = 0;
    }
    this.#loadCount++;
    if (this.#loadCount > this.#underLoadThreshold) this.#underLoadUntil = now + 1000;
    return now < this.#underLoadUntil;
  }

  #rateLimited(from: Endpoint, now: number): boolean {
    const key = from.address;
    let e = this.#rateLimit.get(key);
    if (!e) {
      if (this.#rateLimit.size >= this.#maxRateLimit) {
        // Age out entries idle for a second; if none, refuse new sources while full.
        for (const [k, v] of this.#rateLimit) if (now - v.at > 1000) this.#rateLimit.delete(k);
        if (this.#rateLimit.size >= this.#maxRateLimit) return true;
      }
      e = { tokens: 5, at: now };
      this.#rateLimit.set(key, e);
    }
    e.tokens = Math.min(5, e.tokens + ((now - e.at) * 20) / 1000);
    e.at = now;
    if (e.tokens < 1) return true;
    e.tokens -= 1;
    return false;
  }

  #receiveHandshake(msg: Uint8Array, from: Endpoint): void {
    const now = this.#clock.now();
    // MAC1 first: a message without it costs no Diffie-Hellman.
    if (!this.#cookieChecker.checkMac1(msg)) {
      this.counters.dropMac1++;
      return;
    }
    if (this.#underLoad(now)) {
      const src = endpointBytes(from);
      if (!this.#cookieChecker.checkMac2(msg, src, now)) {
        this.counters.cookieRepliesSent++;
        this.counters.txDatagrams++;
        this.#bind.send(this.#cookieChecker.createReply(msg, src, now), from);
        return;
      }
      if (this.#rateLimited(from, now)) {
        this.counters.dropRateLimited++;
        return;
      }
    }
    if (msg[0] === MESSAGE_INITIATION) this.#receiveInitiation(msg, from, now);
    else this.#receiveResponse(msg, from, now);
  }

  #receiveInitiation(msg: Uint8Array, from: Endpoint, now: number): void {
    const opened = openInitiation(this.#key, msg);
    if (!opened) {
      this.counters.dropHandshakeRejected++;
      return;
    }
    const peer = this.#peers.get(encodeKey(opened.remoteStatic));
    if (!peer) {
      this.counters.dropUnknownPeer++;
      return;
    }
    const hs = peer.handshake;
    const oldLocal = hs.localIndex;
    if (!opened.commit(hs, now, HANDSHAKE_INITIATION_RATE)) {
      this.counters.dropHandshakeRejected++;
      return;
    }
    if (oldLocal !== 0) this.#indices.delete(oldLocal);
    this.counters.initiationsReceived++;
    peer.endpoint = { ...from };
    // Respond, then derive our (responder) keypair into `next`.
    const index = this.#newIndex({ peer });
    const resp = createResponse(hs, index, this.#random);
    if (!resp) {
      this.#indices.delete(index);
      hs.clear();
      return;
    }
    peer.cookieGenerator.addMacs(resp, now);
    const keys = deriveSession(hs);
    if (!keys) return;
    this.#installKeypair(peer, keys, now);
    this.counters.responsesSent++;
    this.#out(peer, resp);
    const t = peer.timers;
    t.sessionDerived(now);
    t.anyAuthenticatedPacketTraversal(now);
    t.anyAuthenticatedPacketReceived();
    t.anyAuthenticatedPacketSent();
  }

  #receiveResponse(msg: Uint8Array, from: Endpoint, now: number): void {
    const receiver = new DataView(msg.buffer, msg.byteOffset).getUint32(8, true);
    const entry = this.#indices.get(receiver);
    if (!entry || entry.keypair || entry.peer.handshake.localIndex !== receiver) {
      this.counters.dropUnknownIndex++;
      return;
    }
    const peer = entry.peer;
    const hs = peer.handshake;
    if (hs.state !== HandshakeState.InitiationCreated || !consumeResponse(this.#key, hs, msg)) {
      this.counters.dropHandshakeRejected++;
      return;
    }
    this.counters.responsesReceived++;
    peer.endpoint = { ...from };
    const keys = deriveSession(hs);
    if (!keys) return;
    this.#installKeypair(peer, keys, now);
    const t = peer.timers;
    t.anyAuthenticatedPacketTraversal(now);
    t.anyAuthenticatedPacketReceived();
    t.sessionDerived(now);
    t.handshakeComplete();
    peer.lastHandshake = this.#clock.wall();
    // Confirm the session to the responder: staged data, or a keepalive.
    this.#sendKeepalive(peer);
  }

  #installKeypair(
    peer: Peer,
    keys: {
      send: Uint8Array;
      receive: Uint8Array;
      isInitiator: boolean;
      localIndex: number;
      remoteIndex: number;
    },
    now: number,
  ): void {
    const kp = new Keypair(
      keys.send,
      keys.receive,
      keys.isInitiator,
      now,
      keys.localIndex,
      keys.remoteIndex,
      this.#aead,
    );
    this.#indices.set(kp.localIndex, { peer, keypair: kp });
    const k = peer.keypairs;
    const drop = (x: Keypair | undefined) => {
      if (!x) return;
      this.#indices.delete(x.localIndex);
      x.destroy();
    };
    if (keys.isInitiator) {
      const previous = k.previous;
      if (k.next) {
        k.previous = k.next;
        k.next = undefined;
        drop(k.current);
      } else {
        k.previous = k.current;
      }
      drop(previous);
      k.current = kp;
    } else {
      drop(k.next);
      k.next = kp;
      drop(k.previous);
      k.previous = undefined;
    }
  }

  #receiveCookieReply(msg: Uint8Array): void {
    const receiver = new DataView(msg.buffer, msg.byteOffset).getUint32(4, true);
    const entry = this.#indices.get(receiver);
    if (!entry) {
      this.counters.dropUnknownIndex++;
      return;
    }
    if (!entry.peer.cookieGenerator.consumeReply(msg, this.#clock.now())) {
      this.counters.dropDecrypt++;
      return;
    }
    this.counters.cookieRepliesConsumed++;
  }

  /** Check a transport message's header and collect it for #flushOpens. */
  #receiveTransport(msg: Uint8Array, from: Endpoint): void {
    const now = this.#clock.now();
    const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    const entry = this.#indices.get(v.getUint32(4, true));
    const kp = entry?.keypair;
    if (!entry || !kp) {
      this.counters.dropUnknownIndex++;
      return;
    }
    if (now - kp.created >= this.#limits.rejectAfterTime) {
      this.counters.dropExpiredKeypair++;
      return;
    }
    const hi = v.getUint32(12, true);
    const counter = hi * 0x1_0000_0000 + v.getUint32(8, true);
    if (hi >= 0x20_0000 || counter >= this.#limits.rejectAfterMessages) {
      this.counters.dropReplay++;
      return;
    }
    // The batched AEAD reads ArrayBuffers (a view of shared memory is copied out first).
    const m = msg.buffer instanceof ArrayBuffer ? msg : msg.slice();
    this.#openJobs.push({ peer: entry.peer, kp, msg: m, from, counter, plain: undefined });
    this.#openBytes += msg.length;
    if (this.#openBytes >= OPEN_BATCH_BYTES) this.#flushOpens();
  }

  /**
   * Open the collected transport messages (one AEAD call per run of one session key and
   * buffer) into one new buffer, then handle each in arrival order as wireguard-go does after
   * decryption: replay window, session confirmation, roaming, timers, cryptokey routing.
   */
  #flushOpens(): void {
    const jobs = this.#openJobs;
    const n = jobs.length;
    if (n === 0) return;
    this.#openJobs = [];
    this.#openBytes = 0;
    this.#grow(n);
    const off = this.#off;
    const dstOff = this.#dstOff;
    const len = this.#len;
    const ctr = this.#ctr;
    const ok = this.#ok;
    let total = 0;
    for (let j = 0; j < n; j++) {
      const job = jobs[j] as OpenJob;
      const sealed = job.msg.length - MESSAGE_TRANSPORT_HEADER_SIZE;
      off[j] = job.msg.byteOffset + MESSAGE_TRANSPORT_HEADER_SIZE;
      len[j] = sealed;
      dstOff[j] = total;
      total += sealed - TAG_SIZE;
      ctr[2 * j] = job.counter >>> 0;
      ctr[2 * j + 1] = Math.floor(job.counter / 0x1_0000_0000);
    }
    // Packets are views of a pool buffer that is never written twice: a consumer may keep
    // them (the onPacket contract). Consecutive flushes take their space from one 64 KiB
    // buffer (no allocation per packet; one kept packet keeps at most that alive).
    if (this.#openPool === undefined || this.#openPoolUsed + total > this.#openPool.byteLength) {
      this.#openPool = new ArrayBuffer(Math.max(OPEN_POOL_BYTES, total));
      this.#openPoolUsed = 0;
    }
    const arena = this.#openPool;
    const base = this.#openPoolUsed;
    this.#openPoolUsed = (base + total + 7) & ~7;
    if (base !== 0) for (let j = 0; j < n; j++) dstOff[j] = (dstOff[j] as number) + base;
    for (let j = 0; j < n; ) {
      const first = jobs[j] as OpenJob;
      const buf = first.msg.buffer;
      let k = j + 1;
      while (k < n && (jobs[k] as OpenJob).kp === first.kp && (jobs[k] as OpenJob).msg.buffer === buf) k++;
      if (first.kp.destroyed) {
        j = k; // no plain: counted as failed below (not seen: opened before sessions change)
        continue;
      }
      first.kp.aead.open(first.kp.receiveKey, buf as ArrayBuffer, off, len, arena, dstOff, ctr, j, k - j, ok);
      for (let x = j; x < k; x++)
        if (ok[x] === 1)
          (jobs[x] as OpenJob).plain = new Uint8Array(arena, dstOff[x], (len[x] as number) - TAG_SIZE);
      j = k;
    }
    // Only jobs from here: onPacket may re-enter this device and reuse the index arrays.
    for (let j = 0; j < n; j++) this.#afterOpen(jobs[j] as OpenJob);
  }

  #afterOpen(job: OpenJob): void {
    const { peer, kp, msg, from, counter, plain } = job;
    if (!plain) {
      this.counters.dropDecrypt++;
      return;
    }
    // A session that an earlier message of the batch retired counts as gone, as it would
    // have been had the messages been handled one by one.
    if (this.#indices.get(kp.localIndex)?.keypair !== kp) {
      this.counters.dropUnknownIndex++;
      return;
    }
    const now = this.#clock.now();
    if (!kp.replay.validate(counter, this.#limits.rejectAfterMessages)) {
      this.counters.dropReplay++;
      return;
    }
    // First packet on a responder's new keypair confirms it: rotate it in.
    const t = peer.timers;
    if (peer.keypairs.next === kp) {
      const k = peer.keypairs;
      if (k.previous) {
        this.#indices.delete(k.previous.localIndex);
        k.previous.destroy();
      }
      k.previous = k.current;
      k.current = kp;
      k.next = undefined;
      t.handshakeComplete();
      peer.lastHandshake = this.#clock.wall();
    }
    // Roaming: the latest authenticated source is where we send.
    if (!sameEndpoint(peer.endpoint, from)) peer.endpoint = { ...from };
    peer.rxBytes += msg.length;
    t.anyAuthenticatedPacketTraversal(now);
    t.anyAuthenticatedPacketReceived();
    // As initiator, renew a session nearing REJECT_AFTER_TIME once (paper 6.2).
    if (
      kp.isInitiator &&
      !t.sentLastMinuteHandshake &&
      now - kp.created >=
        this.#limits.rejectAfterTime - this.#limits.keepaliveTimeout - this.#limits.rekeyTimeout
    ) {
      t.sentLastMinuteHandshake = true;
      this.#sendInitiation(peer, false);
    }
    if (peer.staged.length > 0) this.#sendStaged(peer);
    if (plain.length === 0) {
      this.counters.keepalivesReceived++;
      return;
    }
    t.dataReceived(now);
    const len = innerLength(plain);
    if (len === undefined || len > plain.length || len < 20) {
      this.counters.dropBadInner++;
      return;
    }
    const src = (plain[0] as number) >> 4 === 4 ? plain.subarray(12, 16) : plain.subarray(8, 24);
    if (this.#allowed.lookup(src) !== peer) {
      this.counters.dropAllowedIps++;
      return;
    }
    this.#onPacket(plain.subarray(0, len), peer.id);
  }

  #zeroPeer(peer: Peer): void {
    this.#zeroKeys(peer);
    peer.staged = [];
    peer.timers.stopAll();
  }

  /** Wipe the sessions and the handshake (the ZERO_KEY_MATERIAL timer). */
  #zeroKeys(peer: Peer): void {
    for (const kp of peer.keypairs.all()) {
      this.#indices.delete(kp.localIndex);
      kp.destroy();
    }
    peer.keypairs.previous = peer.keypairs.current = peer.keypairs.next = undefined;
    if (peer.handshake.localIndex !== 0) this.#indices.delete(peer.handshake.localIndex);
    peer.handshake.clear();
  }
}
