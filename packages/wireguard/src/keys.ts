/** Keys in the base64 text form that `wg genkey` / `wg pubkey` / `wg genpsk` use. */
import { KEY_SIZE, PrivateKey, type RandomSource, cryptoRandom } from './crypto.js';

export function decodeKey(text: string, field = 'key'): Uint8Array {
  const t = text.trim();
  // 32 bytes are 44 base64 characters ending in one '='.
  if (!/^[A-Za-z0-9+/]{43}=$/.test(t)) {
    throw new Error(`${field}: not a base64 WireGuard key (44 characters ending in '=')`);
  }
  const b = Buffer.from(t, 'base64');
  if (b.length !== KEY_SIZE) throw new Error(`${field}: key must decode to ${KEY_SIZE} bytes`);
  const out = new Uint8Array(b);
  b.fill(0);
  return out;
}

export function encodeKey(key: Uint8Array): string {
  if (key.length !== KEY_SIZE) throw new Error(`key must be ${KEY_SIZE} bytes`);
  return Buffer.from(key).toString('base64');
}

/** Like `wg genkey`: a clamped private key. */
export function genkey(random: RandomSource = cryptoRandom): string {
  const k = PrivateKey.generate(random);
  const s = encodeKey(k.raw);
  k.destroy();
  return s;
}

/** Like `wg pubkey`: the public key of a base64 private key. */
export function pubkey(privateKeyText: string): string {
  const raw = decodeKey(privateKeyText, 'PrivateKey');
  const k = new PrivateKey(raw);
  raw.fill(0);
  const s = encodeKey(k.publicKey);
  k.destroy();
  return s;
}

/** Like `wg genpsk`: 32 random bytes. */
export function genpsk(random: RandomSource = cryptoRandom): string {
  const b = new Uint8Array(KEY_SIZE);
  random(b);
  const s = encodeKey(b);
  b.fill(0);
  return s;
}
