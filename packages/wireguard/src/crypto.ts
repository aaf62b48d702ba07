/**
 * The primitives the protocol is built from, as thin wrappers over well-kept implementations:
 * X25519 and ChaCha20-Poly1305 from node:crypto; BLAKE2s, HMAC-BLAKE2s and keyed BLAKE2s-128
 * from @noble/hashes; XChaCha20-Poly1305 (cookie replies) from @noble/ciphers. Nothing here is a
 * hand-written primitive: these are the paper's HASH, MAC, HMAC, KDF_n, DH, AEAD and XAEAD.
 */
import {
  type KeyObject,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  randomFillSync,
} from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha';
import { blake2s } from '@noble/hashes/blake2s';
import { hmac } from '@noble/hashes/hmac';

export const KEY_SIZE = 32;
export const TAG_SIZE = 16;

const PKCS8_X25519 = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);
const SPKI_X25519 = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00]);

/** A source of random bytes; injected so tests are repeatable. */
export type RandomSource = (out: Uint8Array) => void;
export const cryptoRandom: RandomSource = (out) => {
  randomFillSync(out);
};

export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create({});
  for (const p of parts) h.update(p);
  return h.digest();
}

/** MAC(key, input): keyed BLAKE2s with a 16-byte output. */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, { key, dkLen: 16 });
}

export function hmacBlake2s(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = hmac.create(blake2s, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/** HKDF over HMAC-BLAKE2s: KDF_n(key, input) from the paper, n = 1..3. */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = hmacBlake2s(key, input);
  const t1 = hmacBlake2s(t0, ONE);
  const out = [t1];
  if (n >= 2) out.push(hmacBlake2s(t0, t1, TWO));
  if (n >= 3) out.push(hmacBlake2s(t0, out[1] as Uint8Array, THREE));
  t0.fill(0);
  return out;
}

/** An X25519 private key: raw bytes plus the KeyObject node:crypto computes with. */
export class PrivateKey {
  readonly raw: Uint8Array;
  readonly publicKey: Uint8Array;
  #key: KeyObject;

  constructor(raw: Uint8Array) {
    if (raw.length !== KEY_SIZE) throw new Error(`private key must be ${KEY_SIZE} bytes`);
    this.raw = clamp(Uint8Array.from(raw));
    this.#key = createPrivateKey({ key: derOf(PKCS8_X25519, this.raw), format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(this.#key).export({ format: 'der', type: 'spki' });
    this.publicKey = new Uint8Array(spki.subarray(spki.length - KEY_SIZE));
  }

  static generate(random: RandomSource = cryptoRandom): PrivateKey {
    const raw = new Uint8Array(KEY_SIZE);
    random(raw);
    const key = new PrivateKey(raw);
    raw.fill(0);
    return key;
  }

  /** DH(priv, pub); returns undefined for a low-order public key (all-zero shared secret). */
  dh(publicKey: Uint8Array): Uint8Array | undefined {
    let shared: Buffer;
    try {
      shared = diffieHellman({ privateKey: this.#key, publicKey: publicKeyObject(publicKey) });
    } catch {
      return undefined;
    }
    const out = new Uint8Array(shared);
    shared.fill(0);
    return isZero(out) ? undefined : out;
  }

  /** Zero the raw copy; the KeyObject's memory is OpenSSL's and is freed when collected. */
  destroy(): void {
    this.raw.fill(0);
  }
}

function derOf(prefix: Uint8Array, raw: Uint8Array): Buffer {
  const der = Buffer.alloc(prefix.length + raw.length);
  der.set(prefix, 0);
  der.set(raw, prefix.length);
  return der;
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== KEY_SIZE) throw new Error(`public key must be ${KEY_SIZE} bytes`);
  return createPublicKey({ key: derOf(SPKI_X25519, raw), format: 'der', type: 'spki' });
}

/** RFC 7748 clamping, as `wg genkey` does. */
export function clamp(k: Uint8Array): Uint8Array {
  k[0] = (k[0] as number) & 248;
  k[31] = ((k[31] as number) & 127) | 64;
  return k;
}

export function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i] as number;
  return acc === 0;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= (a[i] as number) ^ (b[i] as number);
  return acc === 0;
}

/** ChaCha20-Poly1305 nonce: 32 zero bits then the 64-bit little-endian counter. */
function nonceOf(counter: number, out: Buffer): Buffer {
  out.writeUInt32LE(0, 0);
  out.writeUInt32LE(counter >>> 0, 4);
  out.writeUInt32LE(Math.floor(counter / 0x1_0000_0000), 8);
  return out;
}

const nonceBuf = Buffer.alloc(12);
const AEAD_OPTIONS = { authTagLength: TAG_SIZE } as const;

/**
 * A transport key as node:crypto's KeyObject, made once per session: a cipher made from a
 * KeyObject skips importing raw key bytes for every packet (measured ~1.2 µs of ~9 µs per
 * 1420-byte seal). Its memory is OpenSSL's and cannot be wiped from JS (see the README).
 */
export type AeadKey = Uint8Array | KeyObject;
export function aeadKey(raw: Uint8Array): KeyObject {
  return createSecretKey(raw);
}

/** AEAD(key, counter, plain, ad): ciphertext || tag written into `out` (plain.length + 16). */
export function aeadSeal(
  key: AeadKey,
  counter: number,
  plain: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): void {
  const c = createCipheriv('chacha20-poly1305', key, nonceOf(counter, nonceBuf), AEAD_OPTIONS);
  if (ad.length > 0) c.setAAD(ad, { plaintextLength: plain.length });
  const body = c.update(plain);
  c.final();
  out.set(body, 0);
  out.set(c.getAuthTag(), plain.length);
}

/** Open ciphertext||tag into `out`; false when authentication fails (out then holds garbage). */
export function aeadOpen(
  key: AeadKey,
  counter: number,
  sealed: Uint8Array,
  ad: Uint8Array,
  out: Uint8Array,
): boolean {
  const body = aeadOpenNew(key, counter, sealed, ad);
  if (!body) return false;
  out.set(body, 0);
  return true;
}

/**
 * Open ciphertext||tag; returns the plaintext in a new buffer (node:crypto's own output,
 * no second copy), or undefined when authentication fails.
 */
export function aeadOpenNew(
  key: AeadKey,
  counter: number,
  sealed: Uint8Array,
  ad: Uint8Array,
): Uint8Array | undefined {
  if (sealed.length < TAG_SIZE) return undefined;
  const n = sealed.length - TAG_SIZE;
  const d = createDecipheriv('chacha20-poly1305', key, nonceOf(counter, nonceBuf), AEAD_OPTIONS);
  d.setAuthTag(sealed.subarray(n));
  if (ad.length > 0) d.setAAD(ad, { plaintextLength: n });
  const body = d.update(sealed.subarray(0, n));
  try {
    d.final();
  } catch {
    return undefined;
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}

export function xaeadSeal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array, ad: Uint8Array) {
  return xchacha20poly1305(key, nonce, ad).encrypt(plain);
}

export function xaeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad: Uint8Array,
): Uint8Array | undefined {
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(sealed);
  } catch {
    return undefined;
  }
}

/**
 * TAI64N of a wall-clock time in ms: 8 bytes big-endian 2^62 + seconds, 4 bytes big-endian
 * nanoseconds. Like wireguard-go, the sub-second part is rounded down to 2^24 ns so the
 * timestamp does not leak a fine-grained clock.
 */
export function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  const secs = Math.floor(wallMs / 1000);
  const nanos = Math.floor((wallMs - secs * 1000) * 1e6);
  v.setBigUint64(0, (1n << 62n) + BigInt(secs));
  v.setUint32(8, nanos - (nanos % 0x100_0000));
  return out;
}

/** Compare two TAI64N stamps: > 0 when a is later than b. */
export function compareTai64n(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 12; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}
