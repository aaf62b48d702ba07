/**
 * tap-io benchmarks. TAP write and read at 64 B and 1514 B against a reference measured
 * in the same run: a blocking write()/read() loop on a TAP fd in a worker thread. VXLAN
 * over loopback at MTU 1450 and 65485: the native path against the link's node:dgram path
 * and raw node:dgram with the same send pattern.
 *
 * Write path: frames into a TAP whose kernel side drops them (ethertype 0x88b5 to a MAC
 * that is not the device's; IPv6 off, no addresses). Read path: a native thread sends one
 * frame over and over through an AF_PACKET socket bound to the TAP, so the kernel hands
 * frames to the TAP fd; we count frames that reached JS. Both sides use the same source.
 */
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { median, medianOfRounds, quick, report } from '@tapstack/bench-kit';
import { FrameRing } from '@tapstack/frame-ring';
import { openTap, openVxlan, type TapLink } from '../src/index.js';
import { loadNative, nativeVxlan } from '../src/native.js';

const PKG = 'tap-io';
const ROUND_MS = quick ? 150 : 500;
const ROUNDS = quick ? 1 : 5;
const sizes = [64, 1514] as const;
const tag = `${process.pid % 100000}`;

function frame(size: number, src: number): Uint8Array {
  const f = new Uint8Array(size).fill(0xab);
  f.set([0x02, 0, 0, 0, 0x7e, 0x7e], 0); // not the device's MAC
  f.set([0x02, 0, 0, 0, 0x5e, src], 6);
  f.set([0x88, 0xb5], 12); // local experimental ethertype: the kernel drops it
  return f;
}

function quietDevice(name: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
  } catch {
    // no IPv6 in this kernel
  }
}

// The reference: one worker, blocking syscalls, one frame per call.
const workerSrc = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
parentPort.on('message', (m) => {
  const buf = Buffer.alloc(Math.max(m.size, 65536));
  buf.fill(0xab, 0, m.size);
  if (m.frame) buf.set(m.frame, 0);
  let n = 0;
  const end = performance.now() + m.ms;
  const t0 = performance.now();
  if (m.op === 'write') {
    while (true) {
      for (let i = 0; i < 64; i++) { fs.writeSync(m.fd, buf, 0, m.size); n++; }
      if (performance.now() >= end) break;
    }
  } else {
    while (performance.now() < end) { fs.readSync(m.fd, buf, 0, buf.length, null); n++; }
  }
  parentPort.postMessage({ n, ms: performance.now() - t0 });
});`;

/**
 * Runs ours and the reference alternately, round by round, so both see the same machine
 * load (this box's 2 cores are shared), after one warm-up of each; returns both medians.
 */
async function interleaved(fns: Array<() => number | Promise<number>>): Promise<number[]> {
  for (const f of fns) await f();
  const vals: number[][] = fns.map(() => []);
  for (let i = 0; i < ROUNDS; i++) for (let j = 0; j < fns.length; j++) vals[j]!.push(await fns[j]!());
  return vals.map((v) => median(v));
}

async function paired(
  ours: () => number | Promise<number>,
  ref: () => number | Promise<number>,
): Promise<[number, number]> {
  await ours();
  await ref();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    a.push(await ours());
    b.push(await ref());
  }
  return [median(a), median(b)];
}

function refRun(w: Worker, msg: Record<string, unknown>): Promise<{ n: number; ms: number }> {
  return new Promise((resolve) => {
    w.once('message', resolve);
    w.postMessage(msg);
  });
}

async function tapBenches(): Promise<void> {
  const native = loadNative();
  const ours = openTap({ name: `tbo${tag}` });
  const oursLoop = openTap({ name: `tbl${tag}`, rxMode: 'loop' });
  quietDevice(oursLoop.name);
  // the reader thread as it was before wake coalescing: JS woken after every batch
  const oursNoCo = openTap({ name: `tbn${tag}`, rxCoalesceUs: 0 });
  quietDevice(oursNoCo.name);
  const refDev = native.open(`tbr${tag}`, undefined, undefined, true, false); // blocking fd
  quietDevice(ours.name);
  quietDevice(refDev.name);
  const worker = new Worker(workerSrc, { eval: true });
  try {
    for (const size of sizes) {
      // ---------------- write
      const f = frame(size, 1);
      const batch = Array.from({ length: 256 }, () => f);
      const [writeOurs, writeRef] = await paired(
        () => {
          const t0 = performance.now();
          let n = 0;
          const end = t0 + ROUND_MS;
          do {
            n += ours.sendBatch(batch);
          } while (performance.now() < end);
          return n / ((performance.now() - t0) / 1000);
        },
        async () => {
          const r = await refRun(worker, { op: 'write', fd: refDev.fd, size, ms: ROUND_MS, frame: f });
          return r.n / (r.ms / 1000);
        },
      );
      const refName = `${PKG}/tap/${size}B/blocking-write-worker-frames-per-s`;
      report({
        package: PKG,
        name: `${PKG}/tap/${size}B/write-frames-per-s`,
        value: writeOurs,
        unit: 'frames/s',
        higherIsBetter: true,
        baseline: { name: refName, value: writeRef },
      });
      report({
        package: PKG,
        name: `${PKG}/tap/${size}B/write-MB-per-s`,
        value: (writeOurs * size) / 1e6,
        unit: 'MB/s',
        higherIsBetter: true,
        baseline: { name: `${refName.replace('frames-per-s', 'MB-per-s')}`, value: (writeRef * size) / 1e6 },
      });
      // per-frame send(): staged, flushed once per 256 frames or per tick
      const sendOurs = await medianOfRounds(
        async () => {
          const t0 = performance.now();
          let n = 0;
          const end = t0 + ROUND_MS;
          do {
            for (let i = 0; i < 256; i++) ours.send(f);
            n += 256;
          } while (performance.now() < end);
          ours.flush();
          return n / ((performance.now() - t0) / 1000);
        },
        { rounds: ROUNDS },
      );
      report({
        package: PKG,
        name: `${PKG}/tap/${size}B/send-frames-per-s`,
        value: sendOurs,
        unit: 'frames/s',
        higherIsBetter: true,
        baseline: { name: refName, value: writeRef },
      });
    }
    if (ours.stats().txErrors > 0) console.warn(`warning: ${ours.stats().txErrors} TAP write errors`);

    // ---------------- read: ours (reader thread, and loop mode) into a frame ring
    // Both sides are fed by the same packet source (a native thread, sendmmsg on an
    // AF_PACKET socket); what it sent and what the kernel dropped at the TAP's queue (the
    // reader did not keep up) is printed per variant, so a reader bounded by the source
    // (drops near 0) can be told from one bounded by its own CPU share.
    const ring = FrameRing.create({ capacity: 8 << 20, maxFrameSize: 2048 });
    ours.attachRxRing(ring);
    const loopRing = FrameRing.create({ capacity: 8 << 20, maxFrameSize: 2048 });
    oursLoop.attachRxRing(loopRing);
    const noCoRing = FrameRing.create({ capacity: 8 << 20, maxFrameSize: 2048 });
    oursNoCo.attachRxRing(noCoRing);
    const kernelDrops = (dev: string) =>
      Number(readFileSync(`/sys/class/net/${dev}/statistics/tx_dropped`, 'utf8'));
    interface Tally {
      got: number;
      sent: number;
      kdrops: number;
      wakeups: number;
    }
    const tally = (): Tally => ({ got: 0, sent: 0, kdrops: 0, wakeups: 0 });
    const show = (label: string, t: Tally) =>
      `${label} ${(t.got / 1e3).toFixed(0)}k read of ${(t.sent / 1e3).toFixed(0)}k sent, ` +
      `${((100 * t.kdrops) / Math.max(t.sent, 1)).toFixed(1)}% dropped by the kernel` +
      (t.wakeups > 0 ? `, ${(t.got / t.wakeups).toFixed(0)} frames per JS wakeup` : '');
    for (const size of sizes) {
      const src = frame(size, 2);
      let sink = 0;
      const onFrame = (u8: Uint8Array, off: number, len: number) => {
        sink += u8[off + len - 1]!;
      };
      const t = { ours: tally(), loop: tally(), noCo: tally(), ref: tally() };
      const consume = async (link: TapLink, r: FrameRing, acc: Tally) => {
        const b = native.blastStart(link.name, src);
        let sent = 0;
        let n = 0;
        const st0 = link.stats();
        const k0 = kernelDrops(link.name);
        try {
          // warm-up: drain as in the round, so the ring does not overflow before it starts
          const warm = performance.now() + 20;
          while (performance.now() < warm) if (r.drainRaw(4096, onFrame) === 0) await r.waitAsync(5);
          const t0 = performance.now();
          const end = t0 + ROUND_MS;
          while (performance.now() < end) {
            const k = r.drainRaw(4096, onFrame);
            n += k;
            if (k === 0) await r.waitAsync(5);
          }
          return n / ((performance.now() - t0) / 1000);
        } finally {
          sent = native.blastStop(b).sent;
          const st1 = link.stats();
          acc.got += st1.rxFrames - st0.rxFrames;
          acc.sent += sent;
          acc.kdrops += kernelDrops(link.name) - k0;
          acc.wakeups += (st1.rxWakeups ?? 0) - (st0.rxWakeups ?? 0);
        }
      };
      const [readOurs = 0, readLoop = 0, readNoCo = 0, readRef = 0] = await interleaved([
        () => consume(ours, ring, t.ours),
        () => consume(oursLoop, loopRing, t.loop),
        () => consume(oursNoCo, noCoRing, t.noCo),
        async () => {
          const b = native.blastStart(refDev.name, src);
          const k0 = kernelDrops(refDev.name);
          let n = 0;
          try {
            await new Promise((r) => setTimeout(r, 20));
            const r = await refRun(worker, { op: 'read', fd: refDev.fd, size, ms: ROUND_MS });
            n = r.n;
            return r.n / (r.ms / 1000);
          } finally {
            t.ref.sent += native.blastStop(b).sent;
            t.ref.got += n;
            t.ref.kdrops += kernelDrops(refDev.name) - k0;
          }
        },
      ]);
      console.log(
        `  (read ${size}B, all rounds: ${show('thread', t.ours)}; ${show('thread without coalescing', t.noCo)}; ` +
          `${show('loop', t.loop)}; ${show('reference', t.ref)})`,
      );
      const refName = `${PKG}/tap/${size}B/blocking-read-worker-frames-per-s`;
      report({
        package: PKG,
        name: `${PKG}/tap/${size}B/read-frames-per-s`,
        value: readOurs,
        unit: 'frames/s',
        higherIsBetter: true,
        baseline: { name: refName, value: readRef },
      });
      report({
        package: PKG,
        name: `${PKG}/tap/${size}B/read-MB-per-s`,
        value: (readOurs * size) / 1e6,
        unit: 'MB/s',
        higherIsBetter: true,
        baseline: { name: refName.replace('frames-per-s', 'MB-per-s'), value: (readRef * size) / 1e6 },
      });
      report({
        package: PKG,
        name: `${PKG}/tap/${size}B/read-no-coalescing-frames-per-s`,
        value: readNoCo,
        unit: 'frames/s',
        higherIsBetter: true,
        baseline: { name: refName, value: readRef },
      });
      report({
        package: PKG,
        name: `${PKG}/tap/${size}B/read-loop-mode-frames-per-s`,
        value: readLoop,
        unit: 'frames/s',
        higherIsBetter: true,
        baseline: { name: refName, value: readRef },
      });
      if (sink === -1) console.log(sink);
      // let the kernel queue drain before the next size
      await new Promise((r) => setTimeout(r, 20));
      while (ring.drainRaw(1 << 20, onFrame) > 0);
      while (loopRing.drainRaw(1 << 20, onFrame) > 0);
      while (noCoRing.drainRaw(1 << 20, onFrame) > 0);
    }
    const s = ours.stats();
    console.log(
      `  (reader: ${s.rxFrames} frames in ${s.rxBatches} batches, ${s.rxWakeups} JS wakeups (${s.rxDeferredWakes} held to coalesce), ${s.rxDropped} dropped on a full ring)`,
    );
  } finally {
    await worker.terminate();
    await ours.close();
    await oursLoop.close();
    await oursNoCo.close();
    native.close(refDev.fd);
  }
}

/** Sends for ROUND_MS in bursts, yielding so the receiver runs; returns received frames/s. */
async function pump(send: () => void, received: () => number, burst = 64): Promise<number> {
  const start = received();
  const t0 = performance.now();
  const end = t0 + ROUND_MS;
  while (performance.now() < end) {
    for (let i = 0; i < burst; i++) send();
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 10));
  return (received() - start) / ((performance.now() - t0) / 1000);
}

/**
 * VXLAN over loopback at the two MTUs the link uses (1450 on a 1500-byte underlay,
 * 65485 on loopback), full-size frames (mtu + 14), one sender and one receiver link in
 * this process: the native path (addon socket, recvmmsg into a ring from the event loop,
 * the default, or from a reader thread; sendmmsg) vs the node:dgram path of the same link
 * vs raw node:dgram with the same send pattern, interleaved round by round. Received
 * frames/s and inner Gbit/s.
 */
async function vxlanBenches(): Promise<void> {
  const nativeOk = nativeVxlan() !== undefined;
  if (!nativeOk) console.log('tap-io: VXLAN native path unavailable (addon not built): dgram only');
  const rawA = createSocket('udp4');
  const rawB = createSocket('udp4');
  await new Promise<void>((r) => rawA.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => rawB.bind(0, '127.0.0.1', () => r()));
  for (const s of [rawA, rawB]) {
    s.setRecvBufferSize(4 << 20);
    s.setSendBufferSize(4 << 20);
  }
  let rawGot = 0;
  rawB.on('message', () => {
    rawGot++;
  });
  const rawPort = rawB.address().port;
  try {
    for (const mtu of [1450, 65485]) {
      const size = mtu + 14;
      const burst = mtu > 9000 ? 16 : 64;
      const pair = async (native: boolean, rxMode: 'thread' | 'loop' = 'loop') => {
        const o = { address: '127.0.0.1', port: 0, mtu, native, rxMode, learn: true };
        const a = await openVxlan({ ...o, mac: '02:00:00:00:00:01' });
        const b = await openVxlan({ ...o, mac: '02:00:00:00:00:02' });
        a.addPeer({ address: '127.0.0.1', port: b.address().port });
        const box = { got: 0 };
        b.onFrames((fs) => {
          box.got += fs.length;
        });
        return { a, b, box };
      };
      const links = nativeOk
        ? [await pair(true, 'loop'), await pair(true, 'thread'), await pair(false)]
        : [await pair(false)];
      const f = new Uint8Array(size);
      f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5], 0);
      try {
        const fns = links.map(
          (l) => () =>
            pump(
              () => l.a.send(f),
              () => l.box.got,
              burst,
            ),
        );
        fns.push(() =>
          pump(
            () => {
              const p = Buffer.allocUnsafe(size + 8);
              p.set(f, 8);
              rawA.send(p, rawPort, '127.0.0.1');
            },
            () => rawGot,
            burst,
          ),
        );
        const vals = await interleaved(fns);
        const raw = vals.at(-1)!;
        const dgramLink = vals.at(-2)!;
        const gbit = (fps: number) => (fps * size * 8) / 1e9;
        const base = `${PKG}/vxlan/loopback/mtu${mtu}`;
        report({
          package: PKG,
          name: `${base}/dgram-frames-per-s`,
          value: dgramLink,
          unit: 'frames/s',
          higherIsBetter: true,
          baseline: { name: 'raw node:dgram', value: raw },
        });
        if (nativeOk) {
          const nat = vals[0]!;
          report({
            package: PKG,
            name: `${base}/native-frames-per-s`,
            value: nat,
            unit: 'frames/s',
            higherIsBetter: true,
            baseline: { name: 'the node:dgram path', value: dgramLink },
          });
          report({
            package: PKG,
            name: `${base}/native-thread-frames-per-s`,
            value: vals[1]!,
            unit: 'frames/s',
            higherIsBetter: true,
            baseline: { name: 'the node:dgram path', value: dgramLink },
          });
          report({
            package: PKG,
            name: `${base}/native-Gbit-per-s`,
            value: gbit(nat),
            unit: 'Gbit/s',
            higherIsBetter: true,
            baseline: { name: 'the node:dgram path', value: gbit(dgramLink) },
          });
          report({
            package: PKG,
            name: `${base}/native-thread-Gbit-per-s`,
            value: gbit(vals[1]!),
            unit: 'Gbit/s',
            higherIsBetter: true,
            baseline: { name: 'the node:dgram path', value: gbit(dgramLink) },
          });
          for (const [i, what] of ['loop (default)', 'thread'].entries()) {
            const s = links[i]!.b.stats();
            const t = links[i]!.a.stats();
            console.log(
              `  (native ${what}, mtu ${mtu}: receiver ${s.rxFrames} frames in ${s.rxBatches} batches, ${s.rxWakeups} JS wakeups, ${s.rxDropped} dropped; sender ${t.txFrames} frames in ${t.txCalls} sendmmsg calls)`,
            );
          }
          const d = links[2]!.b.stats();
          console.log(`  (dgram, mtu ${mtu}: receiver ${d.rxFrames} frames, ${d.rxDropped} dropped)`);
        } else {
          report({
            package: PKG,
            name: `${base}/dgram-Gbit-per-s`,
            value: gbit(dgramLink),
            unit: 'Gbit/s',
            higherIsBetter: true,
            baseline: { name: 'raw node:dgram', value: gbit(raw) },
          });
        }
      } finally {
        for (const l of links) {
          await l.a.close();
          await l.b.close();
        }
      }
    }
  } finally {
    rawA.close();
    rawB.close();
  }
}

async function main(): Promise<void> {
  const root = process.getuid?.() === 0;
  if (process.platform !== 'linux' || !root || !existsSync('/dev/net/tun')) {
    console.log('tap-io: TAP benchmarks skipped (need Linux, root and /dev/net/tun)');
  } else {
    await tapBenches();
  }
  await vxlanBenches();
}

await main();
