/**
 * The transport data AEAD (ChaCha20-Poly1305 with WireGuard's nonce: 32 zero bits, then the
 * 64-bit little-endian counter; no associated data), in batches. Two backends with one shape:
 * - 'openssl': tap-io's addon calling OpenSSL's EVP interface (the OpenSSL node:crypto wraps),
 *   one context per session key made once, a batch of messages per call;
 * - 'node': node:crypto, a cipher object per message (where the addon is not built, or with
 *   TAPSTACK_WG_AEAD=node).
 * Both are the same primitive from the same library; the test suite holds them to each other,
 * to RFC 8439 and to wireguard-go. Messages are addressed as (ArrayBuffer, offset, length);
 * counters are two uint32 words (low, high) per message.
 */
import type { KeyObject } from 'node:crypto';
import { type NativeAead, type NativeAeadKey, nativeAead } from '@tapstack/tap-io';
import { TAG_SIZE, aeadKey, aeadOpenNew, aeadSeal } from './crypto.js';

export type AeadBackend = 'openssl' | 'node';

/** One direction's session key as its backend holds it. */
export type TransportKey = NativeAeadKey | KeyObject;

export interface TransportAead {
  readonly backend: AeadBackend;
  /** A key for sealing (`encrypt`) or for opening. */
  key(raw: Uint8Array, encrypt: boolean): TransportKey;
  /** Wipe the key where its backend allows (OpenSSL's context; a KeyObject waits for GC). */
  free(key: TransportKey): void;
  /** Seal messages [start, start+count) in place: plaintext at off[i], len[i] bytes; the tag follows. */
  seal(
    key: TransportKey,
    buf: ArrayBuffer,
    off: Uint32Array,
    len: Uint32Array,
    ctr: Uint32Array,
    start: number,
    count: number,
  ): number;
  /**
   * Open messages [start, start+count): src[srcOff[i], +len[i]) is ciphertext || tag; the
   * plaintext goes to dst at dstOff[i]; ok[i] = 1 if authentic. Returns how many were.
   */
  open(
    key: TransportKey,
    src: ArrayBuffer,
    srcOff: Uint32Array,
    len: Uint32Array,
    dst: ArrayBuffer,
    dstOff: Uint32Array,
    ctr: Uint32Array,
    start: number,
    count: number,
    ok: Uint8Array,
  ): number;
}

const EMPTY = new Uint8Array(0);

class OpensslAead implements TransportAead {
  readonly backend = 'openssl';
  constructor(readonly n: NativeAead) {}
  key(raw: Uint8Array, encrypt: boolean): TransportKey {
    return this.n.keyNew(raw, encrypt);
  }
  free(key: TransportKey): void {
    this.n.keyFree(key as NativeAeadKey);
  }
  seal(
    key: TransportKey,
    buf: ArrayBuffer,
    off: Uint32Array,
    len: Uint32Array,
    ctr: Uint32Array,
    start: number,
    count: number,
  ) {
    return this.n.seal(key as NativeAeadKey, buf, off, len, buf, off, ctr, start, count);
  }
  open(
    key: TransportKey,
    src: ArrayBuffer,
    srcOff: Uint32Array,
    len: Uint32Array,
    dst: ArrayBuffer,
    dstOff: Uint32Array,
    ctr: Uint32Array,
    start: number,
    count: number,
    ok: Uint8Array,
  ) {
    return this.n.open(key as NativeAeadKey, src, srcOff, len, dst, dstOff, ctr, start, count, ok);
  }
}

class NodeAead implements TransportAead {
  readonly backend = 'node';
  key(raw: Uint8Array): TransportKey {
    return aeadKey(raw);
  }
  free(): void {}
  seal(
    key: TransportKey,
    buf: ArrayBuffer,
    off: Uint32Array,
    len: Uint32Array,
    ctr: Uint32Array,
    start: number,
    count: number,
  ) {
    for (let i = start; i < start + count; i++) {
      const o = off[i]!;
      const l = len[i]!;
      const counter = ctr[2 * i + 1]! * 0x1_0000_0000 + ctr[2 * i]!;
      aeadSeal(
        key as KeyObject,
        counter,
        new Uint8Array(buf, o, l),
        EMPTY,
        new Uint8Array(buf, o, l + TAG_SIZE),
      );
    }
    return count;
  }
  open(
    key: TransportKey,
    src: ArrayBuffer,
    srcOff: Uint32Array,
    len: Uint32Array,
    dst: ArrayBuffer,
    dstOff: Uint32Array,
    ctr: Uint32Array,
    start: number,
    count: number,
    ok: Uint8Array,
  ) {
    let good = 0;
    for (let i = start; i < start + count; i++) {
      const counter = ctr[2 * i + 1]! * 0x1_0000_0000 + ctr[2 * i]!;
      const plain = aeadOpenNew(key as KeyObject, counter, new Uint8Array(src, srcOff[i]!, len[i]!), EMPTY);
      if (plain) {
        new Uint8Array(dst, dstOff[i]!, plain.length).set(plain);
        ok[i] = 1;
        good++;
      } else ok[i] = 0;
    }
    return good;
  }
}

const nodeAead = new NodeAead();
let openssl: OpensslAead | null | undefined;

/**
 * The transport AEAD: `prefer` 'openssl' (default where tap-io's addon is built) or 'node';
 * TAPSTACK_WG_AEAD=node in the environment makes node:crypto the default.
 */
export function transportAead(prefer?: AeadBackend): TransportAead {
  const want = prefer ?? (process.env.TAPSTACK_WG_AEAD === 'node' ? 'node' : 'openssl');
  if (want === 'node') return nodeAead;
  if (openssl === undefined) {
    const n = nativeAead();
    openssl = n ? new OpensslAead(n) : null;
  }
  return openssl ?? nodeAead;
}
