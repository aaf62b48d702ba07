/**
 * The batched ChaCha20-Poly1305 (native/aead.c): RFC 8439 section 2.8.2's vector, agreement
 * with node:crypto on random batches (WireGuard nonces, counters past 2^32 and 2^53), forged
 * tags and wrong counters refused with the output zeroed, and bad arguments refused before
 * anything is touched.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nativeAead } from '../src/index.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/[\s:]/g, ''), 'hex'));
const aead = nativeAead();

/** node:crypto's ChaCha20-Poly1305 with WireGuard's nonce: 4 zero bytes, 64-bit LE counter. */
function nodeSeal(key: Uint8Array, lo: number, hi: number, plain: Uint8Array): Uint8Array {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32LE(lo, 4);
  nonce.writeUInt32LE(hi, 8);
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

describe.skipIf(!aead)('native batched ChaCha20-Poly1305 (OpenSSL EVP)', () => {
  const n = aead!;

  it('matches RFC 8439 section 2.8.2 (seal, then open)', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
    const plain = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    // nonce = 07 00 00 00 || 40 41 42 43 44 45 46 47: prefix 7, counter 0x4746454443424140.
    const ctr = Uint32Array.of(0x43424140, 0x47464544);
    const expected = hex(`
      d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
      3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
      92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
      3ff4def08e4b7a9de576d26586cec64b6116
      1ae10b594f09e26a7e902ecbd0600691`);
    const buf = new ArrayBuffer(plain.length + 16);
    new Uint8Array(buf).set(plain);
    const one = Uint32Array.of(0);
    const sealKey = n.keyNew(key, true);
    expect(n.seal(sealKey, buf, one, Uint32Array.of(plain.length), buf, one, ctr, 0, 1, aad, 7)).toBe(1);
    expect(new Uint8Array(buf)).toEqual(expected);

    const openKey = n.keyNew(key, false);
    const out = new ArrayBuffer(plain.length);
    const ok = new Uint8Array(1);
    const len = Uint32Array.of(expected.length);
    expect(n.open(openKey, buf, one, len, out, one, ctr, 0, 1, ok, aad, 7)).toBe(1);
    expect(ok[0]).toBe(1);
    expect(new Uint8Array(out)).toEqual(plain);
    // The same bytes with another AAD do not verify.
    expect(n.open(openKey, buf, one, len, out, one, ctr, 0, 1, ok, aad.subarray(1), 7)).toBe(0);
    n.keyFree(sealKey);
    n.keyFree(openKey);
  });

  it('agrees with node:crypto on random batches, in place and into another buffer', () => {
    const key = randomBytes(32);
    const sealKey = n.keyNew(key, true);
    const openKey = n.keyNew(key, false);
    const sizes = [0, 1, 15, 16, 17, 64, 1420, 1440, 9000, 65_000];
    const counters: Array<[number, number]> = [
      [0, 0],
      [1, 0],
      [0xffff_ffff, 0],
      [0, 1],
      [0x1234_5678, 0x1f_ffff],
      [0xffff_e000, 0xffff_ffff],
    ];
    const count = 64;
    const off = new Uint32Array(count);
    const len = new Uint32Array(count);
    const ctr = new Uint32Array(2 * count);
    const plains: Uint8Array[] = [];
    let at = 8;
    for (let i = 0; i < count; i++) {
      const p = randomBytes(sizes[i % sizes.length]!);
      plains.push(p);
      off[i] = at;
      len[i] = p.length;
      const [lo, hi] = counters[i % counters.length]!;
      ctr[2 * i] = lo + (i >> 3) > 0xffff_ffff ? lo : lo + (i >> 3);
      ctr[2 * i + 1] = hi;
      at += p.length + 16 + 3; // unaligned offsets on purpose
    }
    const buf = new ArrayBuffer(at);
    const u8 = new Uint8Array(buf);
    for (let i = 0; i < count; i++) u8.set(plains[i]!, off[i]);
    // Seal the batch in two calls (start/count) to check the window.
    expect(n.seal(sealKey, buf, off, len, buf, off, ctr, 0, 10)).toBe(10);
    expect(n.seal(sealKey, buf, off, len, buf, off, ctr, 10, count - 10)).toBe(count - 10);
    const sealedLen = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      const sealed = u8.subarray(off[i], off[i]! + len[i]! + 16);
      expect(Buffer.from(sealed).equals(nodeSeal(key, ctr[2 * i]!, ctr[2 * i + 1]!, plains[i]!))).toBe(true);
      sealedLen[i] = len[i]! + 16;
    }
    // Open into a separate buffer: every message verifies and gives its plaintext back.
    const out = new ArrayBuffer(at);
    const ok = new Uint8Array(count);
    expect(n.open(openKey, buf, off, sealedLen, out, off, ctr, 0, count, ok)).toBe(count);
    expect([...ok].every((x) => x === 1)).toBe(true);
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
    for (let i = 0; i < count; i++) expect(same(new Uint8Array(out, off[i], len[i]), plains[i]!)).toBe(true);
    // And in place, as node:crypto's decipher would.
    expect(n.open(openKey, buf, off, sealedLen, buf, off, ctr, 0, count, ok)).toBe(count);
    for (let i = 0; i < count; i++)
      expect(same(u8.subarray(off[i], off[i]! + len[i]!), plains[i]!)).toBe(true);
  });

  it('opens what node:crypto sealed, and refuses a flipped bit, a wrong counter or a wrong key', () => {
    const key = randomBytes(32);
    const openKey = n.keyNew(key, false);
    const plain = randomBytes(1420);
    const sealed = nodeSeal(key, 42, 0, plain);
    const count = 5;
    const buf = new ArrayBuffer(count * sealed.length);
    const u8 = new Uint8Array(buf);
    const off = Uint32Array.from({ length: count }, (_, i) => i * sealed.length);
    for (let i = 0; i < count; i++) u8.set(sealed, off[i]);
    u8[off[1]! + 100]! ^= 1; // body bit
    u8[off[2]! + sealed.length - 1]! ^= 0x80; // tag bit
    const ctr = Uint32Array.of(42, 0, 42, 0, 42, 0, 43, 0, 42, 0);
    const len = new Uint32Array(count).fill(sealed.length);
    const out = new ArrayBuffer(buf.byteLength);
    new Uint8Array(out).fill(0xaa);
    const ok = new Uint8Array(count);
    expect(n.open(openKey, buf, off, len, out, off, ctr, 0, count, ok)).toBe(2);
    expect([...ok]).toEqual([1, 0, 0, 0, 1]);
    const o = new Uint8Array(out);
    expect(o.subarray(off[0], off[0]! + plain.length)).toEqual(new Uint8Array(plain));
    // A refused message leaves zeros, not unauthenticated plaintext.
    for (const i of [1, 2, 3])
      expect(o.subarray(off[i], off[i]! + plain.length).every((b) => b === 0)).toBe(true);
    const other = n.keyNew(randomBytes(32), false);
    expect(n.open(other, buf, off, len, out, off, ctr, 0, 1, ok)).toBe(0);
  });

  it('refuses bad arguments before touching any message', () => {
    const seal = n.keyNew(new Uint8Array(32), true);
    const open = n.keyNew(new Uint8Array(32), false);
    const buf = new ArrayBuffer(64);
    const u8 = new Uint8Array(buf).fill(7);
    const z = Uint32Array.of(0, 0);
    expect(() => n.keyNew(new Uint8Array(31), true)).toThrow(TypeError);
    // The second message's tag would run past the end: nothing is sealed, not even the first.
    expect(() =>
      n.seal(
        seal,
        buf,
        Uint32Array.of(0, 40),
        Uint32Array.of(8, 9),
        buf,
        Uint32Array.of(0, 40),
        Uint32Array.of(0, 0, 1, 0),
        0,
        2,
      ),
    ).toThrow(RangeError);
    expect(u8.every((b) => b === 7)).toBe(true);
    expect(() => n.seal(seal, buf, z, z, buf, z, z, 1, 2)).toThrow(RangeError); // past the index arrays
    expect(() =>
      n.seal(seal, buf, Uint32Array.of(0), Uint32Array.of(16), buf, Uint32Array.of(8), z, 0, 1),
    ).toThrow(/overlap/);
    expect(() => n.open(open, buf, z, Uint32Array.of(15), buf, z, z, 0, 1, new Uint8Array(1))).toThrow(
      RangeError,
    );
    expect(() => n.open(seal, buf, z, Uint32Array.of(16), buf, z, z, 0, 1, new Uint8Array(1))).toThrow(
      /made for sealing/,
    );
    expect(() => n.seal(seal, new Uint8Array(buf) as unknown as ArrayBuffer, z, z, buf, z, z, 0, 1)).toThrow(
      TypeError,
    );
    n.keyFree(seal);
    expect(() => n.seal(seal, buf, z, z, buf, z, z, 0, 1)).toThrow(/freed/);
    expect(u8.every((b) => b === 7)).toBe(true);
  });
});
