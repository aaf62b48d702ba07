/**
 * The client side of a WebSocket link, for browsers (the built-in `WebSocket`) and Node
 * (pass the `ws` package's `WebSocket` as `options.WebSocket`). Web-standard JS only: no
 * `node:` imports, so a page can load it. It is a `Link` (the contract frame-ring declares
 * and tap-io's links implement), so stack-driver can run a Node stack on it, and the page
 * driver (`@tapstack/browser`) runs one in a browser.
 */
import type { Link, LinkStats } from '@tapstack/frame-ring';
import {
  BATCH_RECORD_HEADER,
  BatchWriter,
  CloseCode,
  ETHERNET_HEADER_LEN,
  type Hello,
  macBytes,
  parseBatch,
  parseHello,
} from './protocol.js';

/**
 * An event handler property. Its parameter is checked bivariantly (a method's type), so
 * both the DOM's `WebSocket` (handlers of DOM events) and `ws`'s (handlers of its own
 * event types) are `WebSocketLike` without a cast.
 */
type Handler<E> = { bivariant(ev: E): void }['bivariant'];

/** The part of the WebSocket API the link uses (browsers' and `ws`'s both have it). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface WebSocketLinkOptions {
  /** The WebSocket class: `globalThis.WebSocket` by default (browsers, Node >= 22); `ws` in Node 20. */
  WebSocket?: WebSocketConstructor;
  /** Give up if the hello has not arrived by then. Default 10000 ms. */
  connectTimeoutMs?: number;
  /**
   * Frames are dropped (txDropped) while the socket has more than this many bytes
   * queued: the stack's own retransmission handles the loss, as with a full NIC queue.
   * Default 8 MiB.
   */
  maxBufferedBytes?: number;
  /** Link name in stats and logs. Default 'ws0'. */
  name?: string;
  /**
   * Ask for batched messages (`batch=1` in the URL): the frames one turn of the stack
   * sends go out as one WebSocket message, and the server batches likewise. Used only
   * when the server's hello agrees. Default true.
   */
  batch?: boolean;
}

export interface WebSocketLinkStats extends LinkStats {
  /** Received messages that were not frames (text after the hello, wrong size). */
  rxDropped: number;
  /** Frames not sent: socket closed or too much buffered. */
  txDropped: number;
}

const OPEN = 1;
/** Frames that arrive before anyone listens are kept, up to this many. */
const EARLY_FRAMES = 256;

const BRAND = Symbol.for('@tapstack/ws-link/WebSocketLinkError');

/** Connecting failed or the link closed: `code` and `reason` are the WebSocket close's. */
export class WebSocketLinkError extends Error {
  readonly code: string;
  readonly closeCode: number | undefined;
  readonly [BRAND] = true;
  constructor(message: string, code: string, closeCode?: number) {
    super(message);
    this.name = 'WebSocketLinkError';
    this.code = code;
    this.closeCode = closeCode;
  }
  static isInstance(e: unknown): e is WebSocketLinkError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}

export class WebSocketLink implements Link {
  readonly name: string;
  readonly hello: Hello;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly medium: 'ethernet' | 'ip';
  private readonly ws: WebSocketLike;
  private readonly maxFrame: number;
  private readonly maxBuffered: number;
  private handlers: ((frames: readonly Uint8Array[]) => void)[] = [];
  private closeHandlers: ((code: number, reason: string) => void)[] = [];
  private early: Uint8Array[] = [];
  /** Batched mode: frames of this turn, sent as one message at the end of the turn. */
  private readonly writer: BatchWriter | undefined;
  private flushQueued = false;
  private closed = false;
  private closeInfo: { code: number; reason: string } | undefined;
  private readonly s: WebSocketLinkStats = {
    rxFrames: 0,
    rxBytes: 0,
    txFrames: 0,
    txBytes: 0,
    rxDropped: 0,
    txDropped: 0,
    txErrors: 0,
  };

  /** Opens the WebSocket and waits for the server's hello. */
  static connect(url: string, options: WebSocketLinkOptions = {}): Promise<WebSocketLink> {
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor)
      return Promise.reject(
        new WebSocketLinkError('no WebSocket class: pass options.WebSocket (the ws package)', 'ENOTSUP'),
      );
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      let target = url;
      if (options.batch !== false) {
        try {
          const u = new URL(url);
          u.searchParams.set('batch', '1');
          target = u.toString();
        } catch {
          // new Ctor reports the bad URL below
        }
      }
      try {
        ws = new Ctor(target);
      } catch (e) {
        reject(new WebSocketLinkError(`cannot open ${url}: ${(e as Error).message}`, 'EINVAL'));
        return;
      }
      ws.binaryType = 'arraybuffer';
      const timer = setTimeout(() => {
        fail(new WebSocketLinkError(`no hello from ${url} in time`, 'ETIMEDOUT'));
        ws.close();
      }, options.connectTimeoutMs ?? 10_000);
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.onmessage = ws.onclose = ws.onerror = null;
        reject(e);
      };
      ws.onerror = () => {
        // Browsers give no detail here; the close event that follows has the code.
      };
      ws.onclose = (ev) =>
        fail(
          new WebSocketLinkError(
            `${url} closed before the hello (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`,
            'ECONNREFUSED',
            ev.code,
          ),
        );
      ws.onmessage = (ev) => {
        if (typeof ev.data !== 'string') {
          fail(new WebSocketLinkError('the server sent a frame before its hello', 'EPROTO'));
          ws.close(CloseCode.UnsupportedData, 'expected a hello');
          return;
        }
        let hello: Hello;
        try {
          hello = parseHello(ev.data);
        } catch (e) {
          fail(new WebSocketLinkError(`bad hello: ${(e as Error).message}`, 'EPROTO'));
          ws.close(CloseCode.UnsupportedData, 'bad hello');
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve(new WebSocketLink(ws, hello, options));
      };
    });
  }

  private constructor(ws: WebSocketLike, hello: Hello, options: WebSocketLinkOptions) {
    this.ws = ws;
    this.hello = hello;
    this.name = options.name ?? 'ws0';
    this.mac = macBytes(hello.mac);
    this.mtu = hello.mtu;
    this.medium = hello.medium;
    this.maxFrame = hello.mtu + (hello.medium === 'ethernet' ? 18 : 0);
    this.maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
    if (hello.batch)
      this.writer = new BatchWriter((msg, n) => {
        try {
          this.ws.send(msg);
        } catch {
          this.s.txErrors += n;
          return;
        }
        this.s.txFrames += n;
        this.s.txBytes += msg.length - n * BATCH_RECORD_HEADER;
      });
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => this.onSocketClose(ev.code, ev.reason);
  }

  /** True when the server agreed to batched messages. */
  get batched(): boolean {
    return this.writer !== undefined;
  }

  private onMessage(data: unknown): void {
    if (!(data instanceof ArrayBuffer)) {
      // Text after the hello (a newer server's control message) or a Blob: not a frame.
      this.s.rxDropped++;
      return;
    }
    const min = this.medium === 'ethernet' ? ETHERNET_HEADER_LEN : 20;
    let batch: Uint8Array[];
    if (this.writer) {
      batch = [];
      const r = parseBatch(new Uint8Array(data), min, this.maxFrame, batch);
      this.s.rxDropped += r.bad + r.oversize + (r.truncated ? 1 : 0);
      if (batch.length === 0) return;
    } else {
      if (data.byteLength < min || data.byteLength > this.maxFrame) {
        this.s.rxDropped++;
        return;
      }
      batch = [new Uint8Array(data)];
    }
    for (const f of batch) {
      this.s.rxFrames++;
      this.s.rxBytes += f.length;
    }
    if (this.handlers.length === 0) {
      for (const f of batch) {
        if (this.early.length < EARLY_FRAMES) this.early.push(f);
        else this.s.rxDropped++;
      }
      return;
    }
    for (const h of this.handlers) h(batch);
  }

  private onSocketClose(code: number, reason: string): void {
    this.closed = true;
    this.closeInfo = { code, reason };
    for (const h of this.closeHandlers) h(code, reason);
  }

  /** Sends one frame (copied). False when dropped: closed, or the socket's queue is full. */
  send(frame: Uint8Array): boolean {
    if (this.closed || this.ws.readyState !== OPEN || this.ws.bufferedAmount > this.maxBuffered) {
      this.s.txDropped++;
      return false;
    }
    if (frame.length > this.maxFrame) {
      this.s.txDropped++;
      return false;
    }
    if (this.writer) {
      // Copied into the pending message; sent when this turn's work is done.
      this.writer.add(frame);
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => this.flush());
      }
      return true;
    }
    try {
      // The caller's view is valid only during the call (the Link contract).
      this.ws.send(frame.slice());
    } catch {
      this.s.txErrors++;
      return false;
    }
    this.s.txFrames++;
    this.s.txBytes += frame.length;
    return true;
  }

  /** Sends the frames queued in batched mode now (otherwise at the end of the turn). */
  flush(): void {
    this.flushQueued = false;
    if (!this.writer) return;
    if (this.closed || this.ws.readyState !== OPEN || this.ws.bufferedAmount > this.maxBuffered) {
      // Like a full NIC queue: the stack's retransmissions recover.
      this.s.txDropped += this.writer.discard();
      return;
    }
    this.writer.flush();
  }

  sendBatch(frames: readonly Uint8Array[]): number {
    let n = 0;
    for (const f of frames) if (this.send(f)) n++;
    return n;
  }

  /** Received frames; each batch's views stay valid (every message has its own buffer). */
  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.handlers.push(handler);
    if (this.early.length) {
      const early = this.early;
      this.early = [];
      handler(early);
    }
  }

  /** Called once when the WebSocket closes (by either side), with its code and reason. */
  onClose(handler: (code: number, reason: string) => void): void {
    if (this.closeInfo) handler(this.closeInfo.code, this.closeInfo.reason);
    else this.closeHandlers.push(handler);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes the WebSocket has queued but not yet sent. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  stats(): WebSocketLinkStats {
    return { ...this.s };
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      // A server that never answers the close must not hang the caller (nor, once it
      // has answered, keep the process alive for the rest of the wait).
      const timer = setTimeout(() => {
        if (!this.closed) this.onSocketClose(1006, 'close timed out');
      }, 2000);
      this.closeHandlers.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.flush();
      this.ws.close(CloseCode.Normal, 'client closed');
    });
  }
}
