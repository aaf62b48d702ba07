/**
 * Layer 3: two TcpLayers over a seeded impaired link; every case moves a byte stream
 * both ways... (one way bulk + a small reverse stream) and checks it byte for byte.
 * TCP_SIM_BYTES scales the bulk size (default: 64 MiB for the clean and 10 %-loss
 * cases, 8 MiB for the others).
 */
import { describe, expect, it } from 'vitest';
import { type LinkOptions, transfer } from './tcp-sim.js';

const MiB = 1 << 20;
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const envBytes = Number(env.TCP_SIM_BYTES ?? 0);

const cases: { name: string; o: LinkOptions; big: boolean }[] = [
  { name: 'clean', o: { delay: 1 }, big: true },
  { name: 'loss 1%', o: { delay: 2, loss: 0.01 }, big: false },
  { name: 'loss 5%', o: { delay: 2, loss: 0.05 }, big: false },
  { name: 'loss 10%', o: { delay: 2, loss: 0.1 }, big: true },
  { name: 'reordering', o: { delay: 2, reorder: 0.05, reorderDelay: 3 }, big: false },
  { name: 'duplication', o: { delay: 2, duplicate: 0.05 }, big: false },
  { name: 'corruption', o: { delay: 2, corrupt: 0.02 }, big: false },
  { name: 'jitter', o: { delay: 5, jitter: 4 }, big: false },
  {
    name: 'everything',
    o: { delay: 3, jitter: 2, loss: 0.03, reorder: 0.03, duplicate: 0.02, corrupt: 0.01 },
    big: false,
  },
  {
    name: 'rate-limited bottleneck with tail drop',
    o: { delay: 5, rate: 1250, queueBytes: 64 * 1024 },
    big: false,
  },
];

describe('simulation: byte-for-byte transfers over an impaired link', () => {
  for (const [i, c] of cases.entries()) {
    it(`${c.name}`, () => {
      const total = envBytes > 0 ? envBytes : c.big ? 64 * MiB : 8 * MiB;
      const r = transfer({ seed: 100 + i, ...c.o }, total, 3_600_000);
      expect(r.firstBad).toBe(-1);
      expect(r.ok).toBe(true);
      // Bounded simulated time: at least ~150 kB/s of simulated goodput even at 10 % loss.
      expect(r.simMs).toBeLessThan((total / 150_000) * 1000 + 10_000);
    });
  }
  it('IPv6, MTU 9000, 1 % loss', () => {
    const total = envBytes > 0 ? envBytes : 8 * MiB;
    const r = transfer({ seed: 55, v6: true, mtu: 9000, delay: 1, loss: 0.01 }, total, 3_600_000);
    expect(r.ok).toBe(true);
  });
  it('slow reader: the window closes and nothing is lost', () => {
    const r = transfer({ seed: 9, delay: 1 }, 2 * MiB, 3_600_000, 1000);
    expect(r.ok).toBe(true);
  });
});
