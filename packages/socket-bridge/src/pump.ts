/**
 * Moves bytes between a stack TCP handle and a Node stream (the bridge's Unix socket,
 * a SOCKS5 client's loopback socket, a port forward's host socket) with backpressure
 * both ways and no copy beyond the two the stack needs: stream reads land in one shared
 * buffer, sized to the handle's free send space, and go into the send ring (copy 1);
 * the receive ring is read into pooled buffers (copy 2) that the stream writes as they
 * are and gets back when the write is done. Nothing is allocated per chunk once the
 * pool is warm. When the send ring is full the stream is paused until the handle is
 * Writable; while the stream's queue is over MAX_QUEUED we stop calling `tcpRecv`, so
 * the stack's receive buffer fills and the TCP window closes.
 */
import { writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { EOF, type Handle, SocketEvent, type SocketError } from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';
import { socketErrorName } from '@tapstack/stack-core';
import { readIntoUserBuffer } from './user-buffer.js';

/**
 * Every pump on the thread reads its stream into this one buffer: a read is copied into
 * the stack's send buffer before the callback returns, so nothing outlives the call.
 */
const READ_BYTES = 65536;
const READ_BUFFER = Buffer.allocUnsafeSlow(READ_BYTES);
/**
 * An empty tcpSend asks for Writable (at once if there is room by then). A 1-byte probe
 * raced the stack on a worker thread: ACKs freed space between tcpSendSpace() and the
 * probe, which then went out as a stray zero byte and armed nothing — the stream stayed
 * paused for good (a 32 MiB bridge echo with --stack-thread stalled at ~3 MB).
 */
const PROBE = new Uint8Array(0);

/** Receive-side buffers: a write holds one until Node is done with it. */
const POOL_BYTES = 262144;
const POOL_KEEP = 32;
const pool: Buffer[] = [];
const takeBuffer = (): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(POOL_BYTES);
/** Bytes queued in the stream (not yet taken by the kernel) before tcpRecv stops. */
const MAX_QUEUED = 524288;

/**
 * Host-stream writes, counted: `direct` went straight to the descriptor (write(2) from
 * here, the kernel took all of it), `queued` through the stream's own write (a rest the
 * kernel did not take, or the stream had bytes queued already). For tests and benches.
 */
export const pumpWriteStats = { direct: 0, queued: 0 };

/**
 * The descriptor of a connected socket's handle (Node's TCP and Pipe wraps show it as
 * `fd` on Unix), or -1 when there is none or it must not be written around the stream:
 * connecting, ending, destroyed, or bytes still queued in it (they must go first).
 */
function writableFd(stream: Socket): number {
  if (stream.writableLength !== 0 || stream.connecting || stream.destroyed || stream.writableEnded) return -1;
  const fd = (stream as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

export type PumpEnd = 'closed' | 'aborted' | 'reset';

export interface PumpOptions {
  /** Called as bytes move: up = stream → TCP, down = TCP → stream. */
  onBytes?: (direction: 'up' | 'down', n: number) => void;
}

export class HandlePump {
  private pending: Buffer | undefined;
  private streamEnded = false;
  private tcpEnded = false;
  private shutdownSent = false;
  private blocked = false;
  /** The stream is paused because the send ring is full (resumed on Writable). */
  private spaceWait = false;
  /** Free send space seen by the last onRead (-1: ask again). */
  private space = -1;
  private done = false;
  private readonly onBytes: ((direction: 'up' | 'down', n: number) => void) | undefined;
  /** Bytes moved stream → TCP and TCP → stream. */
  bytesUp = 0;
  bytesDown = 0;
  /** The stack error that ended the connection, if any ("ECONNRESET"). */
  error: string | undefined;
  /** True when the stream is read into the shared buffer (no allocation per read). */
  readonly userBuffer: boolean;

  constructor(
    private readonly host: SocketHost,
    private readonly handle: Handle,
    private readonly stream: Socket,
    private readonly onEnd: (how: PumpEnd, pump: HandlePump) => void,
    options: PumpOptions = {},
  ) {
    this.onBytes = options.onBytes;
    host.watch(handle, (m) => this.onEvents(m));
    // Bytes the request parser gave back (unshift) come first, as 'data', then reads go
    // straight from the shared buffer into tcpSend.
    stream.pause();
    for (let c = stream.read() as Buffer | null; c !== null; c = stream.read() as Buffer | null)
      this.onData(c);
    this.userBuffer = readIntoUserBuffer(stream, this.nextReadBuffer, (n, b) => this.onRead(n, b));
    if (!this.userBuffer) stream.on('data', (c: Buffer) => this.onData(c));
    stream.on('end', () => {
      this.streamEnded = true;
      this.maybeShutdown();
    });
    stream.on('drain', () => {
      this.blocked = false;
      this.readLoop();
    });
    stream.on('error', () => {
      /* 'close' follows; the client went away */
    });
    stream.on('close', () => this.finish());
    this.readLoop();
  }

  private onEvents(m: number): void {
    if (this.done) return;
    if (m & SocketEvent.Writable) {
      this.flush();
      if (this.spaceWait && !this.pending) {
        this.spaceWait = false;
        this.stream.resume();
      }
    }
    if (m & (SocketEvent.Readable | SocketEvent.PeerClosed)) this.readLoop();
    if (m & SocketEvent.Error) {
      const e = this.host.socketError(this.handle);
      if (e) this.fail(e);
    }
  }

  private fail(e: SocketError): void {
    // Once: an event mask with Readable and Error fails in readLoop (tcpRecv's error) and
    // then again on the Error bit — onEnd ran twice ('reset' counted twice).
    if (this.done) return;
    this.error = socketErrorName(e);
    this.tcpEnded = true;
    this.done = true;
    this.host.unwatch(this.handle);
    this.host.tcpClose(this.handle);
    this.stream.destroy();
    this.onEnd('reset', this);
  }

  /** The buffer the next stream read goes into: the shared one, cut to the free send space. */
  private readonly nextReadBuffer = (): Buffer => {
    if (this.done) return READ_BUFFER;
    // onRead, which Node calls just before this, leaves what it learnt (one call fewer:
    // with the stack on a worker each is a round trip).
    const space = this.space >= 0 ? this.space : this.host.tcpSendSpace(this.handle);
    this.space = -1;
    return space > 0 && space < READ_BYTES ? READ_BUFFER.subarray(0, space) : READ_BUFFER;
  };

  /** A read into the shared buffer; false pauses the stream (the stack is full). */
  private onRead(n: number, b: Buffer): boolean {
    if (!this.take(n === b.length ? b : b.subarray(0, n), true)) return false;
    this.space = this.host.tcpSendSpace(this.handle);
    if (this.space > 0) return true;
    // Full: pause until Writable, which the empty send asks for.
    this.spaceWait = true;
    this.host.tcpSend(this.handle, PROBE);
    return false;
  }

  private onData(chunk: Buffer): void {
    if (!this.take(chunk, false) && this.pending && !this.done) this.stream.pause();
  }

  /**
   * Offers `chunk` to the stack; true when all of it was taken. The rest waits in
   * `pending`, in order behind anything already waiting (a chunk can still arrive right
   * after pause()); a rest of the shared read buffer (`reused`) is copied out first.
   */
  private take(chunk: Buffer, reused: boolean): boolean {
    if (this.done) return false;
    if (this.pending) {
      this.pending = Buffer.concat([this.pending, chunk]);
      return false;
    }
    const taken = this.send(chunk);
    if (taken < 0) return false;
    if (taken < chunk.length) {
      const rest = chunk.subarray(taken);
      this.pending = reused ? Buffer.from(rest) : rest;
      return false;
    }
    return true;
  }

  /** tcpSend as much of `b` as fits; returns bytes taken, or -1 after a failure. */
  private send(b: Buffer): number {
    let off = 0;
    while (off < b.length) {
      const r = this.host.tcpSend(this.handle, off === 0 ? b : b.subarray(off));
      if (r < 0) {
        this.fail(-r as SocketError);
        return -1;
      }
      if (r === 0) break;
      off += r;
    }
    this.bytesUp += off;
    if (off > 0) this.onBytes?.('up', off);
    return off;
  }

  private flush(): void {
    const p = this.pending;
    if (!p) return;
    const taken = this.send(p);
    if (taken < 0) return;
    if (taken < p.length) {
      this.pending = p.subarray(taken);
      return;
    }
    this.pending = undefined;
    this.stream.resume();
    this.maybeShutdown();
  }

  private maybeShutdown(): void {
    if (this.done || !this.streamEnded || this.pending || this.shutdownSent) return;
    this.shutdownSent = true;
    this.host.tcpShutdown(this.handle);
  }

  private readLoop(): void {
    while (!this.blocked && !this.tcpEnded && !this.done) {
      const b = takeBuffer();
      const n = this.host.tcpRecv(this.handle, b);
      if (n <= 0) {
        pool.push(b);
        if (n === 0) return;
        if (n === EOF) {
          this.tcpEnded = true;
          this.stream.end();
          return;
        }
        this.fail(-n as SocketError);
        return;
      }
      this.bytesDown += n;
      this.onBytes?.('down', n);
      const chunk = n === b.length ? b : b.subarray(0, n);
      const w = this.writeDirect(chunk);
      if (w < 0) {
        pool.push(b);
        return;
      }
      if (w === n) {
        pumpWriteStats.direct++;
        if (pool.length < POOL_KEEP) pool.push(b);
        continue;
      }
      pumpWriteStats.queued++;
      // The buffer goes back to the pool once Node no longer needs it (a write the kernel
      // took at once is done at the next tick).
      const ok = this.stream.write(w === 0 ? chunk : chunk.subarray(w), () => {
        if (pool.length < POOL_KEEP) pool.push(b);
      });
      // write() says false once more than its highWaterMark is queued, even when the
      // kernel took the bytes at once; keep reading until the queue really grows.
      if (!ok && this.stream.writableLength >= MAX_QUEUED) this.blocked = true;
    }
  }

  /**
   * Writes `chunk` to the stream's descriptor when nothing is queued in the stream: the
   * bytes the kernel takes skip Node's Writable machinery (a write request, its
   * completion, an after-write tick: a tenth of the forwarder's user CPU per 1-byte round
   * trip). Returns the bytes written (0: none, the stream writes them, or when it cannot
   * be written around), or -1 when the write failed and the stream was destroyed (its
   * 'close' ends the pump as a failed stream write would).
   */
  private writeDirect(chunk: Buffer): number {
    const fd = writableFd(this.stream);
    if (fd < 0) return 0;
    try {
      return writeSync(fd, chunk, 0, chunk.length);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return 0;
      this.stream.destroy(e as Error);
      return -1;
    }
  }

  /** The stream closed: a clean close if both directions ended, else the client died (RST). */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.host.unwatch(this.handle);
    const clean = this.streamEnded && this.tcpEnded && !this.pending;
    if (clean) this.host.tcpClose(this.handle);
    else this.host.tcpAbort(this.handle);
    this.onEnd(clean ? 'closed' : 'aborted', this);
  }

  /** Ends both sides now (daemon shutdown): RST to the peer, close the stream. */
  abort(): void {
    if (this.done) return;
    this.stream.destroy();
  }
}
