/**
 * The browser stack hashes ISNs, offsets and SYN cookies with SipHash-2-4 from the
 * `siphash24` library (StackConfig.keyedPrf), never with a hash of our own: a connect
 * calls the library.
 */
import { describe, expect, it, vi } from 'vitest';

const calls = vi.hoisted(() => ({ n: 0 }));
vi.mock('siphash24', async (load) => {
  const real = ((await load()) as { default: (...a: unknown[]) => Uint8Array }).default;
  return {
    default: (...a: unknown[]) => {
      calls.n++;
      return real(...a);
    },
  };
});

const { BrowserStack } = await import('../src/index.js');
type Link = ConstructorParameters<typeof BrowserStack>[0];

describe('BrowserStack keyed PRF', () => {
  it('a connect hashes its ISN with the siphash24 library', async () => {
    const sent: Uint8Array[] = [];
    const link = {
      name: 'eth0',
      mac: new Uint8Array([2, 0, 0, 0, 0, 9]),
      mtu: 1500,
      medium: 'ethernet',
      hello: { addresses: ['192.0.2.9/24'], mtu: 1500 },
      send: (f: Uint8Array) => {
        sent.push(f.slice());
        return true;
      },
      onFrames: () => {},
      onClose: () => {},
      stats: () => ({}),
      close: async () => {},
    };
    const page = new BrowserStack(link as unknown as Link, { addresses: ['192.0.2.9/24'] });
    const before = calls.n;
    const pending = page.connect({ host: '192.0.2.1', port: 7 }).catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
    expect(calls.n).toBeGreaterThan(before);
    expect(sent.length).toBeGreaterThan(0); // the ARP request for the peer went out
    await page.close();
    await pending;
  });
});
