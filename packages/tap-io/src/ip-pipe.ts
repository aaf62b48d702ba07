/**
 * An in-memory IP-only link for tests: two ends joined back to back, each carrying bare IP
 * packets (`medium: 'ip'`), delivered in batches on the next turn of the event loop (as the
 * real links do), copied at send.
 */
import { emptyStats, type Link, type LinkStats } from './link.js';

export interface IpPipeEnd extends Link {
  readonly medium: 'ip';
}

class End implements IpPipeEnd {
  readonly medium = 'ip' as const;
  readonly mac = new Uint8Array(6);
  peer: End | undefined;
  #handler: ((frames: readonly Uint8Array[]) => void) | undefined;
  #pending: Uint8Array[] = [];
  #scheduled = false;
  #closed = false;
  readonly #s = emptyStats();

  constructor(
    readonly name: string,
    readonly mtu: number,
  ) {}

  send(packet: Uint8Array): boolean {
    const v = packet.length > 0 ? (packet[0] as number) >> 4 : 0;
    if (this.#closed || !this.peer || (v !== 4 && v !== 6) || packet.length > this.mtu) {
      this.#s.txDropped++;
      return false;
    }
    this.#s.txFrames++;
    this.#s.txBytes += packet.length;
    this.peer.deliver(Uint8Array.from(packet));
    return true;
  }

  sendBatch(packets: readonly Uint8Array[]): number {
    let n = 0;
    for (const p of packets) if (this.send(p)) n++;
    return n;
  }

  deliver(p: Uint8Array): void {
    if (this.#closed) return;
    this.#s.rxFrames++;
    this.#s.rxBytes += p.length;
    this.#pending.push(p);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        const batch = this.#pending;
        this.#pending = [];
        if (this.#handler) this.#handler(batch);
        else this.#s.rxDropped += batch.length;
      });
    }
  }

  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.#handler = handler;
  }

  stats(): LinkStats {
    return { ...this.#s };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#handler = undefined;
  }
}

/** Two IP-only link ends joined back to back. */
export class IpPipe {
  readonly a: IpPipeEnd;
  readonly b: IpPipeEnd;
  constructor(o: { mtu?: number; names?: [string, string] } = {}) {
    const mtu = o.mtu ?? 1500;
    const a = new End(o.names?.[0] ?? 'ip0', mtu);
    const b = new End(o.names?.[1] ?? 'ip1', mtu);
    a.peer = b;
    b.peer = a;
    this.a = a;
    this.b = b;
  }
}
