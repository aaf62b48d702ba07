/**
 * Resets that answer segments no connection takes (RFC 9293 §3.10.7.1) or unacceptable
 * ACKs in SYN-SENT / SYN-RECEIVED (§3.10.7.3, §3.10.7.4): queued as they are found,
 * bounded, sent on the next poll. They keep no state.
 */
import type { IpHost } from '../registration.js';
import { seqAdd } from '../seq.js';
import type { IpAddress } from '../wire/ip-address.js';
import { fillTcpChecksum, TCP_PROTOCOL, TcpFlags, type TcpRepr } from '../wire/tcp.js';

const { FIN, SYN, RST, ACK } = TcpFlags;

/** RSTs queued between polls; more are dropped and counted (tcp.rstDropped). */
const MAX_QUEUED_RSTS = 256;

interface PendingRst {
  src: IpAddress;
  dst: IpAddress;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
}

export class RstReplies {
  private readonly queue: PendingRst[] = [];

  constructor(
    private readonly host: IpHost,
    private readonly tx: TcpRepr,
    private readonly scratch: Uint8Array,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  /** Queues the reset that answers `r` (received src → dst; `src` is our side) carrying dataLen bytes. */
  answer(src: IpAddress, dst: IpAddress, r: TcpRepr, dataLen: number): void {
    if (this.queue.length >= MAX_QUEUED_RSTS) {
      this.host.count('tcp.rstDropped');
      return;
    }
    const segLen = dataLen + (r.flags & SYN ? 1 : 0) + (r.flags & FIN ? 1 : 0);
    this.queue.push(
      r.flags & ACK
        ? { src, dst, srcPort: r.dstPort, dstPort: r.srcPort, seq: r.ack, ack: 0, flags: RST }
        : {
            src,
            dst,
            srcPort: r.dstPort,
            dstPort: r.srcPort,
            seq: 0,
            ack: seqAdd(r.seq, segLen),
            flags: RST | ACK,
          },
    );
  }

  /** Sends what is queued. */
  flush(now: number): void {
    if (this.queue.length === 0) return;
    for (const p of this.queue.splice(0)) this.send(p, now);
  }

  private send(p: PendingRst, now: number): void {
    const r = this.tx;
    r.srcPort = p.srcPort;
    r.dstPort = p.dstPort;
    r.seq = p.seq;
    r.ack = p.ack;
    r.flags = p.flags;
    r.window = 0;
    r.urgent = 0;
    r.checksum = 0;
    r.clearOptions();
    const hlen = r.emit(this.scratch, 0);
    const seg = this.scratch.subarray(0, hlen);
    fillTcpChecksum(p.src, p.dst, seg);
    this.host.sendIp(p.src, p.dst, TCP_PROTOCOL, seg, now);
    this.host.count('tcp.rstSent');
  }
}
