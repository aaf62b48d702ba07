/**
 * Batched ChaCha20-Poly1305 (RFC 8439) through OpenSSL's EVP interface, for WireGuard's
 * transport messages (native/aead.c, built beside the TAP addon). It is the OpenSSL that
 * node:crypto wraps, called without node:crypto's per-message cipher object: a key is one
 * OpenSSL context made once and re-armed per message with its nonce, and one call seals or
 * opens a batch. The nonce is WireGuard's (32 zero bits, then the 64-bit little-endian
 * counter) and there is no associated data. `nativeAead()` is undefined where the addon is
 * not built (not Linux, no compiler, an older build): callers then use node:crypto.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from './native.js';

/** An OpenSSL ChaCha20-Poly1305 context holding one key, for sealing or for opening. */
export type NativeAeadKey = { readonly __nativeAeadKey: unique symbol };

export interface NativeAead {
  /** A context for one 32-byte key; `encrypt` true to seal with it, false to open. */
  keyNew(raw: Uint8Array, encrypt: boolean): NativeAeadKey;
  /** Frees the context now (OpenSSL wipes the key); using the key again throws. */
  keyFree(key: NativeAeadKey): void;
  /**
   * For i in [start, start + count): dst[dstOff[i] ..] = ciphertext || 16-byte tag of
   * src[srcOff[i], + len[i]) under the 64-bit counter ctr[2i] (low word), ctr[2i + 1] (high):
   * nonce = noncePrefix (default 0) as 4 little-endian bytes, then the counter as 8. `aad`
   * (default none; WireGuard's transport has none) applies to every message of the call.
   * In place (same buffer and offset) is allowed, other overlaps are refused.
   * Offsets are absolute in the ArrayBuffers; every message is bounds-checked before any is
   * sealed (RangeError). Returns how many were sealed (count unless OpenSSL failed).
   */
  seal(
    key: NativeAeadKey,
    src: ArrayBuffer,
    srcOff: Uint32Array,
    len: Uint32Array,
    dst: ArrayBuffer,
    dstOff: Uint32Array,
    ctr: Uint32Array,
    start: number,
    count: number,
    aad?: Uint8Array,
    noncePrefix?: number,
  ): number;
  /**
   * The reverse: len[i] includes the tag; dst gets len[i] - 16 bytes of plaintext; ok[i] is 1
   * when the tag verified (OpenSSL compares in constant time), else 0 with the output zeroed.
   * Returns how many verified.
   */
  open(
    key: NativeAeadKey,
    src: ArrayBuffer,
    srcOff: Uint32Array,
    len: Uint32Array,
    dst: ArrayBuffer,
    dstOff: Uint32Array,
    ctr: Uint32Array,
    start: number,
    count: number,
    ok: Uint8Array,
    aad?: Uint8Array,
    noncePrefix?: number,
  ): number;
}

let cached: NativeAead | null | undefined;

/** The batched AEAD, or undefined where its addon is not built here. */
export function nativeAead(): NativeAead | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  if (process.platform !== 'linux') return undefined;
  const file = join(packageRoot(), 'build', 'Release', 'tapio_aead.node');
  if (!existsSync(file)) return undefined;
  try {
    const m = createRequire(import.meta.url)(file) as NativeAead;
    if (typeof m.seal === 'function' && typeof m.open === 'function') cached = m;
  } catch {
    // An addon that does not load (built for another Node) is as good as none.
  }
  return cached ?? undefined;
}
