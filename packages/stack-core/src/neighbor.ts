/**
 * The neighbour cache shared by ARP (RFC 826) and NDP (RFC 4861 §7.3): one instance per
 * interface and address family. States follow RFC 4861 (INCOMPLETE, REACHABLE, STALE,
 * DELAY, PROBE); ARP uses the same machine, as Linux does, so stale ARP entries are
 * refreshed by unicast probes instead of expiring blindly. Packets waiting for
 * resolution sit in a bounded queue per entry and in total.
 */
import type { Instant } from './registration.js';

export const NeighborState = { Incomplete: 0, Reachable: 1, Stale: 2, Delay: 3, Probe: 4 } as const;
export type NeighborState = (typeof NeighborState)[keyof typeof NeighborState];
export const neighborStateNames = ['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE'] as const;

export interface NeighborConfig {
  /** REACHABLE lasts this long after a confirmation (ms) [30000]. */
  reachableTime: number;
  /** Time between solicitations (ms) [1000]. */
  retransTime: number;
  /** Broadcast/multicast solicitations before giving up on an INCOMPLETE entry [3]. */
  maxMulticastProbes: number;
  /** Unicast probes in PROBE before the entry is deleted [3]. */
  maxUnicastProbes: number;
  /** DELAY_FIRST_PROBE_TIME (ms) [5000]. */
  delayFirstProbe: number;
  /** STALE entries unused this long are removed (ms) [600000]. */
  staleTimeout: number;
  /** Packets queued per unresolved entry [32] and bytes in all of this cache's queues [262144]. */
  maxQueuePerEntry: number;
  maxQueueBytes: number;
  /** Entries kept (oldest non-INCOMPLETE evicted first) [512]. */
  maxEntries: number;
}

export const defaultNeighborConfig: NeighborConfig = {
  reachableTime: 30_000,
  retransTime: 1000,
  maxMulticastProbes: 3,
  maxUnicastProbes: 3,
  delayFirstProbe: 5000,
  staleTimeout: 600_000,
  maxQueuePerEntry: 32,
  maxQueueBytes: 262_144,
  maxEntries: 512,
};

export interface NeighborEntry<A> {
  address: A;
  state: NeighborState;
  mac: Uint8Array | undefined;
  /** When the current state's timer fires (INCOMPLETE/PROBE: next probe, REACHABLE: →STALE, DELAY: →PROBE, STALE: removal). */
  timer: Instant;
  probes: number;
  queue: Uint8Array[];
  queueBytes: number;
}

/** What the cache asks its owner to do from `poll`. */
export interface NeighborCallbacks<A> {
  /** Send a solicitation: broadcast/multicast when `unicastMac` is undefined. */
  solicit(address: A, unicastMac: Uint8Array | undefined): void;
  /** Resolution failed; the queued packets (IP packets, no link header) are discarded. */
  failed(address: A, dropped: Uint8Array[]): void;
}

export type EnqueueResult = 'queued' | 'queuedNew' | 'full';

export class NeighborCache<A> {
  readonly entries = new Map<string | number, NeighborEntry<A>>();
  private queueBytes = 0;
  private nextTimer = Number.POSITIVE_INFINITY;

  constructor(readonly config: NeighborConfig = defaultNeighborConfig) {}

  get(key: string | number): NeighborEntry<A> | undefined {
    return this.entries.get(key);
  }

  /**
   * The MAC to send to, or undefined when unresolved (then call `enqueue`).
   * Using a STALE entry starts DELAY (RFC 4861 §7.3.3).
   */
  lookup(key: string | number, now: Instant): Uint8Array | undefined {
    const e = this.entries.get(key);
    if (e === undefined || e.state === NeighborState.Incomplete) return undefined;
    if (e.state === NeighborState.Stale) {
      e.state = NeighborState.Delay;
      this.arm(e, now + this.config.delayFirstProbe);
    }
    return e.mac;
  }

  /** Queues a copy of an IP packet for an unresolved neighbour; 'queuedNew' means: solicit now. */
  enqueue(key: string | number, address: A, packet: Uint8Array, now: Instant): EnqueueResult {
    let e = this.entries.get(key);
    let fresh = false;
    if (e === undefined) {
      this.makeRoom();
      e = {
        address,
        state: NeighborState.Incomplete,
        mac: undefined,
        timer: now + this.config.retransTime,
        probes: 1,
        queue: [],
        queueBytes: 0,
      };
      this.entries.set(key, e);
      this.arm(e, e.timer);
      fresh = true;
    }
    if (
      e.queue.length >= this.config.maxQueuePerEntry ||
      this.queueBytes + packet.length > this.config.maxQueueBytes
    ) {
      return fresh ? 'queuedNew' : 'full';
    }
    e.queue.push(packet.slice());
    e.queueBytes += packet.length;
    this.queueBytes += packet.length;
    return fresh ? 'queuedNew' : 'queued';
  }

  /**
   * A solicited/unsolicited advertisement or ARP reply (RFC 4861 §7.2.5). Returns the
   * packets that were waiting (the caller sends them), or undefined.
   */
  confirm(
    key: string | number,
    mac: Uint8Array | undefined,
    solicited: boolean,
    override: boolean,
    now: Instant,
  ): Uint8Array[] | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.state === NeighborState.Incomplete) {
      if (mac === undefined) return undefined;
      e.mac = mac.slice();
      this.setReachableOrStale(e, solicited, now);
      return this.takeQueue(e);
    }
    const differs = mac !== undefined && !sameMac(mac, e.mac);
    if (!override && differs) {
      if (e.state === NeighborState.Reachable) {
        e.state = NeighborState.Stale;
        this.arm(e, now + this.config.staleTimeout);
      }
      return undefined;
    }
    if (mac !== undefined) e.mac = mac.slice();
    if (solicited) this.setReachableOrStale(e, true, now);
    else if (differs) {
      e.state = NeighborState.Stale;
      this.arm(e, now + this.config.staleTimeout);
    }
    return undefined;
  }

  /**
   * Upper-layer advice that the neighbour is reachable (RFC 4861 §7.3.1; Linux's
   * neigh confirm from TCP): new data was acknowledged through it. A resolved entry
   * becomes REACHABLE again, so a path in use is never probed and never dropped
   * because probes wait behind a long queue. INCOMPLETE entries are left alone.
   */
  confirmReachable(key: string | number, now: Instant): void {
    const e = this.entries.get(key);
    if (e === undefined || e.state === NeighborState.Incomplete) return;
    this.setReachableOrStale(e, true, now);
  }

  /**
   * A link-layer address learned from a request/solicitation/RA (RFC 4861 §7.2.3,
   * RFC 826 merge). Creates a STALE entry when `create`; returns waiting packets.
   */
  learn(
    key: string | number,
    address: A,
    mac: Uint8Array,
    create: boolean,
    now: Instant,
  ): Uint8Array[] | undefined {
    let e = this.entries.get(key);
    if (e === undefined) {
      if (!create) return undefined;
      this.makeRoom();
      e = {
        address,
        state: NeighborState.Stale,
        mac: mac.slice(),
        timer: 0,
        probes: 0,
        queue: [],
        queueBytes: 0,
      };
      this.entries.set(key, e);
      this.arm(e, now + this.config.staleTimeout);
      return undefined;
    }
    if (e.state === NeighborState.Incomplete) {
      e.mac = mac.slice();
      e.state = NeighborState.Stale;
      this.arm(e, now + this.config.staleTimeout);
      return this.takeQueue(e);
    }
    if (!sameMac(mac, e.mac)) {
      e.mac = mac.slice();
      e.state = NeighborState.Stale;
      this.arm(e, now + this.config.staleTimeout);
    }
    return undefined;
  }

  /** Drops an entry (and its queue). */
  remove(key: string | number): void {
    const e = this.entries.get(key);
    if (e) {
      this.queueBytes -= e.queueBytes;
      this.entries.delete(key);
    }
  }

  pollAt(): Instant {
    return this.nextTimer;
  }

  poll(now: Instant, cb: NeighborCallbacks<A>): void {
    if (now < this.nextTimer) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [key, e] of this.entries) {
      if (e.timer <= now) {
        switch (e.state) {
          case NeighborState.Incomplete:
            if (e.probes >= this.config.maxMulticastProbes) {
              this.entries.delete(key);
              this.queueBytes -= e.queueBytes;
              cb.failed(e.address, e.queue);
              continue;
            }
            e.probes++;
            e.timer = now + this.config.retransTime;
            cb.solicit(e.address, undefined);
            break;
          case NeighborState.Reachable:
            e.state = NeighborState.Stale;
            e.timer = now + this.config.staleTimeout;
            break;
          case NeighborState.Stale:
            this.entries.delete(key);
            continue;
          case NeighborState.Delay:
            e.state = NeighborState.Probe;
            e.probes = 1;
            e.timer = now + this.config.retransTime;
            cb.solicit(e.address, e.mac);
            break;
          case NeighborState.Probe:
            if (e.probes >= this.config.maxUnicastProbes) {
              this.entries.delete(key);
              cb.failed(e.address, e.queue);
              continue;
            }
            e.probes++;
            e.timer = now + this.config.retransTime;
            cb.solicit(e.address, e.mac);
            break;
        }
      }
      if (e.timer < next) next = e.timer;
    }
    this.nextTimer = next;
  }

  private setReachableOrStale(e: NeighborEntry<A>, reachable: boolean, now: Instant): void {
    e.probes = 0;
    if (reachable) {
      e.state = NeighborState.Reachable;
      this.arm(e, now + this.config.reachableTime);
    } else {
      e.state = NeighborState.Stale;
      this.arm(e, now + this.config.staleTimeout);
    }
  }

  private takeQueue(e: NeighborEntry<A>): Uint8Array[] | undefined {
    if (e.queue.length === 0) return undefined;
    const q = e.queue;
    this.queueBytes -= e.queueBytes;
    e.queue = [];
    e.queueBytes = 0;
    return q;
  }

  private arm(e: NeighborEntry<A>, at: Instant): void {
    e.timer = at;
    if (at < this.nextTimer) this.nextTimer = at;
  }

  private makeRoom(): void {
    if (this.entries.size < this.config.maxEntries) return;
    for (const [key, e] of this.entries) {
      if (e.state !== NeighborState.Incomplete) {
        this.entries.delete(key);
        return;
      }
    }
    const first = this.entries.keys().next();
    if (!first.done) this.remove(first.value);
  }
}

function sameMac(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (b === undefined) return false;
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}
