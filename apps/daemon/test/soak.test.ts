/**
 * A compressed soak: many short and a few long connections through daemon A (its bridge,
 * and a host port forward) to daemon B's echo service (two stacks on an in-memory switch), ~15 s. Afterwards the
 * daemons' own metrics must show every session and bridge handle closed, and the
 * process must hold no more timers and no more heap (after GC) than a bound.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { connect as hostConnect, type Socket } from 'node:net';
import { bridgeConnect } from '@tapstack/socket-bridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Pair, scrape, series, sleep, startPair, until } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SOAK_MS = Number(process.env.TAPSTACK_SOAK_MS ?? 15_000);
const SHORT_WORKERS = 12;
const LONG_WORKERS = 3;
const LONG_BYTES = 4 * 1024 * 1024;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

type Open = () => Promise<Socket>;

/** One connection: send `bytes` (in chunks), read them all back, check, close. */
async function echoOnce(open: Open, bytes: number, chunk: number): Promise<void> {
  const s = await open();
  const expected = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) expected[i] = (i * 7 + bytes) & 255;
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    let ok = true;
    s.on('data', (d: Buffer) => {
      if (!d.equals(expected.subarray(got, got + d.length))) ok = false;
      got += d.length;
      if (got >= bytes) s.end();
    });
    s.on('error', reject);
    s.on('end', () =>
      got === bytes && ok ? resolve() : reject(new Error(`echo: ${got}/${bytes} ok=${ok}`)),
    );
    let off = 0;
    const pump = () => {
      while (off < bytes) {
        const n = Math.min(chunk, bytes - off);
        const more = s.write(expected.subarray(off, off + n));
        off += n;
        if (!more) {
          s.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  s.destroy();
}

describe('soak through the daemon', () => {
  let pair: Pair;
  beforeAll(async () => {
    // TIME-WAIT lasts 2 s here (MSL 1 s), so the closed connections' state is gone before
    // the heap is compared: what remains is what leaked. (At ~1,000 connections/s, 60 s of
    // TIME-WAIT would hold tens of thousands of connections, ~2 KB each, legitimately.)
    pair = await startPair(
      {
        forwards: { hostToVirtual: [{ listen: '127.0.0.1:0', connect: '192.0.2.2:7' }] },
        tcp: { mslMs: 1000 },
      },
      { services: { echo: 7 }, tcp: { mslMs: 1000 } },
    );
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it(
    'many short and long connections leave no sessions, handles, timers or heap growth behind',
    async () => {
      const bridge = pair.sock('a.sock');
      // Warm up (JIT, pools), then take the baseline.
      const viaBridge: Open = () => bridgeConnect({ path: bridge, host: '192.0.2.2', port: 7 });
      const [fwHost, fwPort] = pair.a.info().forwards[0]!.listen.split(':');
      const viaForward: Open = () =>
        new Promise((resolve, reject) => {
          const c = hostConnect({ host: fwHost!, port: Number(fwPort), allowHalfOpen: true });
          c.once('connect', () => resolve(c));
          c.once('error', reject);
        });
      for (let i = 0; i < 40; i++) await echoOnce(i % 2 ? viaBridge : viaForward, 1024, 1024);
      // Connections the stacks hold (TIME-WAIT included), once the warm-up's have expired.
      // A stack counter of both daemons, [A, B], from their metrics endpoints.
      const stackGauge = (counter: string) =>
        Promise.all(
          [pair.a, pair.b].map(async (d) =>
            series(await scrape(d.info().metrics!), 'tapstack_stack_gauge', { gauge: counter }),
          ),
        );
      const conns = async () => (await stackGauge('tcp.connections')).map((n) => n ?? Number.NaN);
      await sleep(2500);
      const conns0 = await conns();
      const heap0 = heapAfterGc();
      const timers0 = timers();
      // The stacks' TCP handles held by the application side (listeners of services and
      // forwards); connections still in TIME-WAIT are not handles.
      const handles = () => stackGauge('tcp.handles');
      const handles0 = await handles();
      expect(handles0[0]).toBeTypeOf('number');
      expect(handles0[1]).toBeGreaterThan(0); // B's service listeners

      const end = Date.now() + SOAK_MS;
      let short = 0;
      let long = 0;
      let shortBytes = 0;
      let forwarded = 0;
      const failures: string[] = [];
      const shortWorker = async (w: number) => {
        let i = 0;
        // A third of the short connections come through the host port forward.
        const viaFw = w % 3 === 0;
        while (Date.now() < end) {
          const size = 64 + ((i++ * 977 + w * 131) % 8192);
          try {
            await echoOnce(viaFw ? viaForward : viaBridge, size, 1500);
            short++;
            if (viaFw) forwarded++;
            shortBytes += size;
          } catch (e) {
            failures.push(`short: ${(e as Error).message}`);
          }
        }
      };
      const longWorker = async () => {
        while (Date.now() < end) {
          try {
            await echoOnce(viaBridge, LONG_BYTES, 16384);
            long++;
          } catch (e) {
            failures.push(`long: ${(e as Error).message}`);
          }
        }
      };
      // Sample peak open sessions while it runs.
      let peak = 0;
      const sampler = setInterval(() => {
        const o = pair.a.openSessions();
        peak = Math.max(peak, o.bridge + o.forward);
      }, 100);
      await Promise.all([
        ...Array.from({ length: SHORT_WORKERS }, (_, w) => shortWorker(w)),
        ...Array.from({ length: LONG_WORKERS }, () => longWorker()),
      ]);
      clearInterval(sampler);

      expect(failures).toEqual([]);
      expect(short).toBeGreaterThan(200);
      expect(long).toBeGreaterThanOrEqual(LONG_WORKERS);
      expect(peak).toBeGreaterThan(5);

      // Everything closes: sessions and bridge handles back to 0 (daemons' own metrics).
      const settled = await until(async () => {
        const a = await scrape(pair.a.info().metrics!);
        const b = await scrape(pair.b.info().metrics!);
        return (
          series(a, 'tapstack_sessions_open', { kind: 'bridge' }) === 0 &&
          series(a, 'tapstack_sessions_open', { kind: 'forward' }) === 0 &&
          series(a, 'tapstack_bridge_gauge', { gauge: 'openHandles' }) === 0 &&
          series(b, 'tapstack_sessions_open', { kind: 'service' }) === 0
        );
      }, 5000);
      const a = await scrape(pair.a.info().metrics!);
      const b = await scrape(pair.b.info().metrics!);
      expect(
        settled,
        JSON.stringify(
          Object.fromEntries([...a].filter(([k]) => k.includes('session') || k.includes('bridge'))),
        ),
      ).toBe(true);
      // B saw every connection (warm-up included) and echoed every byte.
      expect(series(b, 'tapstack_sessions_total', { kind: 'service' })).toBe(40 + short + long);
      expect(series(b, 'tapstack_session_bytes_total', { kind: 'service', direction: 'out' })).toBe(
        40 * 1024 + shortBytes + long * LONG_BYTES,
      );
      expect(series(a, 'tapstack_sessions_total', { kind: 'forward' })).toBe(20 + forwarded);
      expect(forwarded).toBeGreaterThan(50);
      expect(series(a, 'tapstack_link_counter_total', { counter: 'rxDropped' })).toBe(0);
      // The stacks hold no TCP handle more than before the soak.
      let handles1 = await handles();
      await until(async () => {
        handles1 = await handles();
        return handles1.every((h, i) => h === handles0[i]);
      }, 5000);
      expect(handles1).toEqual(handles0);

      // TIME-WAIT (2 s here) ends: the stacks hold no more connections than before.
      const timeWait = await conns();
      let conns1 = timeWait;
      await until(async () => {
        conns1 = await conns();
        return conns1.every((n, i) => n <= conns0[i]!);
      }, 10_000);
      expect(
        conns1.every((n, i) => n <= conns0[i]!),
        `${conns1} vs ${conns0}`,
      ).toBe(true);

      // No timers left behind, and the heap is back within bounds.
      await sleep(300);
      expect(timers()).toBeLessThanOrEqual(timers0 + 2);
      const heap1 = heapAfterGc();
      const growthMiB = (heap1 - heap0) / 1048576;
      console.log(
        `soak: ${short} short (${forwarded} via the forward) + ${long} long connections in ${SOAK_MS / 1000} s, peak ${peak} open, TIME-WAIT at the end ${timeWait} -> ${conns1}, heap ${(heap0 / 1048576).toFixed(1)} -> ${(heap1 / 1048576).toFixed(1)} MiB`,
      );
      expect(growthMiB).toBeLessThan(12);
    },
    SOAK_MS + 60_000,
  );
});
