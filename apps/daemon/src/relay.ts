/**
 * Joins two byte streams (a host socket and a virtual one) in both directions with
 * backpressure (pipe), half-close (a FIN on one side becomes end() on the other) and
 * error propagation (an error or reset on one side destroys the other).
 */
import type { Duplex } from 'node:stream';

export interface RelayCounters {
  /** Bytes a → b and b → a. */
  onBytes?: (direction: 'ab' | 'ba', n: number) => void;
  onClose?: (err?: Error) => void;
}

/** Destroys with a reset when the stream can (net.Socket and StackSocket both can). */
export function hardClose(s: Duplex, err?: Error): void {
  const r = (s as Duplex & { resetAndDestroy?: () => void }).resetAndDestroy;
  if (typeof r === 'function' && !s.destroyed) {
    try {
      r.call(s);
      return;
    } catch {
      // not connected yet: fall through to destroy
    }
  }
  s.destroy(err);
}

export function relay(a: Duplex, b: Duplex, counters: RelayCounters = {}): void {
  let closed = 0;
  let firstErr: Error | undefined;
  const onClose = () => {
    if (++closed === 2) counters.onClose?.(firstErr);
  };
  if (counters.onBytes) {
    const f = counters.onBytes;
    a.on('data', (d: Buffer) => f('ab', d.length));
    b.on('data', (d: Buffer) => f('ba', d.length));
  }
  a.on('error', (e) => {
    firstErr ??= e;
    hardClose(b);
  });
  b.on('error', (e) => {
    firstErr ??= e;
    hardClose(a);
  });
  a.once('close', () => {
    onClose();
    if (!b.destroyed && !b.writableEnded) b.end();
    if (!b.destroyed && (a as Duplex & { readableEnded: boolean }).readableEnded === false) b.destroy();
  });
  b.once('close', () => {
    onClose();
    if (!a.destroyed && !a.writableEnded) a.end();
    if (!a.destroyed && (b as Duplex & { readableEnded: boolean }).readableEnded === false) a.destroy();
  });
  a.pipe(b);
  b.pipe(a);
}
