/**
 * MAC1/MAC2 and the cookie reply (paper section 5.4.7; wireguard-go device/cookie.go).
 * MAC1 proves the sender knows our public key and is checked before any Diffie-Hellman;
 * under load, MAC2 must carry a cookie bound to the sender's address, which we hand out
 * encrypted in a cookie reply.
 */
import { COOKIE_REFRESH_TIME, MESSAGE_COOKIE_REPLY, MESSAGE_COOKIE_REPLY_SIZE } from './constants.js';
import { type RandomSource, equalBytes, hash, mac, xaeadOpen, xaeadSeal } from './crypto.js';

const enc = new TextEncoder();
const LABEL_MAC1 = enc.encode('mac1----');
const LABEL_COOKIE = enc.encode('cookie--');

/** The responder side: checks MACs of messages sent to us and makes cookie replies. */
export class CookieChecker {
  readonly #mac1Key: Uint8Array;
  readonly #encryptionKey: Uint8Array;
  readonly #secret = new Uint8Array(32);
  #secretSet = Number.NEGATIVE_INFINITY;

  constructor(
    localPublicKey: Uint8Array,
    private readonly random: RandomSource,
  ) {
    this.#mac1Key = hash(LABEL_MAC1, localPublicKey);
    this.#encryptionKey = hash(LABEL_COOKIE, localPublicKey);
  }

  checkMac1(msg: Uint8Array): boolean {
    const n = msg.length;
    return equalBytes(mac(this.#mac1Key, msg.subarray(0, n - 32)), msg.subarray(n - 32, n - 16));
  }

  checkMac2(msg: Uint8Array, source: Uint8Array, nowMs: number): boolean {
    if (nowMs - this.#secretSet > COOKIE_REFRESH_TIME) return false;
    const n = msg.length;
    const cookie = mac(this.#secret, source);
    return equalBytes(mac(cookie, msg.subarray(0, n - 16)), msg.subarray(n - 16));
  }

  /** A cookie reply to `msg` (whose sender index is at bytes 4..8) from `source`. */
  createReply(msg: Uint8Array, source: Uint8Array, nowMs: number): Uint8Array {
    if (nowMs - this.#secretSet > COOKIE_REFRESH_TIME) {
      this.random(this.#secret);
      this.#secretSet = nowMs;
    }
    const n = msg.length;
    const cookie = mac(this.#secret, source);
    const reply = new Uint8Array(MESSAGE_COOKIE_REPLY_SIZE);
    reply[0] = MESSAGE_COOKIE_REPLY;
    reply.set(msg.subarray(4, 8), 4);
    const nonce = reply.subarray(8, 32);
    this.random(nonce);
    reply.set(xaeadSeal(this.#encryptionKey, nonce, cookie, msg.subarray(n - 32, n - 16)), 32);
    return reply;
  }

  destroy(): void {
    this.#secret.fill(0);
  }
}

/** The initiator side, one per peer: adds MACs to what we send and keeps the peer's cookie. */
export class CookieGenerator {
  readonly #mac1Key: Uint8Array;
  readonly #encryptionKey: Uint8Array;
  #cookie: Uint8Array = new Uint8Array(16);
  #cookieSet = Number.NEGATIVE_INFINITY;
  #lastMac1: Uint8Array | undefined;

  constructor(remotePublicKey: Uint8Array) {
    this.#mac1Key = hash(LABEL_MAC1, remotePublicKey);
    this.#encryptionKey = hash(LABEL_COOKIE, remotePublicKey);
  }

  addMacs(msg: Uint8Array, nowMs: number): void {
    const n = msg.length;
    const m1 = mac(this.#mac1Key, msg.subarray(0, n - 32));
    msg.set(m1, n - 32);
    this.#lastMac1 = m1;
    if (nowMs - this.#cookieSet < COOKIE_REFRESH_TIME) {
      msg.set(mac(this.#cookie, msg.subarray(0, n - 16)), n - 16);
    } else {
      msg.fill(0, n - 16);
    }
  }

  /** Take the cookie from a reply to the last message we sent; false if it does not open. */
  consumeReply(reply: Uint8Array, nowMs: number): boolean {
    if (this.#lastMac1 === undefined) return false;
    const cookie = xaeadOpen(this.#encryptionKey, reply.subarray(8, 32), reply.subarray(32), this.#lastMac1);
    if (cookie === undefined) return false;
    this.#cookie.fill(0);
    this.#cookie = cookie;
    this.#cookieSet = nowMs;
    this.#lastMac1 = undefined;
    return true;
  }

  destroy(): void {
    this.#cookie.fill(0);
  }
}
