/**
 * TCP and GSO/GRO super-segments (tap-io `offload: true`: the kernel hands over one IP
 * packet carrying many MSS-sized segments). RFC 9293 §3.8.6.3 / RFC 5681 §4.2: the receiver
 * ACKs at least every second full-sized segment; a super-segment stands for many of them,
 * and must not be taken as the peer's segment size.
 */
import { describe, expect, it } from 'vitest';
import { SocketEvent } from '../src/registration.js';
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
function established() {
  const t = new Harness();
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
  return { t, h, send };
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
});
