/**
 * Moves bytes between a stack TCP handle and a Node stream (the bridge's Unix socket,
 * a SOCKS5 client's loopback socket) with backpressure both ways: when `tcpSend`
 * takes less than offered the stream is paused until the handle is Writable; while
 * the stream's `write()` returns false we stop calling `tcpRecv`, so the stack's
 * receive buffer fills and the TCP window closes.
 */
import type { Socket } from 'node:net';
import { EOF, type Handle, SocketEvent, type SocketError } from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';
import { socketErrorName } from '@tapstack/stack-core';
import { recvChunk } from './recv.js';
import { readIntoUserBuffer } from './user-buffer.js';

/**
 * Every pump on the thread reads its stream into this one buffer: a read is copied into
 * the stack's send buffer before the callback returns, so nothing outlives the call.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(65536);

export type PumpEnd = 'closed' | 'aborted' | 'reset';

export class HandlePump {
  private pending: Buffer | undefined;
  private streamEnded = false;
  private tcpEnded = false;
  private shutdownSent = false;
  private blocked = false;
  private done = false;
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
  ) {
    host.watch(handle, (m) => this.onEvents(m));
    // Bytes the request parser gave back (unshift) come first, as 'data', then reads go
    // straight from the shared buffer into tcpSend.
    stream.pause();
    for (let c = stream.read() as Buffer | null; c !== null; c = stream.read() as Buffer | null)
      this.onData(c);
    this.userBuffer = readIntoUserBuffer(stream, READ_BUFFER, (n, b) => this.onRead(n, b));
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
    if (m & SocketEvent.Writable) this.flush();
    if (m & (SocketEvent.Readable | SocketEvent.PeerClosed)) this.readLoop();
    if (m & SocketEvent.Error) {
      const e = this.host.socketError(this.handle);
      if (e) this.fail(e);
    }
  }

  private fail(e: SocketError): void {
    this.error = socketErrorName(e);
    this.tcpEnded = true;
    this.done = true;
    this.host.unwatch(this.handle);
    this.host.tcpClose(this.handle);
    this.stream.destroy();
    this.onEnd('reset', this);
  }

  /** A read into the shared buffer; false pauses the stream (the stack is full). */
  private onRead(n: number, b: Buffer): boolean {
    return this.take(b.subarray(0, n), true);
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
      const chunk = recvChunk(this.host, this.handle);
      if (chunk === 0) return;
      if (chunk === EOF) {
        this.tcpEnded = true;
        this.stream.end();
        return;
      }
      if (typeof chunk === 'number') {
        this.fail(-chunk as SocketError);
        return;
      }
      const n = chunk.length;
      this.bytesDown += n;
      if (!this.stream.write(chunk)) this.blocked = true;
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
