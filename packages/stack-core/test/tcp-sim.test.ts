/**
 * Layer 3: two TcpLayers over a seeded impaired link; each case moves one byte stream
 * (with FIN) from A to B and checks it byte for byte, within a bounded simulated time
 * (a minimum simulated goodput per case, well below what the stack reaches).
 * Every case moves 64 MiB (the whole file takes about 10 s on an idle core);
 * TCP_SIM_BYTES overrides the size (e.g. 1048576 for a quick run).
 */
import { describe, expect, it } from 'vitest';
import { prng } from './tcp-helpers.js';
import { type LinkOptions, transfer, transferBoth } from './tcp-sim.js';

const MiB = 1 << 20;
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const envBytes = Number(env.TCP_SIM_BYTES ?? 0);

/** minKBps: the slowest simulated goodput (kB/s) accepted. */
const cases: { name: string; o: LinkOptions; mib: number; minKBps: number }[] = [
  { name: 'clean', o: { delay: 1 }, mib: 64, minKBps: 20_000 },
  { name: 'loss 1%', o: { delay: 2, loss: 0.01 }, mib: 64, minKBps: 1_000 },
  { name: 'loss 5%', o: { delay: 2, loss: 0.05 }, mib: 64, minKBps: 300 },
  { name: 'loss 10%', o: { delay: 2, loss: 0.1 }, mib: 64, minKBps: 100 },
  { name: 'reordering', o: { delay: 2, reorder: 0.05, reorderDelay: 3 }, mib: 64, minKBps: 2_000 },
  { name: 'duplication', o: { delay: 2, duplicate: 0.05 }, mib: 64, minKBps: 5_000 },
  { name: 'corruption', o: { delay: 2, corrupt: 0.02 }, mib: 64, minKBps: 500 },
  { name: 'jitter', o: { delay: 5, jitter: 4 }, mib: 64, minKBps: 1_000 },
  {
    name: 'everything',
    o: { delay: 3, jitter: 2, loss: 0.03, reorder: 0.03, duplicate: 0.02, corrupt: 0.01 },
    mib: 64,
    minKBps: 200,
  },
  {
    name: 'rate-limited 10 Mbit/s bottleneck with tail drop',
    o: { delay: 5, rate: 1250, queueBytes: 64 * 1024 },
    mib: 64,
    minKBps: 1_000,
  },
];

describe('simulation: byte-for-byte transfers over an impaired link', () => {
  for (const [i, c] of cases.entries()) {
    it(`${c.name}`, () => {
      const total = envBytes > 0 ? envBytes : c.mib * MiB;
      const limit = (total / (c.minKBps * 1000)) * 1000 + 5_000;
      const r = transfer({ seed: 100 + i, ...c.o }, total, limit);
      expect(r.firstBad).toBe(-1);
      expect(r.ok).toBe(true);
      expect(r.simMs).toBeLessThan(limit);
    });
  }
  it('IPv6, MTU 9000, 1 % loss', () => {
    const total = envBytes > 0 ? envBytes : 64 * MiB;
    const r = transfer({ seed: 55, v6: true, mtu: 9000, delay: 1, loss: 0.01 }, total, 3_600_000);
    expect(r.ok).toBe(true);
  });
  it('both directions at once with 3 % loss and reordering (SACK blocks on data segments)', () => {
    const total = envBytes > 0 ? envBytes : 16 * MiB;
    const r = transferBoth(
      { seed: 77, delay: 2, loss: 0.03, reorder: 0.02, reorderDelay: 2 },
      total,
      3_600_000,
    );
    expect(r.firstBad).toBe(-1);
    expect(r.ok).toBe(true);
  });
  it('slow reader: the window closes and nothing is lost', () => {
    const r = transfer({ seed: 9, delay: 1 }, 2 * MiB, 3_600_000, 1000);
    expect(r.ok).toBe(true);
  });
});

describe('simulation: random link and socket parameters', () => {
  const runs = envBytes > 0 ? 10 : 150;
  it(`${runs} seeded configurations (buffers 1 KiB–1 MiB, MTU 576–65535, v4/v6, impairments, slow readers)`, () => {
    const rand = prng(2026);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const failures: string[] = [];
    for (let i = 0; i < runs; i++) {
      const v6 = rand() < 0.4;
      const o: LinkOptions = {
        seed: 5000 + i,
        v6,
        mtu: pick(v6 ? [1280, 1500, 9000, 65535] : [576, 1280, 1500, 9000, 65535]),
        delay: 0.5 + rand() * 10,
        jitter: rand() < 0.3 ? rand() * 3 : 0,
        loss: rand() < 0.6 ? rand() * 0.1 : 0,
        reorder: rand() < 0.3 ? rand() * 0.05 : 0,
        duplicate: rand() < 0.3 ? rand() * 0.03 : 0,
        corrupt: rand() < 0.3 ? rand() * 0.02 : 0,
        config: {
          defaults: {
            sendBufferSize: pick([1024, 4096, 16384, 65536, 262144, 1 << 20]),
            recvBufferSize: pick([1024, 4096, 16384, 65536, 262144, 1 << 20]),
            noDelay: rand() < 0.5,
            keepAlive: 0,
            congestionControl: pick(['cubic', 'newreno'] as const),
            // Receive autotuning in some scenarios (the ring grows under loss and reordering).
            recvBufferMax: pick([0, 0, 1 << 20, 4 << 20]),
            sendBufferMax: pick([0, 0, 1 << 20, 4 << 20]),
          },
        },
      };
      const size = Math.floor((256 + rand() * 768) * 1024);
      const both = rand() < 0.3;
      const readLimit = rand() < 0.3 ? 200 + Math.floor(rand() * 4000) : Infinity;
      const r = both ? transferBoth(o, size, 3_600_000) : transfer(o, size, 3_600_000, readLimit);
      if (!r.ok)
        failures.push(`#${i} ${JSON.stringify({ ...o, size, both, readLimit })} firstBad=${r.firstBad}`);
    }
    expect(failures).toEqual([]);
  });
});
