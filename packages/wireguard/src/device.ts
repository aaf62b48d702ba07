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
import {
  KEY_SIZE,
  PrivateKey,
  type RandomSource,
  TAG_SIZE,
  aeadOpenNew,
  aeadSeal,
  cryptoRandom,
  equalBytes,
} from './crypto.js';
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
  readonly #scratch = new Uint8Array(65536);
  readonly #word = new Uint8Array(4);

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
    this.#scratch.fill(0);
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
    const v = packet.length > 0 ? (packet[0] as number) >> 4 : 0;
    let dst: Uint8Array;
    if (v === 4 && packet.length >= 20) dst = packet.subarray(16, 20);
    else if (v === 6 && packet.length >= 40) dst = packet.subarray(24, 40);
    else {
      this.counters.dropBadInner++;
      return false;
    }
    if (packet.length > this.#mtu) {
      this.counters.dropTooBig++;
      return false;
    }
    const peer = this.#allowed.lookup(dst);
    if (!peer) {
      this.counters.dropNoRoute++;
      return false;
    }
    if (peer.staged.length === 0 && peer.endpoint) {
      // A session is up and nothing waits: seal straight from the caller's bytes (no copy).
      const kp = this.#sendableKeypair(peer);
      if (kp) {
        const now = this.#clock.now();
        this.#sendTransport(peer, kp, packet, now);
        this.#maybeRekey(peer, kp, now);
        return true;
      }
    }
    if (peer.staged.length >= this.#maxStaged) {
      peer.staged.shift();
      this.counters.dropStagedFull++;
    }
    peer.staged.push(Uint8Array.from(packet));
    this.#sendStaged(peer);
    return true;
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
    const now = this.#clock.now();
    const queue = peer.staged;
    peer.staged = [];
    for (const p of queue) {
      if (kp.sendCounter >= this.#limits.rejectAfterMessages) {
        peer.staged.push(p);
        continue;
      }
      this.#sendTransport(peer, kp, p, now);
    }
    this.#maybeRekey(peer, kp, now);
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

  #sendTransport(peer: Peer, kp: Keypair, packet: Uint8Array, now: number): void {
    let padded = packet.length;
    if (padded % PADDING_MULTIPLE !== 0) padded += PADDING_MULTIPLE - (padded % PADDING_MULTIPLE);
    if (padded > this.#mtu) padded = Math.max(packet.length, this.#mtu);
    const msg = new Uint8Array(MESSAGE_TRANSPORT_HEADER_SIZE + padded + TAG_SIZE);
    const v = new DataView(msg.buffer);
    msg[0] = MESSAGE_TRANSPORT;
    v.setUint32(4, kp.remoteIndex, true);
    const counter = kp.sendCounter++;
    v.setUint32(8, counter >>> 0, true);
    v.setUint32(12, Math.floor(counter / 0x1_0000_0000), true);
    let plain = packet;
    if (padded !== packet.length) {
      plain = this.#scratch.subarray(0, padded);
      plain.set(packet);
      plain.fill(0, packet.length);
    }
    aeadSeal(kp.sendKey, counter, plain, EMPTY, msg.subarray(MESSAGE_TRANSPORT_HEADER_SIZE));
    this.#out(peer, msg);
    peer.txBytes += msg.length;
    const t = peer.timers;
    t.anyAuthenticatedPacketTraversal(now);
    t.anyAuthenticatedPacketSent();
    if (packet.length > 0) t.dataSent(now);
    else this.counters.keepalivesSent++;
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
    this.counters.rxDatagrams++;
    const n = datagram.length;
    if (n < 4 || datagram[1] !== 0 || datagram[2] !== 0 || datagram[3] !== 0) {
      this.counters.dropMalformed++;
      return;
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
    const kp = new Keypair(keys.send, keys.receive, keys.isInitiator, now, keys.localIndex, keys.remoteIndex);
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

  #receiveTransport(msg: Uint8Array, from: Endpoint): void {
    const now = this.#clock.now();
    const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    const entry = this.#indices.get(v.getUint32(4, true));
    const kp = entry?.keypair;
    if (!entry || !kp) {
      this.counters.dropUnknownIndex++;
      return;
    }
    const peer = entry.peer;
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
    const sealed = msg.subarray(MESSAGE_TRANSPORT_HEADER_SIZE);
    const plain = aeadOpenNew(kp.receiveKey, counter, sealed, EMPTY);
    if (!plain) {
      this.counters.dropDecrypt++;
      return;
    }
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
