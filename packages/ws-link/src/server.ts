/**
 * The server side of a WebSocket link (Node only: `ws`, node:http, node:crypto). Every
 * accepted connection becomes a port on the server's Ethernet segment (a tap-io
 * MemorySwitch, or anything with its `createPort`), so browsers and Node clients join
 * the same network as the server's stack. Per connection: one MAC and one address per
 * configured prefix from a pool, source-MAC checking, a size limit and a token-bucket
 * rate limit; every refusal and drop is counted.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { IpSegment } from './ip-segment.js';
import { AddressPool } from './pool.js';
import {
  BATCH_MAX_BYTES,
  BatchWriter,
  CloseCode,
  ETHERNET_HEADER_LEN,
  type Hello,
  macString,
  PROTOCOL_VERSION,
  parseBatch,
} from './protocol.js';

/** What the server needs from a segment port (tap-io's MemorySwitch ports have it). */
export interface SegmentPort {
  send(frame: Uint8Array): boolean;
  onFrames(handler: (frames: readonly Uint8Array[]) => void): void;
  close(): Promise<void>;
}

export interface WebSocketLinkServerOptions {
  /** Listen address. Default 127.0.0.1 (a browser on this machine). */
  host?: string;
  /** Listen port; 0 = any. Default 0. */
  port?: number;
  /**
   * Ethernet segments: creates this client's port (e.g. `(o) => memorySwitch.createPort(o)`).
   * Not used with `medium: 'ip'`, where the server routes by address itself.
   */
  createPort?(options: { name: string; mac: Uint8Array; mtu: number }): SegmentPort;
  /**
   * What the segment carries. 'ethernet' (default): frames, each client a switch port.
   * 'ip': bare IP packets, each client a peer known by its addresses; the server's stack
   * joins through `ipLink()` (an IP-medium link) instead of a switch.
   */
  medium?: 'ethernet' | 'ip';
  /** Name of `ipLink()` (medium 'ip'). Default 'ws0'. */
  name?: string;
  /**
   * When set, clients must give it as `?token=` in the URL; compared in constant time.
   * Without it anyone who can reach the port joins (and any web page the user opens
   * can reach a loopback port: set `token` or `origins` when browsers connect).
   */
  token?: string;
  /** Allowed `Origin` headers ("http://127.0.0.1:8080"); absent = any origin. */
  origins?: string[];
  /** IP MTU of the segment. Default 1500. */
  mtu?: number;
  /** The server stack's addresses on the segment; clients get free hosts of the same prefixes. */
  addresses?: string[];
  /** Connections at once; more get 503. Default 64. */
  maxClients?: number;
  /** Per-connection receive rate in bytes per second; 0 = unlimited. Default 0. */
  rateBytesPerSecond?: number;
  /** Per-connection receive rate in frames per second; 0 = unlimited. Default 0. */
  rateFramesPerSecond?: number;
  /** Token-bucket depth in seconds of rate. Default 0.25. */
  burstSeconds?: number;
  /**
   * Frames to a client are dropped while its socket has more than this queued (a slow
   * or stalled client cannot make the server buffer without bound). Default 8 MiB.
   */
  maxBufferedBytes?: number;
  /** Ping interval; a client that misses a whole interval is dropped (4008). Default 30000 ms. */
  heartbeatMs?: number;
  /** Agree to batched messages when a client asks (`batch=1`). Default true. */
  batch?: boolean;
  /** Called on connects, disconnects and refusals. */
  log?: (level: 'info' | 'warn' | 'debug', msg: string, fields: Record<string, unknown>) => void;
  /** Clock (ms) for the rate limiter. Default performance.now. */
  now?: () => number;
}

/** Server-wide counters (names are stable: the daemon exports them as metrics). */
export interface WebSocketLinkServerStats {
  clients: number;
  accepted: number;
  closed: number;
  /** Upgrade refused: no or wrong token (401). */
  rejectedAuth: number;
  /** Upgrade refused: Origin not allowed (403). */
  rejectedOrigin: number;
  /** Upgrade refused: maxClients reached or the address pool is empty (503). */
  rejectedFull: number;
  /** Requests that were not a WebSocket upgrade on the right path (404/426). */
  rejectedRequest: number;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Binary messages (or batch records) shorter than an Ethernet header; truncated batches. */
  rxMalformed: number;
  /** Frames longer than mtu + 18. */
  rxOversize: number;
  /** Frames whose source MAC is not the client's. */
  rxSpoofed: number;
  /** Frames over the client's rate. */
  rxRateLimited: number;
  /** Connections closed for a text message (1003). */
  closedProtocol: number;
  /** Connections closed for a message over maxPayload (1009). */
  closedTooBig: number;
  /** Connections closed for a missed heartbeat (4008). */
  closedTimeout: number;
  /** Frames to clients dropped because their socket had too much queued. */
  txDropped: number;
}

export interface WebSocketClientInfo {
  id: number;
  mac: string;
  addresses: string[];
  remote: string;
  origin: string | undefined;
  rxFrames: number;
  txFrames: number;
}

/** Slack over the largest frame before `ws` itself closes the connection (1009). */
const PAYLOAD_SLACK = 4096;

interface Client {
  id: number;
  ws: WebSocket;
  mac: Uint8Array;
  macStr: string;
  addresses: string[];
  offset: bigint;
  port: SegmentPort;
  remote: string;
  origin: string | undefined;
  alive: boolean;
  tokensBytes: number;
  tokensFrames: number;
  lastRefill: number;
  rxFrames: number;
  txFrames: number;
  /** Batched messages (hello.batch): the pending message to this client. */
  writer: BatchWriter | undefined;
}

export class WebSocketLinkServer {
  private readonly opts: WebSocketLinkServerOptions;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Map<number, Client>();
  private readonly pool: AddressPool;
  private readonly tokenDigest: Buffer | undefined;
  private readonly mtu: number;
  private readonly maxFrame: number;
  private readonly minFrame: number;
  private readonly ipSegment: IpSegment | undefined;
  private readonly now: () => number;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private nextId = 1;
  private closing: Promise<void> | undefined;
  private readonly s: WebSocketLinkServerStats = {
    clients: 0,
    accepted: 0,
    closed: 0,
    rejectedAuth: 0,
    rejectedOrigin: 0,
    rejectedFull: 0,
    rejectedRequest: 0,
    rxFrames: 0,
    rxBytes: 0,
    txFrames: 0,
    txBytes: 0,
    rxMalformed: 0,
    rxOversize: 0,
    rxSpoofed: 0,
    rxRateLimited: 0,
    closedProtocol: 0,
    closedTooBig: 0,
    closedTimeout: 0,
    txDropped: 0,
  };

  /** Starts listening; resolves once the port is bound. */
  static async listen(options: WebSocketLinkServerOptions): Promise<WebSocketLinkServer> {
    const s = new WebSocketLinkServer(options);
    await new Promise<void>((resolve, reject) => {
      s.http.once('error', reject);
      s.http.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        s.http.off('error', reject);
        resolve();
      });
    });
    return s;
  }

  private constructor(options: WebSocketLinkServerOptions) {
    this.opts = options;
    this.mtu = options.mtu ?? 1500;
    if (!Number.isInteger(this.mtu) || this.mtu < 576 || this.mtu > 65535)
      throw new RangeError(`mtu must be 576..65535, got ${this.mtu}`);
    if (options.medium === 'ip') this.ipSegment = new IpSegment(options.name ?? 'ws0', this.mtu);
    else if (!options.createPort)
      throw new TypeError('WebSocketLinkServer: createPort is needed for Ethernet');
    this.maxFrame = this.ipSegment ? this.mtu : this.mtu + 18;
    this.minFrame = this.ipSegment ? 20 : ETHERNET_HEADER_LEN;
    this.now = options.now ?? (() => performance.now());
    this.pool = new AddressPool(options.addresses ?? []);
    this.tokenDigest = options.token === undefined ? undefined : digest(options.token);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload:
        (options.batch === false ? this.maxFrame : Math.max(this.maxFrame, BATCH_MAX_BYTES)) + PAYLOAD_SLACK,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.http = createServer((_req, res) => {
      this.s.rejectedRequest++;
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      res.end('tapstack WebSocket link: connect with a WebSocket client\n');
    });
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    const hb = options.heartbeatMs ?? 30_000;
    if (hb > 0) {
      this.heartbeat = setInterval(() => this.beat(), hb);
      this.heartbeat.unref?.();
    }
  }

  /** Medium 'ip': the link the server's stack uses (interface medium 'ip'; its addresses are `addresses`). */
  ipLink(): IpSegment['stackLink'] {
    if (!this.ipSegment) throw new TypeError('ipLink() is for medium ip');
    return this.ipSegment.stackLink;
  }

  /** The bound address. */
  address(): { host: string; port: number } {
    const a = this.http.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** A URL clients can use (with the token, when one is set). */
  url(): string {
    const { host, port } = this.address();
    const h = host.includes(':') ? `[${host}]` : host;
    const t = this.opts.token === undefined ? '' : `?token=${encodeURIComponent(this.opts.token)}`;
    return `ws://${h}:${port}/${t}`;
  }

  stats(): WebSocketLinkServerStats {
    return {
      ...this.s,
      clients: this.clients.size,
      rxSpoofed: this.s.rxSpoofed + (this.ipSegment?.spoofed ?? 0),
    };
  }

  clientList(): WebSocketClientInfo[] {
    return [...this.clients.values()].map((c) => ({
      id: c.id,
      mac: c.macStr,
      addresses: c.addresses,
      remote: c.remote,
      origin: c.origin,
      rxFrames: c.rxFrames,
      txFrames: c.txFrames,
    }));
  }

  private refuse(socket: Duplex, status: number, text: string): void {
    const body = `${text}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.on('error', () => {});
    setTimeout(() => socket.destroy(), 1000).unref?.();
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const log = this.opts.log;
    if (this.closing) {
      this.s.rejectedFull++;
      this.refuse(socket, 503, 'Service Unavailable');
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'ws://x');
    } catch {
      this.s.rejectedRequest++;
      this.refuse(socket, 400, 'Bad Request');
      return;
    }
    if (this.tokenDigest) {
      const given = url.searchParams.get('token');
      // Constant time: compare fixed-length digests, so neither the content nor the
      // length of the token leaks through timing.
      if (given === null || !timingSafeEqual(digest(given), this.tokenDigest)) {
        this.s.rejectedAuth++;
        log?.('warn', 'WebSocket client refused: no or wrong token', { remote });
        this.refuse(socket, 401, 'Unauthorized');
        return;
      }
    }
    const origin = req.headers.origin;
    if (this.opts.origins && (origin === undefined || !this.opts.origins.includes(origin))) {
      this.s.rejectedOrigin++;
      log?.('warn', 'WebSocket client refused: origin not allowed', { remote, origin });
      this.refuse(socket, 403, 'Forbidden');
      return;
    }
    if (this.clients.size >= (this.opts.maxClients ?? 64)) {
      this.s.rejectedFull++;
      log?.('warn', 'WebSocket client refused: maxClients reached', { remote });
      this.refuse(socket, 503, 'Service Unavailable');
      return;
    }
    const lease = this.pool.take();
    if (!lease) {
      this.s.rejectedFull++;
      log?.('warn', 'WebSocket client refused: no free address', { remote });
      this.refuse(socket, 503, 'Service Unavailable');
      return;
    }
    const batch = this.opts.batch !== false && url.searchParams.get('batch') === '1';
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, lease, remote, origin, batch));
  }

  private accept(
    ws: WebSocket,
    lease: { offset: bigint; addresses: string[] },
    remote: string,
    origin: string | undefined,
    batch: boolean,
  ): void {
    const id = this.nextId++;
    const mac = this.ipSegment ? new Uint8Array(6) : this.freshMac();
    const port = this.ipSegment
      ? this.ipSegment.createPort(lease.addresses)
      : this.opts.createPort!({ name: `ws${id}`, mac, mtu: this.mtu });
    const rate = this.opts.rateBytesPerSecond ?? 0;
    const frate = this.opts.rateFramesPerSecond ?? 0;
    const burst = this.opts.burstSeconds ?? 0.25;
    const c: Client = {
      id,
      ws,
      mac,
      macStr: macString(mac),
      addresses: lease.addresses,
      offset: lease.offset,
      port,
      remote,
      origin,
      alive: true,
      tokensBytes: rate * burst,
      tokensFrames: frate * burst,
      lastRefill: this.now(),
      rxFrames: 0,
      txFrames: 0,
      writer: batch
        ? new BatchWriter((msg, n) => {
            ws.send(msg, { binary: true });
            c.txFrames += n;
            this.s.txFrames += n;
            this.s.txBytes += msg.length - 4 * n;
          })
        : undefined,
    };
    this.clients.set(id, c);
    this.s.accepted++;
    const hello: Hello = {
      type: 'hello',
      version: PROTOCOL_VERSION,
      medium: this.ipSegment ? 'ip' : 'ethernet',
      mac: c.macStr,
      mtu: this.mtu,
      addresses: lease.addresses,
      server: this.pool.serverAddresses(),
      ...(batch ? { batch: true } : {}),
    };
    ws.send(JSON.stringify(hello));
    const maxBuffered = this.opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    port.onFrames((frames) => {
      if (c.writer) {
        if (ws.readyState !== ws.OPEN || ws.bufferedAmount > maxBuffered) {
          this.s.txDropped += frames.length;
          return;
        }
        // The whole batch the switch delivered, in as few messages as fit (copied in).
        for (const f of frames) c.writer.add(f);
        c.writer.flush();
        return;
      }
      for (const f of frames) {
        if (ws.readyState !== ws.OPEN || ws.bufferedAmount > maxBuffered) {
          this.s.txDropped++;
          continue;
        }
        // The port's views are valid only during the call; ws keeps the buffer until written.
        ws.send(Buffer.from(f), { binary: true });
        c.txFrames++;
        this.s.txFrames++;
        this.s.txBytes += f.length;
      }
    });
    ws.on('message', (data, isBinary) => this.onMessage(c, data, isBinary));
    ws.on('pong', () => {
      c.alive = true;
    });
    ws.on('error', (e: Error & { code?: string }) => {
      // ws has already sent the close (1009 for a message over maxPayload, 1002 for bad
      // framing); 'close' follows.
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.s.closedTooBig++;
    });
    ws.on('close', (code) => {
      this.release(c);
      this.opts.log?.('info', 'WebSocket client left', { id, remote, code });
    });
    this.opts.log?.('info', 'WebSocket client joined', {
      id,
      remote,
      mac: c.macStr,
      addresses: lease.addresses,
    });
  }

  private onMessage(c: Client, data: RawData, isBinary: boolean): void {
    if (!isBinary) {
      this.s.closedProtocol++;
      c.ws.close(CloseCode.UnsupportedData, 'text messages are not part of the protocol');
      return;
    }
    const msg = data as Buffer; // binaryType 'nodebuffer', not fragmented into arrays
    if (c.writer) {
      const frames: Uint8Array[] = [];
      const r = parseBatch(msg, this.minFrame, this.maxFrame, frames);
      this.s.rxMalformed += r.bad + (r.truncated ? 1 : 0);
      this.s.rxOversize += r.oversize;
      for (const f of frames) this.admit(c, f);
      return;
    }
    if (msg.length < this.minFrame) {
      this.s.rxMalformed++;
      return;
    }
    if (msg.length > this.maxFrame) {
      this.s.rxOversize++;
      return;
    }
    this.admit(c, msg);
  }

  /** One well-sized frame from a client: source MAC and rate checks, then onto the segment. */
  private admit(c: Client, frame: Uint8Array): void {
    if (frame.length < this.minFrame) {
      this.s.rxMalformed++;
      return;
    }
    if (frame.length > this.maxFrame) {
      this.s.rxOversize++;
      return;
    }
    // Ethernet: the source MAC must be the client's. IP: the segment checks the source
    // address (and counts it) in port.send.
    if (!this.ipSegment) {
      for (let i = 0; i < 6; i++) {
        if (frame[6 + i] !== c.mac[i]) {
          this.s.rxSpoofed++;
          return;
        }
      }
    }
    const rate = this.opts.rateBytesPerSecond ?? 0;
    const frate = this.opts.rateFramesPerSecond ?? 0;
    if (rate > 0 || frate > 0) {
      const now = this.now();
      const dt = Math.max(0, now - c.lastRefill) / 1000;
      c.lastRefill = now;
      const burst = this.opts.burstSeconds ?? 0.25;
      if (rate > 0) c.tokensBytes = Math.min(rate * burst, c.tokensBytes + rate * dt);
      if (frate > 0) c.tokensFrames = Math.min(frate * burst, c.tokensFrames + frate * dt);
      if ((rate > 0 && c.tokensBytes < frame.length) || (frate > 0 && c.tokensFrames < 1)) {
        this.s.rxRateLimited++;
        return;
      }
      c.tokensBytes -= frame.length;
      c.tokensFrames -= 1;
    }
    // An IP segment refuses (and counts) a packet from a foreign source or to nowhere.
    if (!c.port.send(frame) && this.ipSegment) return;
    c.rxFrames++;
    this.s.rxFrames++;
    this.s.rxBytes += frame.length;
  }

  private beat(): void {
    for (const c of this.clients.values()) {
      if (!c.alive) {
        this.s.closedTimeout++;
        c.ws.close(CloseCode.Timeout, 'no pong');
        // A peer that does not answer the close either is cut off.
        setTimeout(() => c.ws.terminate(), 1000).unref?.();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  private freshMac(): Uint8Array {
    for (;;) {
      const m = new Uint8Array(randomBytes(6));
      m[0] = 0x02; // locally administered, unicast
      const s = macString(m);
      if (![...this.clients.values()].some((c) => c.macStr === s)) return m;
    }
  }

  private release(c: Client): void {
    if (!this.clients.delete(c.id)) return;
    this.s.closed++;
    this.pool.give(c.offset);
    void c.port.close();
  }

  /** Closes every connection (1001) and stops listening. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.heartbeat) clearInterval(this.heartbeat);
      for (const c of this.clients.values()) {
        c.ws.close(CloseCode.GoingAway, 'server shutting down');
        setTimeout(() => c.ws.terminate(), 1000).unref?.();
      }
      await new Promise<void>((resolve) => {
        this.http.close(() => resolve());
        this.http.closeAllConnections?.();
      });
      for (const c of [...this.clients.values()]) this.release(c);
      this.wss.close();
    })();
    return this.closing;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export { CloseCode, type Hello, PROTOCOL_VERSION } from './protocol.js';
