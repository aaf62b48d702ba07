import { describe, expect, it } from 'vitest';
import { PrivateKey, decodeKey, encodeKey, tai64n } from '../src/index.js';
import { INITIAL_CHAIN_KEY, INITIAL_HASH } from '../src/noise.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

describe('primitives', () => {
  it('X25519 matches RFC 7748 section 6.1', () => {
    const a = new PrivateKey(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    const b = new PrivateKey(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
    expect(Buffer.from(a.publicKey).toString('hex')).toBe(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(Buffer.from(a.dh(b.publicKey) as Uint8Array).toString('hex')).toBe(shared);
    expect(Buffer.from(b.dh(a.publicKey) as Uint8Array).toString('hex')).toBe(shared);
  });

  it('an ephemeral key made by OpenSSL agrees with a DH peer, holds no raw copy, and differs each time', () => {
    const a = PrivateKey.ephemeral();
    const b = PrivateKey.ephemeral();
    const s = PrivateKey.generate();
    expect(a.raw).toHaveLength(0);
    expect(a.publicKey).toHaveLength(32);
    expect(a.publicKey).not.toEqual(b.publicKey);
    expect(a.dh(s.publicKey)).toEqual(s.dh(a.publicKey));
    expect(a.dh(b.publicKey)).toEqual(b.dh(a.publicKey));
  });

  it('a low-order public key gives no shared secret', () => {
    const a = new PrivateKey(new Uint8Array(32).fill(3));
    expect(a.dh(new Uint8Array(32))).toBeUndefined();
  });

  it('the protocol constants hash to the values every implementation uses', () => {
    // HASH("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"), as in the Linux and Go implementations.
    expect(Buffer.from(INITIAL_CHAIN_KEY).toString('hex')).toBe(
      '60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36',
    );
    expect(INITIAL_HASH).toHaveLength(32);
  });

  it('TAI64N is big-endian 2^62 + seconds, then whitened nanoseconds', () => {
    const t = tai64n(1_000_000_123.456 * 1000);
    const v = new DataView(t.buffer);
    expect(v.getBigUint64(0)).toBe((1n << 62n) + 1_000_000_123n);
    expect(v.getUint32(8) % 0x100_0000).toBe(0);
    expect(v.getUint32(8)).toBeLessThanOrEqual(456_000_000);
  });

  it('base64 keys round-trip and bad ones are named', () => {
    const k = new Uint8Array(32).map((_, i) => i);
    expect(decodeKey(encodeKey(k))).toEqual(k);
    expect(() => decodeKey('abc', 'PublicKey')).toThrow(/PublicKey/);
  });
});
