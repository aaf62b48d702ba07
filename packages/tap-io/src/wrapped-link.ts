/**
 * Base for links that stack on another link (smoltcp phy style): they see every frame in
 * both directions, so they take the inner link's received frames through onFrames and
 * feed their own handlers or rx ring.
 */
import type { FrameRing } from '@tapstack/frame-ring';
import { type Link, type LinkStats, RxTarget } from './link.js';

export abstract class WrappedLink implements Link {
  readonly inner: Link;
  /** Where what passes goes: this wrapper's handlers or rx ring. */
  protected readonly rxTarget = new RxTarget();
  private listening = false;

  constructor(inner: Link) {
    // A wrapper sees frames as they are on the wire: no super-frames, whole checksums.
    inner.disableOffloads?.();
    this.inner = inner;
  }

  /** Wrappers pass frames one at a time as they are on the wire: never a super-frame. */
  get gsoMaxSize(): number {
    return 0;
  }

  disableOffloads(): void {
    this.inner.disableOffloads?.();
  }

  get name(): string {
    return this.inner.name;
  }
  get mac(): Uint8Array {
    return this.inner.mac;
  }
  get mtu(): number {
    return this.inner.mtu;
  }
  /** What the inner link carries: a wrapper on a TUN or WireGuard link is IP-only too. */
  get medium(): 'ethernet' | 'ip' | undefined {
    return this.inner.medium;
  }
  /** A wrapper that only watches frames keeps the inner link's offload (a pcap then shows TCP checksums as 0, like tcpdump on `lo`). */
  get checksumOffload(): boolean {
    return this.inner.checksumOffload === true;
  }

  /** Subclasses: a frame going out. Return false when it was dropped. */
  abstract send(frame: Uint8Array): boolean;

  sendBatch(frames: readonly Uint8Array[]): number {
    let n = 0;
    for (const f of frames) if (this.send(f)) n++;
    return n;
  }

  /** Passes a batch to the inner link, keeping its batching (TAP: one native write call). */
  protected innerSendBatch(frames: readonly Uint8Array[]): number {
    if (this.inner.sendBatch) return this.inner.sendBatch(frames);
    let n = 0;
    for (const f of frames) if (this.inner.send(f)) n++;
    return n;
  }

  /** Subclasses: a batch that came in from the inner link; call deliver() with what passes. */
  protected abstract receive(frames: readonly Uint8Array[]): void;

  protected deliver(frames: readonly Uint8Array[]): void {
    this.rxTarget.deliver(frames);
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.inner.onFrames((frames) => this.receive(frames));
  }

  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.rxTarget.onFrames(handler);
    this.listen();
  }

  attachRxRing(ring: FrameRing, onReadable?: () => void): void {
    this.rxTarget.attachRxRing(ring, onReadable);
    this.listen();
  }

  stats(): LinkStats {
    const s = this.inner.stats();
    if (this.rxTarget.ringDropped) s.rxDropped += this.rxTarget.ringDropped;
    return s;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
