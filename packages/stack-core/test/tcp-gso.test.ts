/**
 * TCP and GSO/GRO super-segments (tap-io `offload: true`: the kernel hands over one IP
 * packet carrying many MSS-sized segments). RFC 9293 §3.8.6.3 / RFC 5681 §4.2: the receiver
 * ACKs at least every second full-sized segment; a super-segment stands for many of them,
 * and must not be taken as the peer's segment size.
 */
import { describe, expect, it } from 'vitest';
import { type IpHost, SocketEvent } from '../src/registration.js';
import { seqAdd } from '../src/seq.js';
import { F, Harness, type Seg } from './tcp-helpers.js';

const PEER_PORT = 40000;
const PORT = 80;
const PEER_ISS = 1_000_000;

function only(segs: Seg[]): Seg {
  expect(segs.length).toBe(1);
  return segs[0]!;
}

/** Passive open (MSS 1460, WS 7, SACK, TS), accepted; returns a sender of peer data. */
function established(gsoMaxSize = 0) {
  const t = new Harness();
  const gsoSizes: number[] = [];
  if (gsoMaxSize > 0) {
    // The route's interface cuts TCP super-segments (IpHost.gsoMaxSize); record the gsoSize of each send.
    const host: IpHost = t.host;
    host.gsoMaxSize = () => gsoMaxSize;
    const send = t.host.sendIp.bind(t.host);
    host.sendIp = (src, dst, protocol, payload, now, gsoSize) => {
      gsoSizes.push(gsoSize ?? 0);
      return send(src, dst, protocol, payload, now);
    };
  }
  const l = t.tcp.tcpOpen();
  t.tcp.tcpBind(l, undefined, PORT);
  t.tcp.tcpListen(l, 8);
  let ts = 5000;
  t.inject({
    srcPort: PEER_PORT,
    dstPort: PORT,
    seq: PEER_ISS,
    flags: F.SYN,
    mss: 1460,
    wscale: 7,
    sackPermitted: true,
    ts: [ts, 0],
  });
  const synAck = only(t.flush());
  const ourSeq = seqAdd(synAck.repr.seq, 1);
  t.inject({
    srcPort: PEER_PORT,
    dstPort: PORT,
    seq: PEER_ISS + 1,
    ack: ourSeq,
    flags: F.ACK,
    window: 1024,
    ts: [++ts, synAck.repr.tsVal],
  });
  expect(t.host.takeEvents(l) & SocketEvent.Acceptable).toBeTruthy();
  const h = t.tcp.tcpAccept(l)!;
  let peerSeq = PEER_ISS + 1;
  const send = (n: number) => {
    t.inject({
      srcPort: PEER_PORT,
      dstPort: PORT,
      seq: peerSeq,
      ack: ourSeq,
      flags: F.ACK,
      window: 1024,
      ts: [++ts, 0],
      payload: new Uint8Array(n),
    });
    peerSeq = seqAdd(peerSeq, n);
    return peerSeq;
  };
  const ack = (n: number) => {
    t.inject({
      srcPort: PEER_PORT,
      dstPort: PORT,
      seq: peerSeq,
      ack: seqAdd(ourSeq, n),
      flags: F.ACK,
      window: 4096,
      ts: [++ts, 0],
    });
  };
  gsoSizes.length = 0; // the handshake's
  return { t, h, send, ack, gsoSizes };
}

describe('GSO super-segments — RFC 9293 §3.8.6.3, RFC 5681 §4.2', () => {
  it('ACKs a super-segment at once and keeps ACKing every second MSS-sized segment after it', () => {
    const c = established();
    c.send(1448);
    expect(c.t.flush()).toEqual([]); // one segment: the ACK is delayed
    const end = c.send(10 * 1448); // ten segments in one packet
    expect(only(c.t.flush()).repr.ack).toBe(end);
    c.send(1448);
    expect(c.t.flush()).toEqual([]);
    const end2 = c.send(1448);
    // Two full-sized segments: ACK now. (Taking the super-segment as the peer's segment
    // size held this ACK until 2 x 14480 bytes had come.)
    expect(only(c.t.flush()).repr.ack).toBe(end2);
  });

  it('hands new data down as super-segments of whole MSS-sized segments, gsoSize = the segment payload', () => {
    const c = established(65535);
    const data = new Uint8Array(200_000).map((_, i) => i * 7);
    expect(c.t.tcp.tcpSend(c.h, data)).toBe(200_000);
    // Initial window: 10 segments of 1448 (MSS 1460 less the timestamp option) in one packet.
    const first = only(c.t.flush());
    expect(first.payload.length).toBe(10 * 1448);
    expect(c.gsoSizes).toEqual([1448]);
    expect(first.payload).toEqual(data.subarray(0, 10 * 1448));
    c.ack(10 * 1448);
    const next = c.t.flush();
    // Slow start doubled the window: more whole segments per packet, still cut at 1448.
    const total = next.reduce((n, s) => n + s.payload.length, 0);
    expect(total).toBeGreaterThanOrEqual(20 * 1448);
    for (const s of next) expect(s.payload.length % 1448).toBe(0);
    expect(next.length).toBeLessThan(total / 1448);
    expect(c.gsoSizes.slice(1).every((g) => g === 1448)).toBe(true);
  });

  it('without segmentation offload every segment is at most one MSS', () => {
    const c = established();
    expect(c.t.tcp.tcpSend(c.h, new Uint8Array(200_000))).toBe(200_000);
    const segs = c.t.flush();
    expect(segs.length).toBe(10);
    for (const s of segs) expect(s.payload.length).toBe(1448);
  });
});
