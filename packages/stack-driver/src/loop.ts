/**
 * The driver loop: it owns the clock, the one timer and the order of work. Received
 * frames (handed in by a link callback, or drained in place by frame-ring's RingPump from
 * a ring a native reader thread fills) go to the stack in bounded batches, then the loop yields with
 * setImmediate, so a flood never starves the event loop; pure TCP SYNs wait in a bounded
 * SYN backlog while the other frames of a turn go first (syn-backlog.ts), so a SYN flood
 * never queues the ACKs and data of live connections behind it; the stack is polled every 32
 * frames and at the end of each batch (what it emits goes straight to the link), socket
 * events are dispatched, and one timer is armed for `stack.pollAt()`. With no traffic
 * and nothing pending, nothing runs. It also implements `SocketHost`: every call goes to
 * the stack and then `kick()`s a coalesced (microtask) poll.
 */
import {
  ETHERNET_HEADER_LEN,
  type Handle,
  type Instant,
  type IpAddress,
  type SocketError,
  SocketEvent,
  type SocketEventMask,
  type StackApi,
  type TcpInfo,
  type TcpSocketOptions,
  type UdpOpenOptions,
} from '@tapstack/stack-core';
import { type FrameRing, type Link, RingPump } from '@tapstack/frame-ring';
import { tcpGsoSizeAt } from '@tapstack/tap-io';
import type { SocketHost } from './socket-host.js';
import { NOT_SYN, pureSynKind, SYN_SLOT_BYTES, SYN_WITH_OPTIONS, SynBacklog } from './syn-backlog.js';

export interface LoopOptions {
  /** Frames handled per turn before yielding to the event loop [256]. */
  rxBatch?: number;
  /** Received frames between polls inside one batch [32]. */
  pollEvery?: number;
  /** The clock, ms, monotonic [performance.now]. */
  now?: () => number;
  /**
   * Receive coalescing (stack-core InterfaceConfig.gro) on links without checksum offload
   * (an offload TAP gets super-frames from the kernel already) or that ask for it
   * (Link.gro: WireGuard) [true]. Every turn ends in
   * a poll, so segments are held only within the frames one turn drains.
   */
  gro?: boolean;
  /** Name resolution for `lookup()` (the driver plugs its DNS resolver in). */
  lookup?: (hostname: string, family: 0 | 4 | 6) => Promise<IpAddress[]>;
  /**
   * Pure TCP SYNs held back for the stack at most [2048]: they wait while other frames
   * go first (syn-backlog.ts); beyond this many the oldest is shed (`synShed`).
   */
  synBacklog?: number;
}

/** Counters of the loop itself. */
export interface LoopStats {
  rxFrames: number;
  txFrames: number;
  txDropped: number;
  turns: number;
  polls: number;
  timerFires: number;
  yields: number;
  kicks: number;
  eventsDispatched: number;
  listenerErrors: number;
  /**
   * Pure TCP SYNs dropped unprocessed because the SYN backlog was full: a SYN flood
   * faster than the stack answers them (syn-backlog.ts). Nothing else is ever shed.
   */
  synShed: number;
}

/** SYNs the loop holds for the stack at most (`LoopOptions.synBacklog`). */
const SYN_BACKLOG = 2048;

export { isPureTcpSyn } from './syn-backlog.js';

/** See arm(): how far ahead a timer may be left armed when nothing is due. */
const STALE_TIMER_MS = 1000;

interface LinkSlot {
  link: Link;
  iface: number;
  /**
   * Ring mode: the link's reader thread writes frames into a ring, which this pump drains
   * (views in place, `onFrame`) one budgeted batch per turn (RingPump.drainUnder) and puts
   * to sleep.
   */
  pump: RingPump | undefined;
  /** Where the IP header starts in a frame: 14 (Ethernet) or 0 (an IP-only link). */
  l3: number;
  rx: Uint8Array[][];
  rxHead: number;
  rxCount: number;
  /** drainRaw's callback for this slot's ring, made once (see DriverLoop.turnNow). */
  onFrame: (b: Uint8Array, at: number, len: number) => void;
}

export class DriverLoop implements SocketHost {
  readonly stack: StackApi;
  private readonly slots: LinkSlot[] = [];
  private readonly rxBatch: number;
  readonly now: () => number;
  private readonly lookupFn: LoopOptions['lookup'];
  private readonly listeners = new Map<Handle, (events: SocketEventMask) => void>();
  private pending = new Map<Handle, SocketEventMask>();
  /** The other half of the pending double buffer (dispatch swaps them: no Map per turn). */
  private spare = new Map<Handle, SocketEventMask>();
  /** Events for handles nobody watches yet (bounded). */
  private readonly orphans = new Map<Handle, SocketEventMask>();
  private microtaskQueued = false;
  /** A socket call since the last poll wants one (a turn in progress does it inline). */
  private kickWanted = false;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private running = false;
  private sincePoll = 0;
  private readonly pollEvery: number;
  private readonly gro: boolean;
  private closed = false;
  /** Pure SYNs with TCP options (answered first), and without (syn-backlog.ts). */
  private readonly syns: SynBacklog;
  private readonly bareSyns: SynBacklog;
  /** Frames other than deferred SYNs handed to the stack (a turn's budget counts these). */
  private rxDirect = 0;
  private readonly counters: LoopStats = {
    rxFrames: 0,
    txFrames: 0,
    txDropped: 0,
    turns: 0,
    polls: 0,
    timerFires: 0,
    yields: 0,
    kicks: 0,
    eventsDispatched: 0,
    listenerErrors: 0,
    synShed: 0,
  };

  constructor(stack: StackApi, options: LoopOptions = {}) {
    this.stack = stack;
    this.rxBatch = options.rxBatch ?? 256;
    this.pollEvery = options.pollEvery ?? 32;
    this.gro = options.gro ?? true;
    this.now = options.now ?? (() => performance.now());
    this.lookupFn = options.lookup;
    this.syns = new SynBacklog(Math.max(1, options.synBacklog ?? SYN_BACKLOG));
    this.bareSyns = new SynBacklog(Math.max(1, options.synBacklog ?? SYN_BACKLOG));
    stack.setEventHandler((h, ev) => {
      this.pending.set(h, (this.pending.get(h) ?? 0) | ev);
    });
  }

  /**
   * Adds a link as a stack interface and starts receiving from it. Returns the
   * interface index. `mac`: the stack's MAC on it [the link's].
   */
  addLink(link: Link, options: { rxRing?: FrameRing; mac?: Uint8Array } = {}): number {
    const ring = options.rxRing;
    const slot: LinkSlot = {
      link,
      iface: -1,
      pump: undefined,
      l3: link.medium === 'ip' ? 0 : ETHERNET_HEADER_LEN,
      rx: [],
      rxHead: 0,
      rxCount: 0,
      onFrame: () => {},
    };
    // Raw: a pure SYN is classified and copied out of the ring's buffer without a view;
    // other frames get one (valid during the callback: the stack copies what it keeps),
    // with the part size of a TAP super-frame from the record's metadata word.
    slot.onFrame = (b, at, len) => {
      const kind = len <= SYN_SLOT_BYTES ? pureSynKind(b, at, len, slot.l3) : NOT_SYN;
      if (kind !== NOT_SYN) {
        if ((kind === SYN_WITH_OPTIONS ? this.syns : this.bareSyns).pushAt(slot.iface, b, at, len))
          this.counters.synShed++;
        return;
      }
      this.rxOther(slot.iface, b.subarray(at, at + len), this.turnNow, tcpGsoSizeAt(b, at));
    };
    slot.iface = this.stack.addInterface({
      name: link.name,
      mac: options.mac ?? link.mac,
      mtu: link.mtu,
      checksumOffload: link.checksumOffload === true,
      gro: this.gro && (link.gro ?? link.checksumOffload !== true),
      ...(link.gsoMaxSize ? { gsoMaxSize: link.gsoMaxSize } : {}),
      ...(link.medium === 'ip' ? { medium: 'ip' as const } : {}),
      // Link.send copies or writes the frame before returning (the tap-io contract), so
      // the stack's reused buffer can go straight out: no copy here, and TAP batches the
      // writes of one turn into one native call by itself.
      transmit: (frame, gsoSize) => {
        this.counters.txFrames++;
        if (!link.send(frame, gsoSize)) this.counters.txDropped++;
      },
    });
    this.slots.push(slot);
    if (ring) {
      if (!link.attachRxRing) throw new TypeError(`link ${link.name} cannot write into a ring`);
      // One pump batch is a turn's budget (rxBatch).
      slot.pump = new RingPump(ring, (max) => ring.drainRaw(max, slot.onFrame), { batch: this.rxBatch });
      // The native reader fills the ring; onReadable runs here (at the top of an event-loop
      // callback, never inside a turn) when it finds us asleep: turn at once rather than
      // a setImmediate later (one phase and an Immediate fewer per request/response).
      link.attachRxRing(ring, this.onRingReadable);
      this.scheduleRx();
      return slot.iface;
    }
    link.onFrames((frames) => {
      if (this.closed || frames.length === 0) return;
      if (this.running || this.backlog() > 0) {
        // The views are only valid during this call: keep copies, in order.
        this.enqueueCopies(slot, frames, 0);
        this.scheduleRx();
        return;
      }
      this.turn(slot, frames);
    });
    return slot.iface;
  }

  get links(): readonly Link[] {
    return this.slots.map((s) => s.link);
  }

  stats(): LoopStats {
    return { ...this.counters };
  }

  /**
   * Announces sleep on every ring (frame-ring LAYOUT.md "Sleeping and waking"): set
   * CONSUMER_SLEEPING, then re-check; false when a ring still has frames.
   */
  private ringsAsleep(): boolean {
    for (const s of this.slots) {
      if (s.pump && !s.pump.announceSleep()) return false;
    }
    return true;
  }

  /** Frames received but not yet handed to the stack. */
  backlog(): number {
    let n = this.syns.size + this.bareSyns.size;
    for (const s of this.slots) n += s.rxCount;
    return n;
  }

  // --- scheduling -----------------------------------------------------------------

  private scheduleRx(): void {
    if (this.immediate || this.closed) return;
    this.immediate = setImmediate(this.onImmediate);
  }

  private readonly onRingReadable = (): void => {
    if (this.running || this.immediate) this.scheduleRx();
    else this.turn();
  };

  private readonly onImmediate = (): void => {
    this.immediate = undefined;
    this.counters.yields++;
    this.turn();
  };

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.counters.timerFires++;
    this.turn();
  };

  private readonly onMicrotask = (): void => {
    this.microtaskQueued = false;
    if (this.kickWanted) this.turn();
  };

  kick(): void {
    if (this.closed) return;
    this.kickWanted = true;
    // Inside a turn (a listener answering its events): the turn polls again before it ends.
    if (this.running || this.microtaskQueued) return;
    this.queueKick();
  }

  private queueKick(): void {
    this.microtaskQueued = true;
    this.counters.kicks++;
    queueMicrotask(this.onMicrotask);
  }

  /**
   * A poll in the middle of a long batch, so that ACKs (and window updates) leave while
   * the rest of the batch is processed rather than once per batch: a sender clocked by
   * our ACKs would otherwise see bursts of stretch ACKs (RFC 5681 §4.2 wants one per
   * two segments; a receiver coalescing like GRO sends one per ~64 KiB).
   */
  private midPoll(now: Instant): void {
    this.sincePoll = 0;
    this.counters.polls++;
    this.stack.poll(now);
  }

  /**
   * One received frame: a pure TCP SYN goes to the SYN backlog (handed to the stack
   * after this turn's other frames), anything else to the stack now.
   */
  private rxFrame(iface: number, l3: number, f: Uint8Array, now: Instant): void {
    const kind = f.length <= SYN_SLOT_BYTES ? pureSynKind(f, 0, f.length, l3) : NOT_SYN;
    if (kind !== NOT_SYN) {
      if ((kind === SYN_WITH_OPTIONS ? this.syns : this.bareSyns).push(iface, f)) this.counters.synShed++;
      return;
    }
    this.rxOther(iface, f, now);
  }

  /** A received frame that is not a pure SYN: to the stack now (gsoSize: a super-frame's part size). */
  private rxOther(iface: number, f: Uint8Array, now: Instant, gsoSize = 0): void {
    this.rxDirect++;
    this.stack.receive(iface, f, now, gsoSize);
    if (++this.sincePoll >= this.pollEvery) this.midPoll(now);
  }

  private enqueueCopies(slot: LinkSlot, frames: readonly Uint8Array[], from: number): void {
    const copies: Uint8Array[] = [];
    for (let i = from; i < frames.length; i++) copies.push(frames[i]!.slice());
    if (copies.length === 0) return;
    slot.rx.push(copies);
    slot.rxCount += copies.length;
  }

  /**
   * One turn: a bounded rx batch (first the frames handed in by a link callback, used
   * in place; then queued copies), a poll, event dispatch, re-arm.
   */
  private turn(direct?: LinkSlot, frames?: readonly Uint8Array[]): void {
    if (this.closed) return;
    if (this.running) {
      if (direct && frames) this.enqueueCopies(direct, frames, 0);
      return;
    }
    this.running = true;
    try {
      this.counters.turns++;
      const now = this.now();
      // `budget` counts frames other than pure SYNs: those are copied aside (SYN
      // backlog) and get what is left of the budget at the end of the turn, at least a
      // quarter of it, so a SYN flood never delays the rest by more than that share.
      // No closures made per turn: run from source (tsx keeps names), each one costs an
      // Object.defineProperty — 5 % of the daemon's CPU per forward round trip.
      this.turnNow = now;
      const direct0 = this.rxDirect;
      const budget = this.rxBatch;
      this.rxBudgetEnd = direct0 + budget;
      if (direct && frames) {
        const iface = direct.iface;
        const l3 = direct.l3;
        let i = 0;
        for (; i < frames.length && this.rxDirect - direct0 < budget; i++)
          this.rxFrame(iface, l3, frames[i]!, now);
        this.counters.rxFrames += i;
        if (i < frames.length) this.enqueueCopies(direct, frames, i);
      }
      for (const slot of this.slots) {
        if (slot.pump) {
          // SYNs do not use the budget (the room), so the pump drains on until it is used
          // or the ring is empty; a ring of nothing but SYNs gives a backlog's worth per turn.
          const maxDrain = this.syns.capacity + this.bareSyns.capacity + budget;
          this.counters.rxFrames += slot.pump.drainUnder(maxDrain, this.rxRoom);
        }
        while (this.rxDirect - direct0 < budget && slot.rxCount > 0) {
          const batch = slot.rx[0]!;
          const frame = batch[slot.rxHead++]!;
          if (slot.rxHead === batch.length) {
            slot.rx.shift();
            slot.rxHead = 0;
          }
          slot.rxCount--;
          this.counters.rxFrames++;
          this.rxFrame(slot.iface, slot.l3, frame, now);
        }
      }
      if (this.syns.size + this.bareSyns.size > 0) {
        this.synNow = now;
        const room = Math.max(budget - (this.rxDirect - direct0), Math.ceil(budget / 4));
        const n = this.syns.take(room, this.onSyn);
        if (n < room) this.bareSyns.take(room - n, this.onSyn);
      }
      this.counters.polls++;
      this.sincePoll = 0;
      this.kickWanted = false;
      this.stack.poll(now);
      this.dispatch();
      // Listeners that sent, read or closed (a forward echoing what it got) want a poll:
      // here, in this turn, rather than one more turn from a microtask. Bounded; the rest
      // goes to a microtask as before.
      for (let i = 0; i < 4 && (this.kickWanted || this.pending.size > 0); i++) {
        this.kickWanted = false;
        this.counters.polls++;
        this.stack.poll(now);
        this.dispatch();
      }
      if (this.backlog() > 0 || !this.ringsAsleep()) this.scheduleRx();
      this.arm(now);
    } finally {
      this.running = false;
    }
  }

  private synNow = 0;
  /** The `now` of the turn in progress (the rings' onFrame callbacks use it). */
  private turnNow = 0;
  /** Where the turn in progress's budget ends, in rxDirect; the ring pumps' room (made once). */
  private rxBudgetEnd = 0;
  private readonly rxRoom = (): number => this.rxBudgetEnd - this.rxDirect;
  private readonly onSyn = (iface: number, f: Uint8Array): void => {
    this.stack.receive(iface, f, this.synNow);
    if (++this.sincePoll >= this.pollEvery) this.midPoll(this.synNow);
  };

  private dispatch(): void {
    if (this.pending.size === 0) return;
    const events = this.pending;
    this.pending = this.spare;
    this.spare = events;
    for (const [h, ev] of events) {
      const l = this.listeners.get(h);
      if (!l) {
        this.keepOrphan(h, ev);
        continue;
      }
      this.counters.eventsDispatched++;
      try {
        l(ev);
      } catch (e) {
        // A listener bug must not stop the stack; surface it without killing the loop.
        this.counters.listenerErrors++;
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    events.clear();
  }

  /** Arms the single timer for pollAt(). Never less than 1 ms ahead: no spinning. */
  private arm(now: Instant): void {
    if (this.closed) return;
    const at = this.stack.pollAt();
    if ((this.kickWanted || this.pending.size > 0) && !this.microtaskQueued) {
      this.kickWanted = true;
      this.queueKick();
    }
    if (!Number.isFinite(at)) {
      // Nothing due. A timer due within STALE_TIMER_MS stays armed and fires for nothing:
      // cheaper than clearing it and setting a new one each request/response (the
      // retransmission timer comes and goes with every exchange). A later one is cleared,
      // so that an idle loop does not keep the process alive.
      if (this.timer && this.timerAt - now > STALE_TIMER_MS) {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
      }
      return;
    }
    if (this.timer && at >= this.timerAt) {
      // The armed timer fires first; that turn re-arms for the later deadline.
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(1, Math.ceil(at - now));
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, delay);
  }

  /** Runs one turn now (tests and callers that just queued work and want it out). */
  runNow(): void {
    this.turn();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.listeners.clear();
    this.pending.clear();
    this.orphans.clear();
    this.syns.clear();
    this.bareSyns.clear();
  }

  // --- SocketHost -----------------------------------------------------------------

  watch(handle: Handle, listener: (events: SocketEventMask) => void): void {
    this.listeners.set(handle, listener);
    // Events that came before watch() (an accepted socket's first data, typically) are
    // delivered on the next turn rather than lost.
    const early = this.orphans.get(handle);
    if (early !== undefined) {
      this.orphans.delete(handle);
      this.pending.set(handle, (this.pending.get(handle) ?? 0) | early);
      this.kick();
    }
  }

  unwatch(handle: Handle): void {
    this.listeners.delete(handle);
    this.pending.delete(handle);
    this.orphans.delete(handle);
  }

  private keepOrphan(h: Handle, ev: SocketEventMask): void {
    // A closed handle may be reused by a new socket: do not hand it the old one's events.
    if (ev & SocketEvent.Closed) {
      this.orphans.delete(h);
      return;
    }
    if (this.orphans.size >= 4096 && !this.orphans.has(h))
      this.orphans.delete(this.orphans.keys().next().value!);
    this.orphans.set(h, (this.orphans.get(h) ?? 0) | ev);
  }

  lookup(hostname: string, family: 0 | 4 | 6 = 0): Promise<IpAddress[]> {
    if (!this.lookupFn) return Promise.reject(new Error('no resolver configured'));
    return this.lookupFn(hostname, family);
  }

  tcpOpen(options?: TcpSocketOptions): Handle {
    return this.stack.tcpOpen(options);
  }
  tcpBind(h: Handle, address: IpAddress | undefined, port: number): 0 | SocketError {
    return this.stack.tcpBind(h, address, port);
  }
  tcpConnect(h: Handle, address: IpAddress, port: number, now: Instant): 0 | SocketError {
    const r = this.stack.tcpConnect(h, address, port, now);
    this.kick();
    return r;
  }
  tcpListen(h: Handle, backlog: number): 0 | SocketError {
    return this.stack.tcpListen(h, backlog);
  }
  tcpAccept(h: Handle): Handle | undefined {
    const r = this.stack.tcpAccept(h);
    this.kick();
    return r;
  }
  tcpSend(h: Handle, data: Uint8Array): number | SocketError {
    const r = this.stack.tcpSend(h, data);
    this.kick();
    return r;
  }
  tcpSendSpace(h: Handle): number {
    return this.stack.tcpSendSpace(h);
  }
  tcpRecv(h: Handle, into: Uint8Array): number {
    const r = this.stack.tcpRecv(h, into);
    // Reading may open the window: the update goes out on the next poll.
    if (r > 0) this.kick();
    return r;
  }
  tcpShutdown(h: Handle): 0 | SocketError {
    const r = this.stack.tcpShutdown(h);
    this.kick();
    return r;
  }
  tcpClose(h: Handle): void {
    this.stack.tcpClose(h);
    this.kick();
  }
  tcpAbort(h: Handle): void {
    this.stack.tcpAbort(h);
    this.kick();
  }
  tcpSetNoDelay(h: Handle, on: boolean): void {
    this.stack.tcpSetNoDelay(h, on);
    this.kick();
  }
  tcpSetKeepAlive(h: Handle, idleMs: number): void {
    this.stack.tcpSetKeepAlive(h, idleMs);
    this.kick();
  }
  tcpInfo(h: Handle): TcpInfo | undefined {
    return this.stack.tcpInfo(h);
  }
  udpOpen(options?: UdpOpenOptions): Handle {
    return this.stack.udpOpen(options);
  }
  udpBind(h: Handle, address: IpAddress | undefined, port: number): 0 | SocketError {
    return this.stack.udpBind(h, address, port);
  }
  udpSend(h: Handle, data: Uint8Array, address: IpAddress, port: number): number {
    const r = this.stack.udpSend(h, data, address, port);
    this.kick();
    return r;
  }
  udpRecv(h: Handle): { data: Uint8Array; address: IpAddress; port: number } | undefined {
    return this.stack.udpRecv(h);
  }
  udpLocal(h: Handle): { address: IpAddress | undefined; port: number } | undefined {
    return this.stack.udpLocal(h);
  }
  udpClose(h: Handle): void {
    this.stack.udpClose(h);
    this.kick();
  }
  socketError(h: Handle): 0 | SocketError {
    return this.stack.socketError(h);
  }
}
