/**
 * withTracer(link, log): one line per frame — time, direction, length, MACs, ethertype,
 * IPv4/IPv6 addresses and protocol — to a function or a writable stream.
 */
import { describeFrame, describePacket } from './decode.js';
import type { Link } from './link.js';
import { WrappedLink } from './wrapped-link.js';

export type TraceSink = ((line: string) => void) | { write(chunk: string): unknown };

class TracerLink extends WrappedLink {
  private readonly out: (line: string) => void;
  private readonly t0 = performance.now();
  constructor(inner: Link, log: TraceSink) {
    super(inner);
    this.out = typeof log === 'function' ? log : (line) => log.write(`${line}\n`);
  }
  private line(dir: string, f: Uint8Array): void {
    const t = ((performance.now() - this.t0) / 1000).toFixed(6);
    this.out(
      `${t} ${this.inner.name} ${dir} ${f.length} ${this.inner.medium === 'ip' ? describePacket(f) : describeFrame(f)}`,
    );
  }
  send(frame: Uint8Array): boolean {
    this.line('tx', frame);
    return this.inner.send(frame);
  }
  override sendBatch(frames: readonly Uint8Array[]): number {
    for (const f of frames) this.line('tx', f);
    return this.innerSendBatch(frames);
  }
  protected receive(frames: readonly Uint8Array[]): void {
    for (const f of frames) this.line('rx', f);
    this.deliver(frames);
  }
}

/** Logs every frame through `link`; returns the wrapped link. */
export function withTracer(link: Link, log: TraceSink = (l) => console.log(l)): Link {
  return new TracerLink(link, log);
}
