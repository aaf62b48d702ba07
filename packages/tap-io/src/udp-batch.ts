/**
 * A UDP socket with batched I/O for protocols in JS (WireGuard): the addon's VXLAN socket
 * (tap.cc, which never looks inside datagrams) without the VXLAN framing. Datagrams are
 * received with recvmmsg(2) into a ring on the event loop and handed to `onDatagram` as
 * views into it; sends are staged and go out with one sendmmsg(2) per turn (or when the
 * stage fills). `openBatchUdp` returns undefined where the addon is not available (not
 * Linux, not built): callers then use node:dgram.
 *
 * Endpoints: the addon keeps a table of destination addresses that only grows, so this
 * class maps address:port to table slots and caps them (`maxEndpoints`, default 4096);
 * past the cap, datagrams to a new destination are dropped and counted (`txNoSlot`),
 * so spoofed sources (e.g. WireGuard cookie replies under a flood) cannot grow it.
 */
import type { RingPump } from '@tapstack/frame-ring';
import { LinkError } from './link.js';
import { type NativeTap, nativeVxlan } from './native.js';
import { SendHealth } from './send-health.js';
import {
  createUdpRing,
  META_BYTES,
  truncated,
  UDP_RING_MAX_RECORD,
  UdpSender,
  udpRingPump,
} from './udp-ring.js';

const MAX_RECORD = UDP_RING_MAX_RECORD;
const TX_ENTRIES = 1024;
/** Staged bytes that send at once (a turn's large datagrams are not all held back). */
const TX_FLUSH_BYTES = 64 * 1024;

export interface BatchUdpOptions {
  /** IP literal to bind ('::' is dual-stack: IPv4 senders appear as ::ffff:a.b.c.d). */
  address: string;
  port?: number;
  /** Socket buffer sizes (the kernel may cap them). Default 4 MiB. */
  socketBufferBytes?: number;
  /** Receive ring bytes, a power of two. Default 4 MiB. */
  ringBytes?: number;
  /** Destination table slots. Default 4096. */
  maxEndpoints?: number;
  /**
   * One received datagram: a view into the ring, valid only during the call (copy what
   * you keep); the sender's address as node:dgram's rinfo.address, and port.
   */
  onDatagram: (data: Uint8Array, address: string, port: number) => void;
  /**
   * After each burst of onDatagram calls, while their views are still valid: a caller that
   * collects the burst (WireGuard decrypts it in one batch) handles it here.
   */
  onBurstEnd?: () => void;
}

export interface BatchUdpStats {
  rxDatagrams: number;
  /** Ring full (datagrams the reader could not store). */
  rxDropped: number;
  /** Longer than a ring record: dropped. */
  rxTruncated: number;
  txDatagrams: number;
  txErrors: number;
  /** sendmmsg calls. */
  txCalls: number;
  /** Datagrams to a new destination while the endpoint table was full. */
  txNoSlot: number;
  /** errno of the last failed send, 0 before one. */
  txLastErrno: number;
  /** 1 after sends in a row failed for lack of a path (see send-health.ts), until one gets out. */
  down: number;
}

export class BatchUdpSocket {
  readonly #native: NativeTap;
  readonly #handle: unknown;
  readonly #onDatagram: BatchUdpOptions['onDatagram'];
  readonly #onBurstEnd: (() => void) | undefined;
  readonly #address: { address: string; port: number; family: 'IPv4' | 'IPv6' };
  readonly #maxEndpoints: number;
  readonly #slots = new Map<string, number>();
  #closed = false;
  // receive ring (udp-ring.ts)
  readonly #pump: RingPump;
  readonly #sender: UdpSender;
  // send stage
  readonly #stage = new Uint8Array(256 << 10);
  readonly #txOff = new Uint32Array(TX_ENTRIES);
  readonly #txLen = new Uint32Array(TX_ENTRIES);
  readonly #txEp = new Int32Array(TX_ENTRIES);
  #txCount = 0;
  #staged = 0;
  #flushQueued = false;
  readonly #sout = new Float64Array(4);
  readonly #s = { rxDatagrams: 0, rxTruncated: 0, txDatagrams: 0, txErrors: 0, txCalls: 0, txNoSlot: 0 };
  #finalDropped = 0;
  readonly #health = new SendHealth();

  private constructor(native: NativeTap, handle: unknown, o: BatchUdpOptions) {
    this.#native = native;
    this.#handle = handle;
    this.#onDatagram = o.onDatagram;
    this.#onBurstEnd = o.onBurstEnd;
    this.#maxEndpoints = o.maxEndpoints ?? 4096;
    const a = native.vxAddress(handle);
    this.#address = { address: a.address, port: a.port, family: a.family };
    const ring = createUdpRing(o.ringBytes ?? 4 << 20, 'openBatchUdp');
    this.#sender = new UdpSender(ring);
    const onBurstEnd = o.onBurstEnd;
    const burstEnd = () => {
      if (!this.#closed) onBurstEnd?.();
    };
    this.#pump = udpRingPump(
      ring,
      onBurstEnd
        ? (max) => ring.drainBatch(max, this.#record, burstEnd)
        : (max) => ring.drainRaw(max, this.#record),
    );
    native.vxStart(handle, new Int32Array(ring.buffer), () => this.#pump.run(), true);
    this.#pump.run();
  }

  /** Binds a batched UDP socket; undefined when the addon cannot (use node:dgram). */
  static open(o: BatchUdpOptions): BatchUdpSocket | undefined {
    const native = nativeVxlan();
    if (!native) return undefined;
    let handle: unknown;
    try {
      handle = native.vxOpen(o.address, o.port ?? 0, o.address.includes(':'), o.socketBufferBytes ?? 4 << 20);
    } catch (e) {
      const err = e as Error & { code?: string; errno?: number; syscall?: string };
      throw new LinkError(err.message, err.code ?? 'EIO', { cause: e });
    }
    try {
      return new BatchUdpSocket(native, handle, o);
    } catch (e) {
      native.vxClose(handle);
      throw e;
    }
  }

  address(): { address: string; port: number; family: 'IPv4' | 'IPv6' } {
    return { ...this.#address };
  }

  /** Stages a datagram (copied) to address:port; it goes out this turn. False if dropped. */
  send(datagram: Uint8Array, address: string, port: number): boolean {
    if (this.#closed || datagram.length > MAX_RECORD) {
      this.#s.txErrors++;
      return false;
    }
    const id = this.#slot(address, port);
    if (id < 0) return false;
    let off = (this.#staged + 7) & ~7;
    if (off + datagram.length > this.#stage.length || this.#txCount >= TX_ENTRIES) {
      this.flush();
      off = 0;
    }
    this.#stage.set(datagram, off);
    this.#staged = off + datagram.length;
    const i = this.#txCount++;
    this.#txOff[i] = off;
    this.#txLen[i] = datagram.length;
    this.#txEp[i] = id;
    if (this.#staged >= TX_FLUSH_BYTES) this.flush();
    else if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.flush());
    }
    return true;
  }

  // The last destination's slot: a tunnel sends to one peer most of the time.
  #lastTxAddress = '';
  #lastTxPort = -1;
  #lastTxSlot = -1;

  #slot(address: string, port: number): number {
    if (address === this.#lastTxAddress && port === this.#lastTxPort) return this.#lastTxSlot;
    const key = `${address}|${port}`;
    const known = this.#slots.get(key);
    if (known !== undefined) {
      this.#lastTxAddress = address;
      this.#lastTxPort = port;
      this.#lastTxSlot = known;
      return known;
    }
    if (this.#slots.size >= this.#maxEndpoints) {
      this.#s.txNoSlot++;
      return -1;
    }
    const id = this.#native.vxEndpoint(this.#handle, address, port);
    if (id < 0) {
      // Not an address of the socket's family: refused like a kernel error, not remembered.
      this.#s.txErrors++;
      return -1;
    }
    this.#slots.set(key, id);
    this.#lastTxAddress = address;
    this.#lastTxPort = port;
    this.#lastTxSlot = id;
    return id;
  }

  /** Sends everything staged now (send() does it by itself at the end of the turn). */
  flush(): void {
    this.#flushQueued = false;
    const count = this.#txCount;
    this.#txCount = 0;
    this.#staged = 0;
    if (count === 0 || this.#closed) return;
    this.#native.vxSend(this.#handle, this.#stage, this.#txOff, this.#txLen, this.#txEp, count, this.#sout);
    this.#s.txCalls++;
    this.#s.txDatagrams += this.#sout[0]!;
    this.#s.txErrors += this.#sout[1]!;
    if (this.#sout[0]! > 0) this.#health.sent(this.#sout[0]!);
    else if (this.#sout[1]! > 0) this.#health.failed(this.#sout[2]!, this.#sout[1]!);
  }

  /**
   * One ring record -> onDatagram (the view is valid until the drain releases the record,
   * after onBurstEnd); returns the view, which onBurstEnd's batch counts.
   */
  readonly #record = (u8: Uint8Array, off: number, len: number): Uint8Array | undefined => {
    if (this.#closed) return undefined;
    if (truncated(u8, off)) {
      this.#s.rxTruncated++;
      return undefined;
    }
    const sender = this.#sender;
    sender.read(u8, off);
    this.#s.rxDatagrams++;
    const data = new Uint8Array(u8.buffer, off + META_BYTES, len - META_BYTES);
    this.#onDatagram(data, sender.address, sender.port);
    return data;
  };

  /** Keep (true, default) or stop the socket from keeping the event loop alive. */
  ref(keep = true): void {
    if (!this.#closed) this.#native.vxRef(this.#handle, keep);
  }

  stats(): BatchUdpStats {
    const dropped = this.#closed ? this.#finalDropped : this.#native.vxStats(this.#handle).dropped;
    return { ...this.#s, rxDropped: dropped, txLastErrno: this.#health.lastErrno, down: this.#health.down };
  }

  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#finalDropped = this.#native.vxStats(this.#handle).dropped;
    this.#closed = true;
    this.#pump.stop();
    this.#native.vxClose(this.#handle);
  }
}

/** True where batched UDP sockets can be opened (Linux, the addon built). */
export function batchUdpAvailable(): boolean {
  return nativeVxlan() !== undefined;
}

/** Opens a batched UDP socket (see BatchUdpSocket); undefined where the addon is not available. */
export function openBatchUdp(o: BatchUdpOptions): BatchUdpSocket | undefined {
  return BatchUdpSocket.open(o);
}
