/**
 * Noise_IKpsk2 as WireGuard uses it (paper section 5.4; wireguard-go device/noise-protocol.go):
 * build and consume the initiation and response messages and derive the transport keys. Pure:
 * time and randomness come in as arguments, and a message that fails any check returns
 * undefined with no change to the handshake state.
 */
import {
  MESSAGE_INITIATION,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE,
  MESSAGE_RESPONSE_SIZE,
} from './constants.js';
import {
  KEY_SIZE,
  PrivateKey,
  type RandomSource,
  TAG_SIZE,
  aeadOpen,
  aeadSeal,
  compareTai64n,
  equalBytes,
  hash,
  kdf,
  tai64n,
} from './crypto.js';

const enc = new TextEncoder();
export const CONSTRUCTION = enc.encode('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
export const IDENTIFIER = enc.encode('WireGuard v1 zx2c4 Jason@zx2c4.com');
export const INITIAL_CHAIN_KEY = hash(CONSTRUCTION);
export const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, IDENTIFIER);
const EMPTY = new Uint8Array(0);
const ZERO_KEY = new Uint8Array(KEY_SIZE);

export const enum HandshakeState {
  Zeroed = 0,
  InitiationCreated = 1,
  InitiationConsumed = 2,
  ResponseCreated = 3,
  ResponseConsumed = 4,
}

/** Per-peer handshake state (wireguard-go's Handshake). */
export class Handshake {
  state = HandshakeState.Zeroed;
  hash: Uint8Array = new Uint8Array(32);
  chainKey: Uint8Array = new Uint8Array(32);
  localEphemeral: PrivateKey | undefined;
  remoteEphemeral: Uint8Array = new Uint8Array(32);
  localIndex = 0;
  remoteIndex = 0;
  /** Latest TAI64N accepted from this peer: initiations must carry a later one. */
  lastTimestamp: Uint8Array = new Uint8Array(12);
  /** Monotonic ms of the last initiation consumed, for the flood guard. */
  lastInitiationConsumption = Number.NEGATIVE_INFINITY;
  lastSentInitiation = Number.NEGATIVE_INFINITY;
  /** Our static DH with the peer's static key, precomputed. */
  precomputedStaticStatic: Uint8Array | undefined;

  constructor(
    readonly remoteStatic: Uint8Array,
    public presharedKey: Uint8Array,
  ) {}

  clear(): void {
    this.state = HandshakeState.Zeroed;
    this.hash.fill(0);
    this.chainKey.fill(0);
    this.localEphemeral?.destroy();
    this.localEphemeral = undefined;
    this.remoteEphemeral.fill(0);
    this.localIndex = 0;
    this.remoteIndex = 0;
  }

  destroy(): void {
    this.clear();
    this.presharedKey.fill(0);
    this.precomputedStaticStatic?.fill(0);
  }
}

/** The keys one handshake yields. */
export interface SessionKeys {
  send: Uint8Array;
  receive: Uint8Array;
  isInitiator: boolean;
  localIndex: number;
  remoteIndex: number;
}

function mixHash(h: Uint8Array, data: Uint8Array): Uint8Array {
  return hash(h, data);
}

/** Build an initiation into `msg` (148 bytes, mac fields left for the cookie layer). */
export function createInitiation(
  local: PrivateKey,
  hs: Handshake,
  localIndex: number,
  wallMs: number,
  random: RandomSource,
): Uint8Array | undefined {
  const ss = hs.precomputedStaticStatic;
  if (ss === undefined) return undefined;
  const msg = new Uint8Array(MESSAGE_INITIATION_SIZE);
  const v = new DataView(msg.buffer);
  msg[0] = MESSAGE_INITIATION;
  v.setUint32(4, localIndex, true);

  let h = mixHash(INITIAL_HASH, hs.remoteStatic);
  let c: Uint8Array = INITIAL_CHAIN_KEY;
  const eph = PrivateKey.ephemeral(random);
  msg.set(eph.publicKey, 8);
  c = kdf(1, c, eph.publicKey)[0] as Uint8Array;
  h = mixHash(h, eph.publicKey);

  const es = eph.dh(hs.remoteStatic);
  if (es === undefined) {
    eph.destroy();
    return undefined;
  }
  let [c1, k] = kdf(2, c, es) as [Uint8Array, Uint8Array];
  es.fill(0);
  c = c1;
  aeadSeal(k, 0, local.publicKey, h, msg.subarray(40, 40 + KEY_SIZE + TAG_SIZE));
  h = mixHash(h, msg.subarray(40, 88));

  [c1, k] = kdf(2, c, ss) as [Uint8Array, Uint8Array];
  c = c1;
  aeadSeal(k, 0, tai64n(wallMs), h, msg.subarray(88, 88 + 12 + TAG_SIZE));
  h = mixHash(h, msg.subarray(88, 116));
  k.fill(0);

  hs.localEphemeral?.destroy();
  hs.localEphemeral = eph;
  hs.hash = h;
  hs.chainKey = c;
  hs.localIndex = localIndex;
  hs.state = HandshakeState.InitiationCreated;
  return msg;
}

export interface ConsumedInitiation {
  /** Peer's static public key, decrypted from the message. */
  remoteStatic: Uint8Array;
  /** Commit to the handshake of the peer found by remoteStatic; false on replay or flood. */
  commit(hs: Handshake, nowMs: number, initiationRate: number): boolean;
}

/**
 * First half of consuming an initiation: decrypt the initiator's static key so the device can
 * find the peer. Returns undefined when the message does not decrypt.
 */
export function openInitiation(local: PrivateKey, msg: Uint8Array): ConsumedInitiation | undefined {
  const ephemeral = msg.subarray(8, 40);
  let h = mixHash(INITIAL_HASH, local.publicKey);
  let c = kdf(1, INITIAL_CHAIN_KEY, ephemeral)[0] as Uint8Array;
  h = mixHash(h, ephemeral);
  const es = local.dh(ephemeral);
  if (es === undefined) return undefined;
  const [c1, k1] = kdf(2, c, es) as [Uint8Array, Uint8Array];
  es.fill(0);
  c = c1;
  const remoteStatic = new Uint8Array(KEY_SIZE);
  if (!aeadOpen(k1, 0, msg.subarray(40, 88), h, remoteStatic)) return undefined;
  k1.fill(0);
  const hAfterStatic = mixHash(h, msg.subarray(40, 88));
  const cAfterStatic = c;
  return {
    remoteStatic,
    commit(hs, nowMs, initiationRate) {
      const ss = hs.precomputedStaticStatic;
      if (ss === undefined) return false;
      const [c2, k2] = kdf(2, cAfterStatic, ss) as [Uint8Array, Uint8Array];
      const stamp = new Uint8Array(12);
      if (!aeadOpen(k2, 0, msg.subarray(88, 116), hAfterStatic, stamp)) return false;
      k2.fill(0);
      // Replay: the timestamp must be later than any accepted before. Flood: at most one
      // initiation per `initiationRate` ms from one peer.
      if (compareTai64n(stamp, hs.lastTimestamp) <= 0) return false;
      if (nowMs - hs.lastInitiationConsumption <= initiationRate) return false;
      const hFinal = mixHash(hAfterStatic, msg.subarray(88, 116));
      hs.clear();
      hs.hash = hFinal;
      hs.chainKey = c2;
      hs.remoteEphemeral = Uint8Array.from(ephemeral);
      hs.remoteIndex = new DataView(msg.buffer, msg.byteOffset, msg.byteLength).getUint32(4, true);
      hs.lastTimestamp = stamp;
      hs.lastInitiationConsumption = nowMs;
      hs.state = HandshakeState.InitiationConsumed;
      return true;
    },
  };
}

/** Build a response to a consumed initiation (92 bytes, macs left for the cookie layer). */
export function createResponse(
  hs: Handshake,
  localIndex: number,
  random: RandomSource,
): Uint8Array | undefined {
  if (hs.state !== HandshakeState.InitiationConsumed) return undefined;
  const msg = new Uint8Array(MESSAGE_RESPONSE_SIZE);
  const v = new DataView(msg.buffer);
  msg[0] = MESSAGE_RESPONSE;
  v.setUint32(4, localIndex, true);
  v.setUint32(8, hs.remoteIndex, true);

  const eph = PrivateKey.ephemeral(random);
  msg.set(eph.publicKey, 12);
  let h = mixHash(hs.hash, eph.publicKey);
  let c = kdf(1, hs.chainKey, eph.publicKey)[0] as Uint8Array;
  const ee = eph.dh(hs.remoteEphemeral);
  const se = eph.dh(hs.remoteStatic);
  eph.destroy();
  if (ee === undefined || se === undefined) return undefined;
  c = kdf(1, c, ee)[0] as Uint8Array;
  c = kdf(1, c, se)[0] as Uint8Array;
  ee.fill(0);
  se.fill(0);
  const [c3, t, k] = kdf(3, c, hs.presharedKey) as [Uint8Array, Uint8Array, Uint8Array];
  c = c3;
  h = mixHash(h, t);
  t.fill(0);
  aeadSeal(k, 0, EMPTY, h, msg.subarray(44, 60));
  k.fill(0);
  h = mixHash(h, msg.subarray(44, 60));

  hs.hash = h;
  hs.chainKey = c;
  hs.localIndex = localIndex;
  hs.state = HandshakeState.ResponseCreated;
  return msg;
}

/**
 * Consume a response for the handshake `hs` (found by the receiver index). Returns false with
 * no state change when it does not authenticate.
 */
export function consumeResponse(local: PrivateKey, hs: Handshake, msg: Uint8Array): boolean {
  if (hs.state !== HandshakeState.InitiationCreated || hs.localEphemeral === undefined) return false;
  const ephemeral = msg.subarray(12, 44);
  let h = mixHash(hs.hash, ephemeral);
  let c = kdf(1, hs.chainKey, ephemeral)[0] as Uint8Array;
  const ee = hs.localEphemeral.dh(ephemeral);
  const se = local.dh(ephemeral);
  if (ee === undefined || se === undefined) return false;
  c = kdf(1, c, ee)[0] as Uint8Array;
  c = kdf(1, c, se)[0] as Uint8Array;
  ee.fill(0);
  se.fill(0);
  const [c3, t, k] = kdf(3, c, hs.presharedKey) as [Uint8Array, Uint8Array, Uint8Array];
  c = c3;
  h = mixHash(h, t);
  t.fill(0);
  const ok = aeadOpen(k, 0, msg.subarray(44, 60), h, EMPTY);
  k.fill(0);
  if (!ok) return false;
  h = mixHash(h, msg.subarray(44, 60));

  hs.hash = h;
  hs.chainKey = c;
  hs.remoteEphemeral = Uint8Array.from(ephemeral);
  hs.remoteIndex = new DataView(msg.buffer, msg.byteOffset, msg.byteLength).getUint32(4, true);
  hs.localEphemeral.destroy();
  hs.localEphemeral = undefined;
  hs.state = HandshakeState.ResponseConsumed;
  return true;
}

/** Derive transport keys from a finished handshake, then wipe the handshake. */
export function deriveSession(hs: Handshake): SessionKeys | undefined {
  let isInitiator: boolean;
  if (hs.state === HandshakeState.ResponseConsumed) isInitiator = true;
  else if (hs.state === HandshakeState.ResponseCreated) isInitiator = false;
  else return undefined;
  const [t1, t2] = kdf(2, hs.chainKey, EMPTY) as [Uint8Array, Uint8Array];
  const keys: SessionKeys = {
    send: isInitiator ? t1 : t2,
    receive: isInitiator ? t2 : t1,
    isInitiator,
    localIndex: hs.localIndex,
    remoteIndex: hs.remoteIndex,
  };
  hs.clear();
  return keys;
}

export function precompute(local: PrivateKey, remoteStatic: Uint8Array): Uint8Array | undefined {
  return local.dh(remoteStatic);
}

export { ZERO_KEY, equalBytes };
