/**
 * Threaded mode's stack-side link: the real link lives on a frame I/O worker thread
 * (io-worker.ts); this side only sees two frame rings. `send` pushes into the tx ring
 * (the worker writes it to the wire); received frames are drained from the rx ring,
 * which the worker (or a TAP link's native reader thread) fills. The stack, and so the
 * socket API, stay on this thread.
 */
import type { Worker } from 'node:worker_threads';
import { FrameRing, type Link, type LinkStats, RingPump } from '@tapstack/frame-ring';
import type { IoWorkerData, IoWorkerReady, WorkerLinkSpec } from './io-worker.js';
import { emptyStats } from '@tapstack/tap-io';
import { startWorker } from './worker-boot.js';

export interface ThreadedLinkOptions {
  /** Bytes of each ring (a power of two) [8 MiB]. */
  ringBytes?: number;
  /** Frames drained per batch on either side [256]. */
  batch?: number;
}

export class ThreadedLink implements Link {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  /** The worker's link's: 'ip' for TUN or WireGuard. */
  readonly medium: 'ethernet' | 'ip';
  /** The frame I/O worker writes into the rx ring from a native thread (TAP) rather than from JS. */
  readonly nativeRx: boolean;
  /** The worker's link offloads TCP checksums (a TAP opened with `offload`). */
  readonly checksumOffload: boolean;
  /** The worker's link takes TCP super-frames (gsoSize rides in the tx ring's metadata word). */
  readonly gsoMaxSize: number;
  readonly rx: FrameRing;
  readonly tx: FrameRing;
  private readonly worker: Worker;
  private readonly batch: number;
  private handler: ((frames: readonly Uint8Array[]) => void) | undefined;
  private pump: RingPump | undefined;
  private closed = false;
  private linkStats: LinkStats = emptyStats();
  private readonly s = { txRingFull: 0, rxPumps: 0 };

  private constructor(worker: Worker, rx: FrameRing, tx: FrameRing, ready: IoWorkerReady, batch: number) {
    this.worker = worker;
    this.rx = rx;
    this.tx = tx;
    this.name = ready.name;
    this.mac = ready.mac;
    this.mtu = ready.mtu;
    this.medium = ready.medium;
    this.nativeRx = ready.nativeRx;
    this.checksumOffload = ready.checksumOffload === true;
    this.gsoMaxSize = ready.checksumOffload === true ? (ready.gsoMaxSize ?? 0) : 0;
    this.batch = batch;
    worker.on('message', (m: { type: string; stats?: LinkStats }) => {
      if (m.type === 'stats' && m.stats) this.linkStats = m.stats;
    });
  }

  /** Starts the frame I/O worker, which opens the link described by `spec`. */
  static async open(spec: WorkerLinkSpec, options: ThreadedLinkOptions = {}): Promise<ThreadedLink> {
    const capacity = options.ringBytes ?? 8 * 1024 * 1024;
    const batch = options.batch ?? 256;
    const rx = FrameRing.create({ capacity, maxFrameSize: 65535 });
    const tx = FrameRing.create({ capacity, maxFrameSize: 65535 });
    const data: IoWorkerData = { spec, rx: rx.buffer, tx: tx.buffer, txBatch: batch };
    const worker = startWorker(import.meta.url, 'io-worker', data);
    const ready = await new Promise<IoWorkerReady>((resolve, reject) => {
      const onMsg = (m: IoWorkerReady | { type: 'error'; message: string; code?: string }) => {
        if (m.type === 'ready') {
          worker.off('message', onMsg);
          resolve(m);
        } else if (m.type === 'error') {
          worker.off('message', onMsg);
          void worker.terminate();
          reject(Object.assign(new Error(`frame I/O worker: ${m.message}`), { code: m.code }));
        }
      };
      worker.on('message', onMsg);
      worker.once('error', reject);
    });
    return new ThreadedLink(worker, rx, tx, ready, batch);
  }

  send(frame: Uint8Array, gsoSize = 0): boolean {
    if (this.closed) return false;
    if (this.tx.push(frame, 'full', gsoSize)) return true;
    // Full: the I/O thread is behind. Drop like a NIC queue (TCP retransmits).
    this.s.txRingFull++;
    return false;
  }

  sendBatch(frames: readonly Uint8Array[]): number {
    if (this.closed) return 0;
    const n = this.tx.pushBatch(frames, 'drop');
    if (n < frames.length) this.s.txRingFull += frames.length - n;
    return n;
  }

  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.handler = handler;
    if (this.pump || this.closed) return;
    // rx ring → handler in bounded batches; asleep in waitAsync while the ring is empty.
    const out: Uint8Array[] = [];
    this.pump = new RingPump(
      this.rx,
      (max) => {
        const n = this.rx.drainInto(out, max);
        if (n > 0) {
          this.s.rxPumps++;
          this.handler?.(out);
          out.length = 0;
        }
        return n;
      },
      { batch: this.batch, nextTurn: setImmediate },
    );
    void this.pump.runAsync();
  }

  /** The worker's link's counters (sent every 500 ms and at close), the rings' and this side's. */
  stats(): LinkStats {
    const rx = this.rx.stats();
    const tx = this.tx.stats();
    const out: LinkStats = { ...this.linkStats, ...this.s };
    for (const [k, v] of Object.entries(rx)) out[`rxRing.${k}`] = v;
    for (const [k, v] of Object.entries(tx)) out[`txRing.${k}`] = v;
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pump?.stop();
    const done = new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        void this.worker.terminate().then(() => resolve());
      }, 2000);
      this.worker.on('message', (m: { type: string }) => {
        if (m.type === 'closed') {
          clearTimeout(t);
          resolve();
        }
      });
      this.worker.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.worker.postMessage({ type: 'close' });
    await done;
    await this.worker.terminate();
  }
}
