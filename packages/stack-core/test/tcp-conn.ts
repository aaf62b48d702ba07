/**
 * A connection to a scripted peer, for layer-2 TCP tests: passive and active opens with
 * the peer's options, segments injected from the peer, and small helpers.
 */
import { expect } from 'vitest';
import { SocketEvent } from '../src/registration.js';
import { seqAdd } from '../src/seq.js';
import { F, Harness, type Seg } from './tcp-helpers.js';

export const PEER_PORT = 40000;
export const PORT = 80;
export const PEER_ISS = 1_000_000;
export const PEER_TS = 5000;

export function only(segs: Seg[]): Seg {
  expect(segs.length).toBe(1);
  return segs[0]!;
}

export function flagsOf(s: Seg): number {
  return s.repr.flags;
}

export interface Conn {
  t: Harness;
  h: number;
  port: number;
  /** Our next sequence number as the peer sees it. */
  ourSeq: number;
  /** Peer's next sequence number. */
  peerSeq: number;
  tsVal: number;
}

/** Passive open with options (SYN with MSS 1460, WS 7, SACK-permitted, TS), accepted. */
export function passive(
  t = new Harness(),
  opts: { sack?: boolean; ts?: boolean; ws?: number; mss?: number; rtt?: number } = {},
): Conn & { l: number } {
  const sack = opts.sack ?? true;
  const ts = opts.ts ?? true;
  const l = t.tcp.tcpOpen();
  expect(t.tcp.tcpBind(l, undefined, PORT)).toBe(0);
  expect(t.tcp.tcpListen(l, 8)).toBe(0);
  t.inject({
    srcPort: PEER_PORT,
    dstPort: PORT,
    seq: PEER_ISS,
    flags: F.SYN,
    mss: opts.mss ?? 1460,
    wscale: opts.ws ?? 7,
    sackPermitted: sack,
    ...(ts ? { ts: [PEER_TS, 0] as [number, number] } : {}),
  });
  const synAck = only(t.flush());
  expect(flagsOf(synAck)).toBe(F.SYN | F.ACK);
  const ourSeq = seqAdd(synAck.repr.seq, 1);
  // The handshake's ACK arrives one RTT after the SYN,ACK (0 unless asked).
  t.now += opts.rtt ?? 0;
  t.inject({
    srcPort: PEER_PORT,
    dstPort: PORT,
    seq: PEER_ISS + 1,
    ack: ourSeq,
    flags: F.ACK,
    window: 1024,
    ...(ts ? { ts: [PEER_TS + 1, synAck.repr.tsVal] as [number, number] } : {}),
  });
  expect(t.host.takeEvents(l) & SocketEvent.Acceptable).toBeTruthy();
  const h = t.tcp.tcpAccept(l)!;
  expect(h).toBeGreaterThan(0);
  expect(t.flush()).toEqual([]);
  return { t, l, h, port: PORT, ourSeq, peerSeq: PEER_ISS + 1, tsVal: PEER_TS + 1 };
}

/** Active open: connect, answer the SYN with SYN,ACK (window 1024 << 7). */
export function active(t = new Harness(), opts: { sack?: boolean; ts?: boolean } = {}): Conn {
  const sack = opts.sack ?? true;
  const ts = opts.ts ?? true;
  const h = t.tcp.tcpOpen();
  expect(t.tcp.tcpConnect(h, t.peer, PEER_PORT, t.now)).toBe(0);
  const syn = only(t.flush());
  expect(flagsOf(syn)).toBe(F.SYN);
  t.inject({
    srcPort: PEER_PORT,
    dstPort: syn.repr.srcPort,
    seq: PEER_ISS,
    ack: seqAdd(syn.repr.seq, 1),
    flags: F.SYN | F.ACK,
    mss: 1460,
    wscale: 7,
    sackPermitted: sack,
    window: 1024,
    ...(ts ? { ts: [PEER_TS, syn.repr.tsVal] as [number, number] } : {}),
  });
  const ack = only(t.flush());
  expect(flagsOf(ack)).toBe(F.ACK);
  expect(ack.repr.ack).toBe(PEER_ISS + 1);
  // The first scaled window offers exactly the receive buffer, never more (RFC 7323 §2.3).
  expect(ack.repr.window * 2 ** syn.repr.wscale).toBe(262144);
  return {
    t,
    h,
    port: syn.repr.srcPort,
    ourSeq: seqAdd(syn.repr.seq, 1),
    peerSeq: PEER_ISS + 1,
    tsVal: PEER_TS,
  };
}

export function localPort(c: Conn): number {
  return c.port;
}

/** Injects a segment from the peer on an established connection. */
export function peerSend(
  c: Conn,
  o: {
    flags?: number;
    data?: Uint8Array;
    seq?: number;
    ack?: number;
    window?: number;
    sack?: [number, number][];
    ts?: number;
    /** TSecr to echo (default 0: no RTT sample); `noTs` sends no timestamp option. */
    ecr?: number;
    noTs?: boolean;
  },
): void {
  const data = o.data ?? new Uint8Array(0);
  c.t.inject({
    srcPort: PEER_PORT,
    dstPort: localPort(c),
    seq: o.seq ?? c.peerSeq,
    ack: o.ack ?? c.ourSeq,
    flags: o.flags ?? F.ACK,
    window: o.window ?? 1024,
    ...(o.noTs ? {} : { ts: [o.ts ?? ++c.tsVal, o.ecr ?? 0] as [number, number] }),
    payload: data,
    ...(o.sack ? { sack: o.sack } : {}),
  });
  if (o.seq === undefined) c.peerSeq = seqAdd(c.peerSeq, data.length + ((o.flags ?? 0) & F.FIN ? 1 : 0));
}

export function bytes(n: number, base = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (base + i) & 0xff;
  return b;
}

export function state(c: Conn): string {
  return c.t.tcp.tcpInfo(c.h)!.state;
}
