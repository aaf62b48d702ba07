/**
 * withPcap(link, path): writes every frame that passes, both directions, to a classic
 * pcap file (microsecond timestamps) that Wireshark and tshark read: linktype 1
 * (Ethernet), or 101 (LINKTYPE_RAW: each record starts at the IPv4 or IPv6 header) for an
 * IP-only link (`medium: 'ip'`: TUN, WireGuard). Writes are buffered and flushed when the buffer fills, once a second, and at close.
 * The file is always a new one, made 0600 without following a symlink; a write error
 * (ENOSPC, EIO) stops the capture (counted, reported once to `onError`), never the link.
 */
import { closeSync, constants, lstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import type { Link, LinkStats } from './link.js';
import { WrappedLink } from './wrapped-link.js';

const BUF_BYTES = 256 * 1024;
/** pcap link types (tcpdump.org/linktypes.html). */
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
const SNAPLEN = 65535;

/**
 * Opens `path` as a new file, mode 0600, never through a symlink (O_CREAT|O_EXCL|
 * O_NOFOLLOW). A regular file of ours already there (an earlier capture) is replaced;
 * anything else there (a symlink, another user's file, a device) is refused (EEXIST).
 */
export function openNewPrivateFile(path: string): number {
  let st: ReturnType<typeof lstatSync> | undefined;
  try {
    st = lstatSync(path);
  } catch {
    /* no file: the usual case */
  }
  if (st) {
    const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
    if (!st.isFile() || st.uid !== uid)
      throw Object.assign(
        new Error(
          `${path} exists and is ${st.isSymbolicLink() ? 'a symlink' : st.isFile() ? `owned by uid ${st.uid}` : 'not a regular file'}: refusing to write to it`,
        ),
        { code: 'EEXIST', path },
      );
    unlinkSync(path);
  }
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  return openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
}

/** Appends pcap records to a file through a buffer. */
export class PcapWriter {
  private fd: number;
  private buf = Buffer.allocUnsafe(BUF_BYTES);
  private used = 0;
  private timer: NodeJS.Timeout | undefined;
  records = 0;
  /** Writes that failed (each stops the capture until `reopen()`). */
  writeErrors = 0;
  /** Frames not recorded because the capture had stopped on an error. */
  recordsLost = 0;
  /** The error that stopped the capture, if one did. */
  error: Error | undefined;

  private readonly path: string;
  private readonly linktype: number;
  private readonly onError: ((e: Error) => void) | undefined;

  constructor(path: string, linktype = LINKTYPE_ETHERNET, onError?: (e: Error) => void) {
    this.path = path;
    this.linktype = linktype;
    this.onError = onError;
    this.fd = openNewPrivateFile(path);
    this.header();
    this.timer = setInterval(() => this.flush(), 1000);
    this.timer.unref();
  }

  /** Puts the 24-byte file header at the start of the (empty) buffer. */
  private header(): void {
    const linktype = this.linktype;
    const h = this.buf;
    h.writeUInt32LE(0xa1b2c3d4, 0); // magic: microsecond timestamps, little-endian file
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeInt32LE(0, 8); // thiszone
    h.writeUInt32LE(0, 12); // sigfigs
    h.writeUInt32LE(SNAPLEN, 16);
    h.writeUInt32LE(linktype, 20);
    this.used = 24;
  }

  /**
   * Flushes and closes the file, then opens `path` again as a new capture (with its own
   * header): after logrotate (or `mv`) moved the old file away, capture continues in a
   * fresh one (the daemon calls this on SIGHUP).
   */
  reopen(): void {
    if (this.fd < 0 && !this.error) return; // closed
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.fd = openNewPrivateFile(this.path);
    this.error = undefined;
    this.header();
  }

  write(frame: Uint8Array, timeMs = performance.timeOrigin + performance.now()): void {
    if (this.fd < 0) {
      if (this.error) this.recordsLost++;
      return;
    }
    const incl = Math.min(frame.length, SNAPLEN);
    if (this.used + 16 + incl > this.buf.length) {
      this.flush();
      if (16 + incl > this.buf.length) this.buf = Buffer.allocUnsafe(16 + incl);
    }
    const sec = Math.floor(timeMs / 1000);
    const usec = Math.floor((timeMs - sec * 1000) * 1000);
    const b = this.buf;
    b.writeUInt32LE(sec >>> 0, this.used);
    b.writeUInt32LE(Math.min(usec, 999_999), this.used + 4);
    b.writeUInt32LE(incl, this.used + 8);
    b.writeUInt32LE(frame.length, this.used + 12);
    b.set(incl === frame.length ? frame : frame.subarray(0, incl), this.used + 16);
    this.used += 16 + incl;
    this.records++;
  }

  flush(): void {
    if (this.fd < 0 || this.used === 0) return;
    let off = 0;
    try {
      while (off < this.used) off += writeSync(this.fd, this.buf, off, this.used - off);
    } catch (e) {
      this.stop(e as Error);
    }
    this.used = 0;
  }

  /** A write failed (full disk, I/O error): stop capturing, keep the link going. */
  private stop(e: Error): void {
    this.writeErrors++;
    this.error = e;
    try {
      closeSync(this.fd);
    } catch {
      /* the error was already reported by the write */
    }
    this.fd = -1;
    this.onError?.(e);
  }

  close(): void {
    clearInterval(this.timer);
    if (this.fd < 0) return;
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.error = undefined;
  }
}

export interface PcapOptions {
  /** Which frames to record. Default 'both'. */
  direction?: 'tx' | 'rx' | 'both';
  /** Called once when a write error stops the capture (the link keeps running). */
  onError?: (e: Error) => void;
}

class PcapLink extends WrappedLink {
  readonly writer: PcapWriter;
  private readonly tx: boolean;
  private readonly rx: boolean;
  constructor(inner: Link, path: string, opts: PcapOptions) {
    super(inner);
    this.writer = new PcapWriter(
      path,
      inner.medium === 'ip' ? LINKTYPE_RAW : LINKTYPE_ETHERNET,
      opts.onError,
    );
    const d = opts.direction ?? 'both';
    this.tx = d !== 'rx';
    this.rx = d !== 'tx';
  }
  send(frame: Uint8Array): boolean {
    if (this.tx) this.writer.write(frame);
    return this.inner.send(frame);
  }
  override sendBatch(frames: readonly Uint8Array[]): number {
    if (this.tx) for (const f of frames) this.writer.write(f);
    return this.innerSendBatch(frames);
  }
  protected receive(frames: readonly Uint8Array[]): void {
    if (this.rx) for (const f of frames) this.writer.write(f);
    this.deliver(frames);
  }
  /** Starts a new capture file at the same path (after the old one was moved away). */
  reopen(): void {
    this.writer.reopen();
  }
  override stats(): LinkStats {
    const w = this.writer;
    return {
      ...super.stats(),
      pcapRecords: w.records,
      pcapWriteErrors: w.writeErrors,
      pcapRecordsLost: w.recordsLost,
    };
  }
  override async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      this.writer.close();
    }
  }
}

/** Records every frame through `link` into a pcap file at `path`; returns the wrapped link. */
export function withPcap(link: Link, path: string, opts: PcapOptions = {}): Link {
  return new PcapLink(link, path, opts);
}
