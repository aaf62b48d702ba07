/**
 * Every connection the daemon carries for someone (bridge, SOCKS5, forwards, built-in
 * services), by kind: the open/total counts the metrics show, and the set that a
 * shutdown drains and then closes.
 */
import type { Duplex } from 'node:stream';

export type SessionKind = 'bridge' | 'socks' | 'forward' | 'service';
export const sessionKinds: readonly SessionKind[] = ['bridge', 'socks', 'forward', 'service'];

interface Entry {
  kind: SessionKind;
  /** Closes the session at once (both sides), with an error the client can see. */
  abort: () => void;
}

export class SessionTable {
  private readonly open = new Map<object, Entry>();
  private readonly totals: Record<SessionKind, number> = { bridge: 0, socks: 0, forward: 0, service: 0 };
  private readonly bytes: Record<SessionKind, { in: number; out: number }> = {
    bridge: { in: 0, out: 0 },
    socks: { in: 0, out: 0 },
    forward: { in: 0, out: 0 },
    service: { in: 0, out: 0 },
  };
  private waiters: (() => void)[] = [];

  /** Adds a session; `key` is removed by `end(key)` (or on the socket's 'close' when key is a stream). */
  add(kind: SessionKind, key: object, abort: () => void): void {
    if (this.open.has(key)) return;
    this.open.set(key, { kind, abort });
    this.totals[kind]++;
    if (isStream(key)) key.once('close', () => this.end(key));
  }

  end(key: object): void {
    if (!this.open.delete(key)) return;
    if (this.open.size === 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }
  }

  /** Bytes carried: `in` from the virtual network towards the client, `out` the other way. */
  countBytes(kind: SessionKind, direction: 'in' | 'out', n: number): void {
    this.bytes[kind][direction] += n;
  }

  count(kind?: SessionKind): number {
    if (!kind) return this.open.size;
    let n = 0;
    for (const e of this.open.values()) if (e.kind === kind) n++;
    return n;
  }

  total(kind: SessionKind): number {
    return this.totals[kind];
  }

  bytesOf(kind: SessionKind): { in: number; out: number } {
    return { ...this.bytes[kind] };
  }

  /** Resolves true when every session has ended, false after `timeoutMs`. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.open.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      this.waiters.push(done);
    });
  }

  /** Aborts every open session. */
  abortAll(): void {
    for (const [key, e] of [...this.open]) {
      try {
        e.abort();
      } finally {
        this.end(key);
      }
    }
  }
}

function isStream(x: object): x is Duplex {
  return typeof (x as Duplex).once === 'function' && typeof (x as Duplex).pipe === 'function';
}
