/**
 * The wire protocol of a WebSocket link (version 1), shared by the client and the server.
 *
 * - Every binary message is one Ethernet frame (medium 'ethernet'), or one bare IP
 *   packet (medium 'ip'), without padding or a length prefix: the WebSocket message is
 *   the frame.
 * - Text messages are control messages. The server sends exactly one, first: the
 *   `Hello` (JSON), which gives the client its MAC, the MTU of the segment and the
 *   addresses it may use. A client never sends text; the server closes a connection
 *   that does (1003).
 * - Authentication happens before the WebSocket exists: an optional `token` query
 *   parameter in the URL, and an optional Origin allow-list. Refusals are HTTP statuses
 *   (401, 403, 503) on the upgrade request.
 */

export const PROTOCOL_VERSION = 1;

/** Bytes of the Ethernet header in front of each frame's IP packet on the 'ethernet' medium. */
export const ETHERNET_HEADER_LEN = 14;

export interface Hello {
  type: 'hello';
  version: number;
  /** What binary messages carry. */
  medium: 'ethernet' | 'ip';
  /** The client's MAC ("02:..."); the server drops frames from any other source MAC. */
  mac: string;
  /** IP MTU of the segment; frames are at most mtu + 14 bytes (Ethernet header). */
  mtu: number;
  /** Addresses assigned to this client, with prefix ("192.0.2.2/24", "2001:db8::2/64"). */
  addresses: string[];
  /** The server stack's own addresses on the segment (no prefix). */
  server: string[];
  /**
   * Batched messages, both ways (the client asked with `batch=1` in the URL and the
   * server agrees): every binary message holds one or more records `u32 length (big
   * endian), frame`, at most BATCH_MAX_BYTES in all. Per-message cost is what bounds a
   * WebSocket link; a poll's worth of segments then travels as one message.
   */
  batch?: boolean;
}

/** Largest batched message (records included). */
export const BATCH_MAX_BYTES = 256 * 1024;
/** Bytes before each frame in a batched message. */
export const BATCH_RECORD_HEADER = 4;

/**
 * Splits a batched message into frame views (no copy). Records whose length is outside
 * [min, max] are skipped and counted in `bad`; a truncated record ends the message.
 */
export function parseBatch(
  msg: Uint8Array,
  min: number,
  max: number,
  out: Uint8Array[],
): { bad: number; oversize: number; truncated: boolean } {
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  let off = 0;
  let bad = 0;
  let oversize = 0;
  while (off < msg.length) {
    if (off + BATCH_RECORD_HEADER > msg.length) return { bad, oversize, truncated: true };
    const len = dv.getUint32(off);
    off += BATCH_RECORD_HEADER;
    if (off + len > msg.length) return { bad, oversize, truncated: true };
    if (len < min) bad++;
    else if (len > max) oversize++;
    else out.push(msg.subarray(off, off + len));
    off += len;
  }
  return { bad, oversize, truncated: false };
}

/** Packs frames into batched messages of at most BATCH_MAX_BYTES (a frame alone may exceed it). */
export class BatchWriter {
  private buf: Uint8Array;
  private dv: DataView;
  private used = 0;
  frames = 0;
  constructor(private readonly emit: (msg: Uint8Array, frames: number) => void) {
    this.buf = new Uint8Array(BATCH_MAX_BYTES);
    this.dv = new DataView(this.buf.buffer);
  }
  get pending(): number {
    return this.used;
  }
  add(frame: Uint8Array): void {
    const need = BATCH_RECORD_HEADER + frame.length;
    if (this.used + need > this.buf.length) this.flush();
    if (need > this.buf.length) {
      this.buf = new Uint8Array(need);
      this.dv = new DataView(this.buf.buffer);
    }
    this.dv.setUint32(this.used, frame.length);
    this.buf.set(frame, this.used + BATCH_RECORD_HEADER);
    this.used += need;
    this.frames++;
  }
  /** Drops what is pending; returns how many frames that was. */
  discard(): number {
    const n = this.frames;
    this.used = 0;
    this.frames = 0;
    return n;
  }
  /** Emits what is pending as one message (a copy: the buffer is reused). */
  flush(): void {
    if (this.used === 0) return;
    const msg = this.buf.slice(0, this.used);
    const n = this.frames;
    this.used = 0;
    this.frames = 0;
    this.emit(msg, n);
  }
}

/** Close codes the server uses (RFC 6455 §7.4.1 and the 4000-4999 private range). */
export const CloseCode = {
  /** Normal close (either side). */
  Normal: 1000,
  /** The server is shutting down. */
  GoingAway: 1001,
  /** A text message from the client: not part of the protocol. */
  UnsupportedData: 1003,
  /** A message larger than the server's maxPayload (set by `ws` itself). */
  TooBig: 1009,
  /** No pong to the server's ping within the heartbeat interval. */
  Timeout: 4008,
} as const;

/** Parses and checks a hello; throws a TypeError naming what is wrong. */
export function parseHello(text: string): Hello {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TypeError('hello is not JSON');
  }
  const h = v as Partial<Hello>;
  if (typeof v !== 'object' || v === null || h.type !== 'hello') throw new TypeError('not a hello message');
  if (h.version !== PROTOCOL_VERSION)
    throw new TypeError(`unsupported protocol version ${String(h.version)}`);
  if (h.medium !== 'ethernet' && h.medium !== 'ip') throw new TypeError('hello.medium is invalid');
  if (typeof h.mac !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(h.mac))
    throw new TypeError('hello.mac is invalid');
  if (typeof h.mtu !== 'number' || !Number.isInteger(h.mtu) || h.mtu < 576 || h.mtu > 65535)
    throw new TypeError('hello.mtu is invalid');
  if (!Array.isArray(h.addresses) || h.addresses.some((a) => typeof a !== 'string'))
    throw new TypeError('hello.addresses is invalid');
  if (!Array.isArray(h.server) || h.server.some((a) => typeof a !== 'string'))
    throw new TypeError('hello.server is invalid');
  if (h.batch !== undefined && typeof h.batch !== 'boolean') throw new TypeError('hello.batch is invalid');
  return {
    ...(h.batch ? { batch: true } : {}),
    type: 'hello',
    version: h.version,
    medium: h.medium,
    mac: h.mac.toLowerCase(),
    mtu: h.mtu,
    addresses: h.addresses,
    server: h.server,
  };
}

/** "02:00:00:00:00:01" -> 6 bytes (the hello's MAC is checked by parseHello). */
export function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((p) => Number.parseInt(p, 16)));
}

export function macString(b: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + b[off + i]!.toString(16).padStart(2, '0');
  return s;
}
