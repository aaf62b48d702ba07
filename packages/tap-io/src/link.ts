/**
 * What tap-io's links share: the Link contract (declared in frame-ring, beside the ring a
 * link can write into, so that links outside Node implement it too), link errors, MAC
 * helpers, and handing received batches to handlers.
 */
import type { FrameRing, LinkStats } from '@tapstack/frame-ring';

export type { Link, LinkStats } from '@tapstack/frame-ring';

/** Bytes of an Ethernet header (destination, source, EtherType) in front of each frame's IP packet. */
export const ETHERNET_HEADER_LEN = 14;

const BRAND = Symbol.for('@tapstack/tap-io/LinkError');

/** An Error with a Node-style `code` (ENOENT, EPERM, EBUSY, ENOTSUP, EINVAL, ...). */
export class LinkError extends Error {
  readonly code: string;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  readonly [BRAND] = true;
  constructor(
    message: string,
    code: string,
    opts: { errno?: number; syscall?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LinkError';
    this.code = code;
    this.errno = opts.errno;
    this.syscall = opts.syscall;
  }
  static isInstance(e: unknown): e is LinkError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}

export function emptyStats(): LinkStats {
  return { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxDropped: 0, txDropped: 0, txErrors: 0 };
}

/** "02:00:00:00:00:01" -> 6 bytes. */
export function parseMac(s: string): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new LinkError(`invalid MAC address '${s}'`, 'EINVAL');
  }
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}

export function formatMac(m: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + (m[off + i]! < 16 ? '0' : '') + m[off + i]!.toString(16);
  return s;
}

/** 48-bit MAC as a number key (fits exactly in a double). */
export function macKey(b: Uint8Array, off: number): number {
  return (b[off]! * 2 ** 40 +
    b[off + 1]! * 2 ** 32 +
    ((b[off + 2]! << 24) >>> 0) +
    (b[off + 3]! << 16) +
    (b[off + 4]! << 8) +
    b[off + 5]!) as number;
}

/** Group bit set: broadcast or multicast destination. */
export function isGroupMac(b: Uint8Array, off: number): boolean {
  return (b[off]! & 1) === 1;
}

export function toMac(mac: Uint8Array | string): Uint8Array {
  if (typeof mac === 'string') return parseMac(mac);
  if (mac.length !== 6) throw new LinkError(`MAC must be 6 bytes, got ${mac.length}`, 'EINVAL');
  return Uint8Array.from(mac);
}

/** A random locally administered unicast MAC (02:xx:xx:xx:xx:xx style). */
export function randomMac(): Uint8Array {
  const m = new Uint8Array(6);
  crypto.getRandomValues(m);
  m[0] = (m[0]! & 0xfc) | 0x02;
  return m;
}

/**
 * Hands a batch to every frame handler. A handler that throws must not stall the link or
 * unwind into the native reader's callback (where it would abort the process or be lost):
 * the error is rethrown on its own turn, as an ordinary uncaught exception, and the
 * remaining handlers and later batches still run.
 */
export function deliverFrames(
  handlers: Iterable<(frames: readonly Uint8Array[]) => void>,
  frames: readonly Uint8Array[],
): void {
  for (const h of handlers) {
    try {
      h(frames);
    } catch (err) {
      setImmediate(() => {
        throw err;
      });
    }
  }
}

/**
 * Where a link's received batches go, the part of the Link contract every link shares: the
 * ring given to attachRxRing (frames copied in, a full ring drops and counts them, a
 * sleeping consumer is woken), else the onFrames handlers (deliverFrames). A link keeps
 * one and forwards onFrames/attachRxRing to it.
 */
export class RxTarget {
  readonly #handlers: Array<(frames: readonly Uint8Array[]) => void> = [];
  #ring: FrameRing | undefined;
  #onReadable: (() => void) | undefined;
  /** Frames the attached ring had no room for. */
  ringDropped = 0;

  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.#handlers.push(handler);
  }

  attachRxRing(ring: FrameRing, onReadable?: () => void): void {
    this.#ring = ring;
    this.#onReadable = onReadable;
  }

  /** True once frames have somewhere to go (a handler or a ring). */
  get attached(): boolean {
    return this.#ring !== undefined || this.#handlers.length > 0;
  }

  /** Hands `frames` on (views need to be valid only during the call); returns how many were taken. */
  deliver(frames: readonly Uint8Array[]): number {
    if (frames.length === 0) return 0;
    const ring = this.#ring;
    if (ring === undefined) {
      deliverFrames(this.#handlers, frames);
      return frames.length;
    }
    const n = ring.pushBatch(frames, 'drop');
    this.ringDropped += frames.length - n;
    if (n > 0) {
      ring.notifyConsumer();
      this.#onReadable?.();
    }
    return n;
  }
}
