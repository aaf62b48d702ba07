/**
 * The frame I/O thread of threaded mode (the seed's "service thread"). It opens the
 * link named by a `WorkerLinkSpec`, feeds received frames into the rx ring (a TAP
 * link's native reader thread writes straight into it) and writes what the stack
 * thread pushed into the tx ring. It never touches the stack.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FrameRing, type Link, RingPump } from '@tapstack/frame-ring';

export interface WorkerLinkSpec {
  /** Module to import in the worker (a package name or an absolute file URL). */
  module: string;
  /** Name of the exported factory: `(...args) => Link | Promise<Link>`. */
  export: string;
  args?: unknown[];
}

export interface IoWorkerData {
  spec: WorkerLinkSpec;
  rx: SharedArrayBuffer;
  tx: SharedArrayBuffer;
  /** Frames drained from the tx ring per write batch. */
  txBatch: number;
}

/** The worker's first message: what the stack side needs to know of the link. */
export interface IoWorkerReady {
  type: 'ready';
  name: string;
  mac: Uint8Array;
  mtu: number;
  medium: 'ethernet' | 'ip';
  /** The link's native reader thread writes into the rx ring (no JS on this thread per frame). */
  nativeRx: boolean;
  checksumOffload: boolean;
  gsoMaxSize: number;
}

async function main(): Promise<void> {
  const data = workerData as IoWorkerData;
  const rx = FrameRing.attach(data.rx);
  const tx = FrameRing.attach(data.tx);
  const mod = (await import(data.spec.module)) as Record<string, unknown>;
  const factory = mod[data.spec.export];
  if (typeof factory !== 'function')
    throw new TypeError(`${data.spec.module} has no export ${data.spec.export}`);
  const link = (await factory(...(data.spec.args ?? []))) as Link;
  if (typeof link.attachRxRing === 'function') {
    // The native reader thread writes into the ring the stack thread drains: no JS hop.
    link.attachRxRing(rx);
  } else {
    link.onFrames((frames) => {
      rx.pushBatch(frames);
    });
  }
  const ready: IoWorkerReady = {
    type: 'ready',
    name: link.name,
    mac: Uint8Array.from(link.mac),
    mtu: link.mtu,
    medium: link.medium ?? 'ethernet',
    nativeRx: link.nativeRxRing === true,
    // A TAP opened with offload finishes and checks TCP checksums itself (tap-io README
    // "Offloads"): the stack on the other thread must know. Super-segments do not cross.
    checksumOffload: link.checksumOffload === true,
    // Super-frames cross the tx ring (at most its 65535-byte records, Ethernet header included).
    gsoMaxSize: link.gsoMaxSize ? Math.min(link.gsoMaxSize, 65535 - 14) : 0,
  };
  parentPort!.postMessage(ready);
  const postStats = () => parentPort!.postMessage({ type: 'stats', stats: link.stats() });
  const statsTimer = setInterval(postStats, 500);
  statsTimer.unref();
  const flush = link.flush?.bind(link);
  // The tx ring's metadata word carries a frame's gsoSize (ThreadedLink.send).
  const txMeta = new Int32Array(tx.buffer);
  const send = (u8: Uint8Array, off: number, len: number) => {
    // The view is valid only inside the drain callback; Link.send copies it (TAP: into
    // its staging buffer, written with one native call per batch on flush()).
    const gso = txMeta[(off >> 2) - 1]! & 0xffff;
    link.send(u8.subarray(off, off + len), gso);
  };
  // tx ring → the link, a batch per write (flush: one native call); asleep while empty.
  const pump = new RingPump(
    tx,
    (max) => {
      const n = tx.drainRaw(max, send);
      if (n > 0) flush?.();
      return n;
    },
    { batch: data.txBatch, nextTurn: setImmediate },
  );
  parentPort!.on('message', async (m: { type: string }) => {
    if (m.type === 'stats') postStats();
    if (m.type === 'close') {
      pump.stop();
      clearInterval(statsTimer);
      postStats();
      await link.close();
      parentPort!.postMessage({ type: 'closed' });
      parentPort!.close();
    }
  });
  await pump.runAsync();
}

main().catch((e) => {
  parentPort!.postMessage({ type: 'error', message: String(e?.stack ?? e), code: e?.code });
});
