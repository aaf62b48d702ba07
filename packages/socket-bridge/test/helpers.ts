/** Two StackDrivers on a tap-io MemorySwitch: A = 192.0.2.1 / 2001:db8::1, B = 192.0.2.2 / 2001:db8::2. */
import { StackDriver } from '@tapstack/stack-driver';
import { MemorySwitch } from '@tapstack/tap-io';

export async function stackPair() {
  const sw = new MemorySwitch();
  const A = await StackDriver.create({
    links: [
      {
        link: sw.createPort({ name: 'a0', mac: '02:00:00:00:00:0a' }),
        addresses: ['192.0.2.1/24', '2001:db8::1/64'],
      },
    ],
  });
  const B = await StackDriver.create({
    links: [
      {
        link: sw.createPort({ name: 'b0', mac: '02:00:00:00:00:0b' }),
        addresses: ['192.0.2.2/24', '2001:db8::2/64'],
      },
    ],
  });
  return { sw, A, B, close: async () => void (await Promise.all([A.close(), B.close()])) };
}

/** Deterministic bytes (xorshift). */
export function pattern(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until true or `ms` passed (for counters that settle asynchronously). */
export async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}
