/**
 * Layer 2: one TcpLayer against a scripted peer, one banner per RFC 9293 state, time
 * always explicit. Each test names the section it checks.
 */
import { describe, expect, it } from 'vitest';
import { EOF, IcmpErrorKind, SocketError, SocketEvent } from '../src/registration.js';
import { seqAdd, seqDiff } from '../src/seq.js';
import { parseIpAddress } from '../src/wire/ip-address.js';
import { craft, F, Harness, type Seg } from './tcp-helpers.js';

import {
  PEER_ISS,
  PEER_PORT,
  PORT,
  active,
  bytes,
  flagsOf,
  only,
  passive,
  peerSend,
  state,
} from './tcp-conn.js';

// ============================================================ CLOSED (RFC 9293 §3.10.7.1)
describe('CLOSED — RFC 9293 §3.10.7.1', () => {
  it('answers a SYN to a closed port with RST,ACK <SEQ=0><ACK=SEG.SEQ+SEG.LEN>', () => {
    const t = new Harness();
    t.inject({ srcPort: PEER_PORT, dstPort: 81, seq: 777, flags: F.SYN });
    const r = only(t.flush());
    expect(flagsOf(r)).toBe(F.RST | F.ACK);
    expect(r.repr.seq).toBe(0);
    expect(r.repr.ack).toBe(778);
  });
  it('answers an ACK with <SEQ=SEG.ACK><CTL=RST> and ignores an RST', () => {
    const t = new Harness();
    t.inject({ srcPort: PEER_PORT, dstPort: 81, seq: 777, ack: 4242, flags: F.ACK, payload: bytes(10) });
    const r = only(t.flush());
    expect(flagsOf(r)).toBe(F.RST);
    expect(r.repr.seq).toBe(4242);
    t.inject({ srcPort: PEER_PORT, dstPort: 81, seq: 777, flags: F.RST });
    expect(t.flush()).toEqual([]);
  });
  it('drops segments with a bad checksum and counts them', () => {
    const t = new Harness();
    const l = t.tcp.tcpOpen();
    t.tcp.tcpBind(l, undefined, PORT);
    t.tcp.tcpListen(l, 4);
    const seg = craft(t.peer, t.local, { srcPort: PEER_PORT, dstPort: PORT, seq: 1, flags: F.SYN });
    seg[4] = seg[4]! ^ 0x40;
    t.tcp.input(t.peer, t.local, seg, 0);
    expect(t.flush()).toEqual([]);
    expect(t.host.counters.get('tcp.badChecksum')).toBe(1);
  });
});

// ============================================================ LISTEN (RFC 9293 §3.10.7.2)
describe('LISTEN — RFC 9293 §3.10.7.2', () => {
  it('answers a SYN with SYN,ACK carrying MSS, window scale, SACK-permitted and timestamps', () => {
    const t = new Harness({ mtu: 1400 });
    const l = t.tcp.tcpOpen();
    t.tcp.tcpBind(l, undefined, PORT);
    t.tcp.tcpListen(l, 8);
    t.inject({
      srcPort: PEER_PORT,
      dstPort: PORT,
      seq: 5,
      flags: F.SYN,
      mss: 1460,
      wscale: 2,
      sackPermitted: true,
      ts: [9, 0],
    });
    const s = only(t.flush());
    expect(flagsOf(s)).toBe(F.SYN | F.ACK);
    expect(s.repr.ack).toBe(6);
    expect(s.repr.mss).toBe(1400 - 40); // RFC 9293 §3.7.1: clamped to the path (IPv4 + TCP headers)
    expect(s.repr.wscale).toBeGreaterThan(0);
    expect(s.repr.sackPermitted).toBe(true);
    expect(s.repr.hasTimestamp).toBe(true);
    expect(s.repr.tsEcr).toBe(9);
  });
  it('offers no window scale, SACK or timestamps the SYN did not offer (RFC 7323 §1.3, RFC 2018 §2)', () => {
    const t = new Harness();
    const l = t.tcp.tcpOpen();
    t.tcp.tcpBind(l, undefined, PORT);
    t.tcp.tcpListen(l, 8);
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 5, flags: F.SYN });
    const s = only(t.flush());
    expect(s.repr.wscale).toBe(-1);
    expect(s.repr.sackPermitted).toBe(false);
    expect(s.repr.hasTimestamp).toBe(false);
  });
  it('answers an ACK with RST and ignores an RST', () => {
    const t = new Harness();
    const l = t.tcp.tcpOpen();
    t.tcp.tcpBind(l, undefined, PORT);
    t.tcp.tcpListen(l, 8);
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 5, ack: 99, flags: F.ACK });
    const r = only(t.flush());
    expect(flagsOf(r)).toBe(F.RST);
    expect(r.repr.seq).toBe(99);
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 5, flags: F.RST });
    expect(t.flush()).toEqual([]);
  });
  it('keeps data that arrives before accept, and the FIN after it', () => {
    const t = new Harness();
    const l = t.tcp.tcpOpen();
    t.tcp.tcpBind(l, undefined, PORT);
    t.tcp.tcpListen(l, 8);
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 100, flags: F.SYN, mss: 1460 });
    const synAck = only(t.flush());
    const ack = seqAdd(synAck.repr.seq, 1);
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 101, ack, flags: F.ACK });
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 101, ack, flags: F.ACK | F.PSH, payload: bytes(300) });
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 401, ack, flags: F.ACK | F.FIN });
    const h = t.tcp.tcpAccept(l)!;
    t.flush();
    // Events that happened before accept are reported on the next poll.
    expect(t.host.takeEvents(h) & SocketEvent.Readable).toBeTruthy();
    const buf = new Uint8Array(1000);
    expect(t.tcp.tcpRecv(h, buf)).toBe(300);
    expect(buf.subarray(0, 300)).toEqual(bytes(300));
    expect(t.tcp.tcpRecv(h, buf)).toBe(EOF);
  });
  it('drops SYNs while the accept queue is full (backlog)', () => {
    const t = new Harness();
    const l = t.tcp.tcpOpen();
    t.tcp.tcpBind(l, undefined, PORT);
    t.tcp.tcpListen(l, 1);
    for (const p of [1000, 1001]) {
      t.inject({ srcPort: p, dstPort: PORT, seq: 100, flags: F.SYN });
      const sa = t.flush();
      if (p === 1000) {
        t.inject({ srcPort: p, dstPort: PORT, seq: 101, ack: seqAdd(only(sa).repr.seq, 1), flags: F.ACK });
      } else {
        expect(sa).toEqual([]);
      }
    }
    expect(t.host.counters.get('tcp.listenOverflow')).toBe(1);
    expect(t.tcp.tcpAccept(l)).toBeGreaterThan(0);
    expect(t.tcp.tcpAccept(l)).toBeUndefined();
  });
  it('survives a SYN flood: the SYN queue is bounded, then SYN cookies (RFC 4987 §3.6), no eviction', () => {
    const t = new Harness();
    const l = t.tcp.tcpOpen();
    t.tcp.tcpBind(l, undefined, PORT);
    t.tcp.tcpListen(l, 8);
    for (let p = 1; p <= 1000; p++) t.inject({ srcPort: p, dstPort: PORT, seq: p * 1000, flags: F.SYN });
    t.flush();
    expect(t.host.counters.get('tcp.synCookiesSent')).toBe(1000 - 128);
    expect(t.host.counters.get('tcp.synQueueEvictions')).toBeUndefined();
    expect(t.tcp.connectionCount()).toBe(128);
    // A legitimate client still gets through.
    t.inject({ srcPort: 5555, dstPort: PORT, seq: 7, flags: F.SYN });
    const sa = only(t.flush());
    t.inject({ srcPort: 5555, dstPort: PORT, seq: 8, ack: seqAdd(sa.repr.seq, 1), flags: F.ACK });
    expect(t.tcp.tcpAccept(l)).toBeGreaterThan(0);
  });
  it('listening twice on one port is EADDRINUSE; closing a listener frees it', () => {
    const t = new Harness();
    const a = t.tcp.tcpOpen();
    const b = t.tcp.tcpOpen();
    expect(t.tcp.tcpBind(a, undefined, PORT)).toBe(0);
    expect(t.tcp.tcpListen(a, 1)).toBe(0);
    expect(t.tcp.tcpBind(b, undefined, PORT)).toBe(SocketError.EADDRINUSE);
    expect(t.tcp.tcpBind(b, t.local, PORT)).toBe(SocketError.EADDRINUSE);
    t.tcp.tcpClose(a);
    expect(t.tcp.tcpBind(b, undefined, PORT)).toBe(0);
  });
});

// ============================================================ SYN-SENT (RFC 9293 §3.10.7.3)
describe('SYN-SENT — RFC 9293 §3.10.7.3', () => {
  it('sends a SYN with options from an RFC 6056 ephemeral port and an RFC 6528 ISN', () => {
    const t = new Harness();
    const h = t.tcp.tcpOpen();
    t.tcp.tcpConnect(h, t.peer, 443, 0);
    const syn = only(t.flush());
    expect(syn.repr.srcPort).toBeGreaterThanOrEqual(49152);
    expect(syn.repr.mss).toBe(1460);
    expect(syn.repr.sackPermitted).toBe(true);
    expect(syn.repr.wscale).toBeGreaterThanOrEqual(0);
    expect(syn.repr.hasTimestamp).toBe(true);
    expect(t.tcp.tcpInfo(h)!.state).toBe('SYN-SENT');
    // A second connection to the same peer port gets another port and an unrelated ISN.
    const h2 = t.tcp.tcpOpen();
    t.tcp.tcpConnect(h2, t.peer, 443, 0);
    const syn2 = only(t.flush());
    expect(syn2.repr.srcPort).not.toBe(syn.repr.srcPort);
    expect(syn2.repr.seq).not.toBe(syn.repr.seq);
  });
  it('RFC 6528: the ISN for one 4-tuple advances with the 4 µs clock', () => {
    const t = new Harness();
    const a = t.tcp.tcpOpen();
    t.tcp.tcpBind(a, undefined, 3333);
    t.tcp.tcpConnect(a, t.peer, 443, 0);
    const s1 = only(t.flush()).repr.seq;
    t.tcp.tcpAbort(a);
    t.flush();
    t.now = 1000;
    const b = t.tcp.tcpOpen();
    t.tcp.tcpBind(b, undefined, 3333);
    t.tcp.tcpConnect(b, t.peer, 443, t.now);
    const s2 = only(t.flush()).repr.seq;
    expect((s2 - s1) >>> 0).toBe(250_000);
  });
  it('SYN,ACK → ESTABLISHED, reports Connected, ACKs', () => {
    const c = active();
    expect(state(c)).toBe('ESTABLISHED');
    expect(c.t.host.takeEvents(c.h) & SocketEvent.Connected).toBeTruthy();
    expect(c.t.tcp.tcpInfo(c.h)!.mss).toBe(1460 - 12);
  });
  it('RFC 7323 §2.3: the window after the handshake is the receive buffer, whatever the peer ISN', () => {
    for (const iss of [0, 0x7fff0000, 0xfff00000, 0xffffffff]) {
      const t = new Harness();
      const h = t.tcp.tcpOpen();
      t.tcp.tcpConnect(h, t.peer, 443, 0);
      const syn = only(t.flush());
      t.inject({
        srcPort: 443,
        dstPort: syn.repr.srcPort,
        seq: iss,
        ack: seqAdd(syn.repr.seq, 1),
        flags: F.SYN | F.ACK,
        mss: 1460,
        wscale: 7,
      });
      const ack = only(t.flush());
      expect(ack.repr.window * 2 ** syn.repr.wscale).toBe(262144);
    }
  });
  it('an RST acknowledging the SYN refuses the connection (ECONNREFUSED)', () => {
    const t = new Harness();
    const h = t.tcp.tcpOpen();
    t.tcp.tcpConnect(h, t.peer, 443, 0);
    const syn = only(t.flush());
    // An RST without ACK is ignored; an unacceptable ACK gets an RST.
    t.inject({ srcPort: 443, dstPort: syn.repr.srcPort, seq: 0, flags: F.RST });
    t.inject({ srcPort: 443, dstPort: syn.repr.srcPort, seq: 0, ack: syn.repr.seq + 77, flags: F.ACK });
    const r = only(t.flush());
    expect(flagsOf(r)).toBe(F.RST);
    expect(r.repr.seq).toBe(syn.repr.seq + 77);
    expect(t.tcp.tcpInfo(h)!.state).toBe('SYN-SENT');
    t.inject({
      srcPort: 443,
      dstPort: syn.repr.srcPort,
      seq: 0,
      ack: seqAdd(syn.repr.seq, 1),
      flags: F.RST | F.ACK,
    });
    expect(t.host.takeEvents(h) & SocketEvent.Error).toBeTruthy();
    expect(t.tcp.socketError(h)).toBe(SocketError.ECONNREFUSED);
    expect(t.tcp.tcpInfo(h)!.state).toBe('CLOSED');
  });
  it('retransmits the SYN with exponential backoff (RFC 6298 §5.5) and times out (ETIMEDOUT)', () => {
    const t = new Harness({ config: { maxSynRetries: 3 } });
    const h = t.tcp.tcpOpen();
    t.tcp.tcpConnect(h, t.peer, 443, 0);
    const times: number[] = [];
    t.host.onSend = (_s, _d, _p, now) => times.push(now);
    t.advanceTo(100_000);
    expect(times).toEqual([0, 1000, 3000, 7000]);
    expect(t.tcp.socketError(h)).toBe(SocketError.ETIMEDOUT);
  });
  it('simultaneous open (§3.5 figure 8): SYN → SYN-RECEIVED, SYN,ACK → ESTABLISHED', () => {
    const t = new Harness();
    const h = t.tcp.tcpOpen();
    t.tcp.tcpBind(h, undefined, 2000);
    t.tcp.tcpConnect(h, t.peer, 3000, 0);
    const syn = only(t.flush());
    t.inject({ srcPort: 3000, dstPort: 2000, seq: 500, flags: F.SYN, mss: 1000 });
    expect(t.tcp.tcpInfo(h)!.state).toBe('SYN-RECEIVED');
    const sa = only(t.flush());
    expect(flagsOf(sa)).toBe(F.SYN | F.ACK);
    expect(sa.repr.seq).toBe(syn.repr.seq);
    expect(sa.repr.ack).toBe(501);
    t.inject({
      srcPort: 3000,
      dstPort: 2000,
      seq: 501,
      ack: seqAdd(syn.repr.seq, 1),
      flags: F.SYN | F.ACK,
      mss: 1000,
    });
    t.inject({ srcPort: 3000, dstPort: 2000, seq: 501, ack: seqAdd(syn.repr.seq, 1), flags: F.ACK });
    expect(t.tcp.tcpInfo(h)!.state).toBe('ESTABLISHED');
    expect(t.host.takeEvents(h) & SocketEvent.Connected).toBeTruthy();
  });
  it('an ICMP unreachable while connecting ends the attempt (RFC 1122 §4.2.3.9)', () => {
    const t = new Harness();
    const h = t.tcp.tcpOpen();
    t.tcp.tcpConnect(h, t.peer, 443, 0);
    const syn = only(t.flush());
    const quoted = new Uint8Array(20);
    quoted.set(
      t.host.sent.length ? [] : [syn.repr.srcPort >> 8, syn.repr.srcPort & 255, 443 >> 8, 443 & 255],
    );
    new DataView(quoted.buffer).setUint32(4, syn.repr.seq);
    t.tcp.icmpError(IcmpErrorKind.Unreachable, t.local, t.peer, quoted, 0, 10);
    expect(t.tcp.socketError(h)).toBe(SocketError.EHOSTUNREACH);
  });
  it('connecting with no route is EHOSTUNREACH; binding a foreign address is EADDRNOTAVAIL', () => {
    const t = new Harness();
    const h = t.tcp.tcpOpen();
    expect(t.tcp.tcpConnect(h, parseIpAddress('2001:db8::9'), 80, 0)).toBe(SocketError.EHOSTUNREACH);
    expect(t.tcp.tcpBind(h, t.peer, 80)).toBe(SocketError.EADDRNOTAVAIL);
    expect(t.tcp.tcpSend(h, bytes(1))).toBe(-SocketError.ENOTCONN);
  });
});

// ============================================================ SYN-RECEIVED
describe('SYN-RECEIVED — RFC 9293 §3.10.7.4', () => {
  function synRcvd(): { t: Harness; l: number; sa: Seg } {
    const t = new Harness({ config: { maxSynRetries: 2 } });
    const l = t.tcp.tcpOpen();
    t.tcp.tcpBind(l, undefined, PORT);
    t.tcp.tcpListen(l, 8);
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 10, flags: F.SYN });
    return { t, l, sa: only(t.flush()) };
  }
  it('retransmits the SYN,ACK on timeout and on a duplicate SYN, then gives up silently', () => {
    const { t, l, sa } = synRcvd();
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 10, flags: F.SYN });
    const again = only(t.flush());
    expect(again.repr.seq).toBe(sa.repr.seq);
    t.advanceTo(1000);
    expect(flagsOf(only(t.drain()))).toBe(F.SYN | F.ACK);
    t.advanceTo(60_000);
    expect(t.drain().length).toBe(1);
    expect(t.tcp.connectionCount()).toBe(0);
    expect(t.tcp.tcpAccept(l)).toBeUndefined();
  });
  it('an RST returns to LISTEN: the half-open connection disappears', () => {
    const { t, l } = synRcvd();
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 11, flags: F.RST });
    expect(t.tcp.connectionCount()).toBe(0);
    expect(t.tcp.tcpAccept(l)).toBeUndefined();
    expect(t.flush()).toEqual([]);
  });
  it('an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST>', () => {
    const { t, sa } = synRcvd();
    t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 11, ack: seqAdd(sa.repr.seq, 1000), flags: F.ACK });
    const r = only(t.flush());
    expect(flagsOf(r)).toBe(F.RST);
    expect(r.repr.seq).toBe(seqAdd(sa.repr.seq, 1000));
  });
});

// ============================================================ ESTABLISHED
describe('ESTABLISHED — RFC 9293 §3.10.7.4', () => {
  it('delays the ACK of one segment up to 40 ms, ACKs every second full segment at once (RFC 1122 §4.2.3.2)', () => {
    const c = passive();
    peerSend(c, { data: bytes(100) });
    expect(c.t.flush()).toEqual([]);
    c.t.advanceTo(39);
    expect(c.t.drain()).toEqual([]);
    c.t.advanceTo(40);
    expect(only(c.t.drain()).repr.ack).toBe(c.peerSeq);
    peerSend(c, { data: bytes(1448) });
    expect(c.t.flush()).toEqual([]);
    peerSend(c, { data: bytes(1448) });
    expect(only(c.t.flush()).repr.ack).toBe(c.peerSeq);
    expect(c.t.host.takeEvents(c.h) & SocketEvent.Readable).toBeTruthy();
  });
  it('ACKs out-of-order data at once with a SACK block, keeps it, and ACKs the filled hole at once (RFC 2018 §4, RFC 5681 §4.2)', () => {
    const c = passive();
    const first = c.peerSeq;
    peerSend(c, { seq: seqAdd(first, 1000), data: bytes(500, 1000) });
    const dup = only(c.t.flush());
    expect(dup.repr.ack).toBe(first);
    expect(dup.repr.sackCount).toBe(1);
    expect([dup.repr.sack[0], dup.repr.sack[1]]).toEqual([seqAdd(first, 1000), seqAdd(first, 1500)]);
    peerSend(c, { seq: seqAdd(first, 2000), data: bytes(100, 2000) });
    const dup2 = only(c.t.flush());
    expect(dup2.repr.sackCount).toBe(2);
    expect(dup2.repr.sack[0]).toBe(seqAdd(first, 2000)); // the newest block first
    peerSend(c, { seq: first, data: bytes(1000) });
    const ack = only(c.t.flush());
    expect(ack.repr.ack).toBe(seqAdd(first, 1500));
    expect(ack.repr.sackCount).toBe(1);
    const buf = new Uint8Array(4000);
    expect(c.t.tcp.tcpRecv(c.h, buf)).toBe(1500);
    expect(buf.subarray(0, 1500)).toEqual(bytes(1500));
  });
  it('RFC 2883: a duplicate segment is reported once with a D-SACK block first', () => {
    const c = passive();
    const s0 = c.peerSeq;
    peerSend(c, { data: bytes(100) });
    peerSend(c, { seq: seqAdd(s0, 300), data: bytes(50) });
    c.t.flush();
    peerSend(c, { seq: s0, data: bytes(100) });
    const d = only(c.t.flush());
    expect(d.repr.ack).toBe(seqAdd(s0, 100));
    expect(d.repr.sackCount).toBe(2);
    expect([d.repr.sack[0], d.repr.sack[1]]).toEqual([s0, seqAdd(s0, 100)]);
    expect([d.repr.sack[2], d.repr.sack[3]]).toEqual([seqAdd(s0, 300), seqAdd(s0, 350)]);
    // A duplicate of out-of-order data is a D-SACK too; the next ACK no longer carries it.
    peerSend(c, { seq: seqAdd(s0, 300), data: bytes(50) });
    const d2 = only(c.t.flush());
    expect([d2.repr.sack[0], d2.repr.sack[1]]).toEqual([seqAdd(s0, 300), seqAdd(s0, 350)]);
    expect(d2.repr.sackCount).toBe(2);
    peerSend(c, { seq: seqAdd(s0, 200), data: bytes(10) });
    const d3 = only(c.t.flush());
    expect(d3.repr.sackCount).toBe(2);
    expect(d3.repr.sack[0]).toBe(seqAdd(s0, 200));
  });
  it('RFC 5961 §3.2: an RST at RCV.NXT resets (ECONNRESET); an in-window RST gets a challenge ACK; others are ignored', () => {
    const c = passive();
    peerSend(c, { flags: F.RST, seq: seqAdd(c.peerSeq, 10) });
    const ch = only(c.t.flush());
    expect(flagsOf(ch)).toBe(F.ACK);
    expect(ch.repr.ack).toBe(c.peerSeq);
    peerSend(c, { flags: F.RST, seq: seqAdd(c.peerSeq, 10_000_000) });
    expect(c.t.flush()).toEqual([]);
    expect(state(c)).toBe('ESTABLISHED');
    peerSend(c, { flags: F.RST, seq: c.peerSeq });
    expect(c.t.host.takeEvents(c.h) & SocketEvent.Error).toBeTruthy();
    expect(c.t.tcp.tcpRecv(c.h, new Uint8Array(10))).toBe(-SocketError.ECONNRESET);
    expect(c.t.tcp.socketError(c.h)).toBe(SocketError.ECONNRESET);
    expect(c.t.tcp.tcpSend(c.h, bytes(1))).toBe(-SocketError.EPIPE);
  });
  it('RFC 5961 §7: challenge ACKs are rate-limited (1000 per second)', () => {
    const c = passive();
    let acks = 0;
    c.t.host.onSend = () => acks++;
    for (let i = 0; i < 1500; i++) {
      peerSend(c, { flags: F.RST, seq: seqAdd(c.peerSeq, 1 + i) });
      c.t.tcp.poll(c.t.now);
    }
    expect(acks).toBe(1000);
    expect(state(c)).toBe('ESTABLISHED');
    c.t.advanceTo(1000);
    peerSend(c, { flags: F.RST, seq: seqAdd(c.peerSeq, 1) });
    c.t.tcp.poll(c.t.now);
    expect(acks).toBe(1001);
  });
  it('RFC 5961 §4: a SYN gets a challenge ACK and changes nothing', () => {
    const c = passive();
    c.t.inject({ srcPort: PEER_PORT, dstPort: PORT, seq: 123, flags: F.SYN });
    const ch = only(c.t.flush());
    expect(flagsOf(ch)).toBe(F.ACK);
    expect(ch.repr.ack).toBe(c.peerSeq);
    expect(state(c)).toBe('ESTABLISHED');
  });
  it('RFC 5961 §5.2: an ACK for data never sent is answered with an ACK and dropped', () => {
    const c = passive();
    peerSend(c, { ack: seqAdd(c.ourSeq, 5000), data: bytes(10) });
    const a = only(c.t.flush());
    expect(a.repr.ack).toBe(seqAdd(c.peerSeq, -10));
    expect(c.t.tcp.tcpRecv(c.h, new Uint8Array(100))).toBe(0);
  });
  it('RFC 7323 §5 PAWS: a segment with an old timestamp is dropped and ACKed', () => {
    const c = passive();
    peerSend(c, { data: bytes(10), ts: 1 });
    expect(only(c.t.flush()).repr.ack).toBe(seqAdd(c.peerSeq, -10));
    expect(c.t.tcp.tcpRecv(c.h, new Uint8Array(100))).toBe(0);
    expect(c.t.host.counters.get('tcp.pawsDrop')).toBe(1);
  });
  it('an unacceptable segment (old duplicate) is ACKed (§3.10.7.4 first check)', () => {
    const c = passive();
    peerSend(c, { data: bytes(10) });
    peerSend(c, { seq: seqAdd(c.peerSeq, -10), data: bytes(10) });
    const a = only(c.t.flush());
    expect(a.repr.ack).toBe(c.peerSeq);
  });
  it('Nagle (RFC 9293 §3.7.4): holds a small segment while data is unacknowledged; no-delay sends it', () => {
    const c = passive();
    expect(c.t.tcp.tcpSend(c.h, bytes(10))).toBe(10);
    expect(only(c.t.flush()).payload.length).toBe(10);
    c.t.tcp.tcpSend(c.h, bytes(10));
    expect(c.t.flush()).toEqual([]);
    peerSend(c, { ack: seqAdd(c.ourSeq, 10) });
    const s = only(c.t.flush());
    expect(s.payload.length).toBe(10);
    expect(s.repr.seq).toBe(seqAdd(c.ourSeq, 10));
    c.t.tcp.tcpSetNoDelay(c.h, true);
    c.t.tcp.tcpSend(c.h, bytes(5));
    expect(only(c.t.flush()).payload.length).toBe(5);
  });
  it('sends full segments of the negotiated MSS minus the timestamp option, within the peer window', () => {
    const c = passive();
    // Peer window: 1024 << 7 = 131072.
    expect(c.t.tcp.tcpSend(c.h, bytes(200_000))).toBe(200_000);
    const segs = c.t.flush();
    // Initial window: 10 segments (RFC 6928).
    expect(segs.length).toBe(10);
    for (const s of segs) expect(s.payload.length).toBe(1448);
    expect(c.t.tcp.tcpInfo(c.h)!.sendWindow).toBe(1024 << 7);
  });
  it('RFC 6298: retransmits after the RTO, backs off, and ends in ETIMEDOUT after maxRetries', () => {
    const c = passive(new Harness({ config: { maxRetries: 3 } }));
    c.t.tcp.tcpSend(c.h, bytes(100));
    c.t.flush();
    const rto = c.t.tcp.tcpInfo(c.h)!.rto;
    expect(rto).toBe(200); // min RTO (no RTT sample yet beyond the handshake: srtt ~0)
    const times: number[] = [];
    c.t.host.onSend = (_s, _d, _p, now) => times.push(now);
    c.t.advanceTo(100_000);
    // The first timeout is a tail loss probe in the RTO's place (RFC 8985 §7.2, Linux
    // "if RTO is shorter, just schedule TLP in its place"); it re-arms the RTO, which then
    // backs off: 200, 400, 800 ms apart.
    expect(times).toEqual([200, 400, 800, 1600]);
    expect(c.t.host.counters.get('tcp.tlpProbes')).toBe(1);
    expect(c.t.host.takeEvents(c.h) & SocketEvent.Error).toBeTruthy();
    expect(c.t.tcp.socketError(c.h)).toBe(SocketError.ETIMEDOUT);
  });
  it('RFC 5681 §3.2 / RFC 6582: three duplicate ACKs trigger fast retransmit without SACK', () => {
    const c = passive(undefined, { sack: false });
    c.t.tcp.tcpSend(c.h, bytes(20_000));
    const segs = c.t.flush();
    expect(segs.length).toBe(10);
    for (let i = 0; i < 3; i++) peerSend(c, {});
    const r = only(c.t.flush());
    expect(r.repr.seq).toBe(c.ourSeq);
    expect(r.payload.length).toBe(1448);
    expect(c.t.tcp.tcpInfo(c.h)!.retransmits).toBe(1);
    // Partial ACK (RFC 6582 §3.2 step 4): the next hole goes out at once.
    peerSend(c, { ack: seqAdd(c.ourSeq, 1448 * 3) });
    const r2 = c.t.flush();
    expect(r2[0]!.repr.seq).toBe(seqAdd(c.ourSeq, 1448 * 3));
  });
  it('congestion control is CUBIC by default (β = 0.7) and NewReno on request (β = 0.5)', () => {
    for (const [cc, factor] of [
      ['cubic', 0.7],
      ['newreno', 0.5],
    ] as const) {
      const c = passive(new Harness({ config: { defaults: { congestionControl: cc } as never } }), {
        sack: false,
      });
      c.t.tcp.tcpSend(c.h, bytes(20_000));
      c.t.flush();
      const cwnd = c.t.tcp.tcpInfo(c.h)!.cwnd;
      for (let i = 0; i < 3; i++) peerSend(c, {});
      c.t.flush();
      expect(c.t.tcp.tcpInfo(c.h)!.ssthresh).toBe(Math.floor(cwnd * factor));
    }
  });
  it('RFC 6675 / RFC 8985 §6.2: SACK blocks above a hole start recovery once DupThresh segments are SACKed, and retransmit only the hole', () => {
    // RTT 20 ms: the reordering window is min RTT / 4 = 5 ms until three segments are SACKed.
    const c = passive(undefined, { rtt: 20 });
    c.t.tcp.tcpSend(c.h, bytes(20_000));
    c.t.flush();
    c.t.now = 40;
    const s0 = c.ourSeq;
    const seg = (i: number) => seqAdd(s0, 1448 * i);
    peerSend(c, { sack: [[seg(1), seg(2)]] });
    peerSend(c, { sack: [[seg(1), seg(3)]] });
    // Not yet a loss: what goes out is new data (SACKed segments left the pipe; RFC 3042
    // limited transmit), never the hole.
    for (const o of c.t.flush()) expect(seqDiff(o.repr.seq, seg(10))).toBeGreaterThanOrEqual(0);
    peerSend(c, { sack: [[seg(1), seg(4)]] });
    const out = c.t.flush();
    expect(out[0]!.repr.seq).toBe(s0);
    expect(out[0]!.payload.length).toBe(1448);
    // Nothing SACKed is sent again.
    for (const o of out)
      expect(o.repr.seq === seg(1) || o.repr.seq === seg(2) || o.repr.seq === seg(3)).toBe(false);
  });
  it('RFC 9293 §3.8.6.1: a zero window starts persist probes with backoff; an opened window resumes sending', () => {
    const c = passive();
    peerSend(c, { window: 0 });
    c.t.tcp.tcpSend(c.h, bytes(5000));
    expect(c.t.flush()).toEqual([]);
    const times: number[] = [];
    c.t.host.onSend = (_s, _d, p, now) => {
      times.push(now);
      expect(p.length).toBe(32); // header + timestamp only: probes carry no data
    };
    c.t.advanceTo(3000);
    expect(times.length).toBeGreaterThanOrEqual(3);
    expect(times[0]).toBe(200);
    expect(times[2]! - times[1]!).toBeGreaterThan(times[1]! - times[0]!);
    c.t.host.onSend = undefined;
    peerSend(c, { window: 100 });
    const out = c.t.flush();
    expect(out[0]!.repr.seq).toBe(c.ourSeq);
    // Three full segments; Nagle keeps the 656-byte tail until they are acknowledged.
    expect(out.map((s) => s.payload.length)).toEqual([1448, 1448, 1448]);
    peerSend(c, { window: 100, ack: seqAdd(c.ourSeq, 4344) });
    expect(only(c.t.flush()).payload.length).toBe(656);
  });
  it('RFC 9293 §3.8.6.1: a timeout resends the head even into a zero window (the reopening update may be lost)', () => {
    const c = passive();
    c.t.tcp.tcpSend(c.h, bytes(2896));
    expect(c.t.flush().length).toBe(2);
    // The peer takes the first segment and closes its window; its later update is lost.
    peerSend(c, { ack: seqAdd(c.ourSeq, 1448), window: 0 });
    expect(c.t.flush()).toEqual([]);
    c.t.advanceTo(c.t.now + 1000);
    const out = c.t.drain().filter((s) => s.payload.length > 0);
    expect(out.length).toBeGreaterThan(0);
    expect(out[0]!.repr.seq).toBe(seqAdd(c.ourSeq, 1448));
    expect(c.t.tcp.tcpInfo(c.h)!.state).toBe('ESTABLISHED');
  });
  it('RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: a timeout into a zero window probes at SND.UNA; our ACKs stay inside the window a strict peer accepts', () => {
    const c = passive();
    const total = 10_000;
    c.t.tcp.tcpSend(c.h, bytes(total));
    // A strict receiver (RFC 9293 §3.10.7.4; Linux tcp_sequence()): data only in order and
    // inside its window, zero-length segments only at RCV.NXT <= SEG.SEQ <= RCV.NXT + RCV.WND.
    const peer = { nxt: c.ourSeq, wnd: 1024 << 7, got: [] as number[], probes: [] as Seg[], acks: 0 };
    const take = (segs: Seg[]) => {
      for (const s of segs) {
        const seq = s.repr.seq;
        const len = s.payload.length;
        if (len === 0) {
          if (seq === seqAdd(peer.nxt, -1)) continue; // an out-of-window probe, meant to elicit an ACK
          peer.acks++;
          expect(seqDiff(seq, peer.nxt), `pure ACK SEQ vs RCV.NXT (RCV.WND ${peer.wnd})`).toBeLessThanOrEqual(
            peer.wnd,
          );
          continue;
        }
        if (peer.wnd === 0) peer.probes.push(s);
        if (seq !== peer.nxt) continue;
        const n = Math.min(len, peer.wnd);
        for (let i = 0; i < n; i++) peer.got.push(s.payload[i]!);
        peer.nxt = seqAdd(peer.nxt, n);
      }
    };
    const ackPeer = (o: { data?: Uint8Array } = {}) =>
      peerSend(c, { ack: peer.nxt, window: peer.wnd >> 7, ...(o.data ? { data: o.data } : {}) });

    // The first segment arrives and fills the peer's buffer: it acknowledges it with a zero
    // window, and everything after it is dropped (the window shrank under data in flight).
    const first = c.t.flush();
    expect(first.length).toBeGreaterThan(1);
    take(first.slice(0, 1));
    peer.wnd = 0;
    ackPeer();
    take(c.t.flush());
    const una = peer.nxt;
    expect(seqDiff(una, c.ourSeq)).toBe(1448);

    // The retransmission timeout probes at SND.UNA with at most one SMSS (a tail loss probe
    // may resend the last segment before it).
    c.t.advanceTo(1000);
    take(c.t.drain());
    const atUna = () => peer.probes.filter((p) => p.repr.seq === una).length;
    expect(atUna()).toBeGreaterThan(0);
    for (const p of peer.probes) expect(p.payload.length).toBeLessThanOrEqual(1448);
    // The peer drops the probe's data and answers with its window still closed; it sends
    // data of its own too. Our ACKs of that data must be acceptable to it.
    ackPeer({ data: bytes(100) });
    c.t.advanceTo(c.t.now + 500);
    take(c.t.drain());
    ackPeer({ data: bytes(100, 100) });
    take(c.t.flush());
    c.t.advanceTo(c.t.now + 500);
    take(c.t.drain());
    expect(peer.acks).toBeGreaterThan(0);
    // More timeouts: still probes at SND.UNA, still acceptable ACKs, the connection stays.
    const probes = atUna();
    c.t.advanceTo(c.t.now + 5000);
    take(c.t.drain());
    expect(atUna()).toBeGreaterThan(probes);
    expect(state(c)).toBe('ESTABLISHED');
    expect(c.t.tcp.tcpInfo(c.h)!.sendQueued).toBe(total - 1448);

    // The application reads: the window opens and the rest arrives byte for byte.
    peer.wnd = 1024 << 7;
    ackPeer();
    for (let i = 0; i < 200 && peer.got.length < total; i++) {
      take(c.t.flush());
      ackPeer();
      take(c.t.flush());
      c.t.advanceTo(c.t.now + 10);
      take(c.t.drain());
    }
    expect(peer.got.length).toBe(total);
    expect(Uint8Array.from(peer.got)).toEqual(bytes(total));
    ackPeer();
    c.t.flush();
    expect(c.t.tcp.tcpInfo(c.h)!.sendQueued).toBe(0);
  });
  it('RFC 9293 §3.10.7.4: after the peer shrinks its window under data in flight, our ACKs carry a SEQ inside it', () => {
    const c = passive();
    c.t.tcp.tcpSend(c.h, bytes(10_000));
    expect(c.t.flush().length).toBeGreaterThan(1);
    // The first segment fills the peer's buffer; the rest is dropped; its window closes.
    const una = seqAdd(c.ourSeq, 1448);
    peerSend(c, { ack: una, window: 0 });
    expect(c.t.flush()).toEqual([]);
    // Its own data still flows: the ACK of it must not lie beyond RCV.NXT + RCV.WND = una
    // (Linux tcp_acceptable_seq()), or the peer drops it and resends its data.
    peerSend(c, { ack: una, window: 0, data: bytes(2000) });
    c.t.advanceTo(c.t.now + 100);
    const sent = c.t.drain();
    // Nothing beyond the window either (a tail loss probe would carry the ACK there).
    for (const s of sent) expect(s.repr.seq === una || s.payload.length === 0).toBe(true);
    const acks = sent.filter((s) => s.payload.length === 0);
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) {
      expect(a.repr.seq).toBe(una);
      expect(a.repr.ack).toBe(c.peerSeq);
    }
  });
  it('RFC 8985 §7.2: the probe timeout is 2·SRTT + 2 ms (Linux), not a bare 2·SRTT when the RTT is near zero', () => {
    const c = passive(new Harness());
    // An RTT sample of 0 ms (an in-process link): SRTT ~ 0.
    c.t.tcp.tcpSend(c.h, bytes(1000));
    c.t.flush();
    peerSend(c, { ack: seqAdd(c.ourSeq, 1000), window: 65535, ts: c.tsVal + 1 });
    c.t.flush();
    c.t.tcp.tcpSend(c.h, bytes(3 * 1448, 1000));
    const sentAt = c.t.now;
    expect(c.t.flush().length).toBe(3);
    let probeAt = -1;
    for (let t = sentAt + 0.25; probeAt < 0 && t < sentAt + 100; t += 0.25) {
      c.t.advanceTo(t);
      if (c.t.drain().length > 0) probeAt = t;
    }
    expect(c.t.host.counters.get('tcp.tlpProbes')).toBe(1);
    expect(probeAt - sentAt).toBeGreaterThanOrEqual(2);
    expect(probeAt - sentAt).toBeLessThan(2.5);
  });
  it('RFC 8985 §7.3: a tail loss probe resends the last segment sent, at most one SMSS, even on a jumbo-MTU link', () => {
    // Loopback-sized MTU: SMSS = 65495 (peer MSS) - 12 (timestamps) = 65483.
    const smss = 65483;
    const c = passive(new Harness({ mtu: 65535 }), { mss: 65495 });
    // An RTT sample first (the PTO needs SRTT).
    c.t.tcp.tcpSend(c.h, bytes(1000));
    expect(only(c.t.flush()).payload.length).toBe(1000);
    c.t.advanceTo(10);
    peerSend(c, { ack: seqAdd(c.ourSeq, 1000), window: 4096, ts: c.tsVal + 1 });
    c.t.flush();
    const start = seqAdd(c.ourSeq, 1000);
    // Three full segments, none acknowledged.
    const total = 3 * smss;
    c.t.tcp.tcpSend(c.h, bytes(total, 1000));
    const flight = c.t.flush();
    expect(flight.map((s) => s.payload.length)).toEqual([smss, smss, smss]);
    const end = seqAdd(start, total);
    let probe: Seg | undefined;
    for (let t = c.t.now + 10; probe === undefined && t < c.t.now + 1000; t += 10) {
      c.t.advanceTo(t);
      probe = c.t.drain()[0];
    }
    expect(c.t.host.counters.get('tcp.tlpProbes')).toBe(1);
    expect(c.t.host.counters.get('tcp.rtoTimeouts') ?? 0).toBe(0);
    // The last SMSS of the flight, ending at SND.NXT: never the whole flight.
    expect(probe!.payload.length).toBeLessThanOrEqual(smss);
    expect(probe!.payload.length).toBe(smss);
    expect(seqAdd(probe!.repr.seq, probe!.payload.length)).toBe(end);
    expect(probe!.payload).toEqual(bytes(total + 1000).subarray(1000 + total - smss));
  });
  it('RFC 9293 §3.10.7.4: into a zero receive window a segment at RCV.NXT loses its data, not its ACK (two closed windows must not deadlock)', () => {
    const t = new Harness({ config: { defaults: { recvBufferSize: 16384 } as never } });
    const c = passive(t);
    c.t.tcp.tcpSend(c.h, bytes(2896));
    expect(c.t.flush().length).toBe(2);
    // The peer fills our receive buffer without acknowledging our data: our window closes.
    for (let i = 0; i < 16; i++) peerSend(c, { data: bytes(1024, i * 1024) });
    expect(c.t.flush().at(-1)!.repr.window).toBe(0);
    expect(c.t.tcp.tcpInfo(c.h)!.sendQueued).toBe(2896);
    // Its next segment (its own window is closed too: data at RCV.NXT, a probe) acknowledges ours.
    peerSend(c, { seq: c.peerSeq, data: bytes(1000), ack: seqAdd(c.ourSeq, 2896) });
    expect(c.t.tcp.tcpInfo(c.h)!.sendQueued).toBe(0);
    expect(c.t.tcp.tcpInfo(c.h)!.recvQueued).toBe(16384);
    expect(c.t.host.counters.get('tcp.zeroWindowDrop')).toBe(1);
    // A segment beyond RCV.NXT stays unacceptable, ACK and all (RFC 5961 spirit).
    c.t.tcp.tcpSend(c.h, bytes(100));
    c.t.flush();
    peerSend(c, { seq: seqAdd(c.peerSeq, 1000), data: bytes(10), ack: seqAdd(c.ourSeq, 2996) });
    expect(c.t.tcp.tcpInfo(c.h)!.sendQueued).toBe(100);
  });
  it('into a zero receive window, an old duplicate (the peer’s tail loss probe of data we hold) is duplicate data, not a zero-window drop', () => {
    // Linux counts TCPZeroWindowDrop only for new data at RCV.NXT (tcp_data_queue); a TLP
    // resending the last segment after our window closed is seen under load against a
    // kernel sender, and counting it as a drop made the counter look like window trouble.
    const t = new Harness({ config: { defaults: { recvBufferSize: 16384 } as never } });
    const c = passive(t);
    for (let i = 0; i < 16; i++) peerSend(c, { data: bytes(1024, i * 1024) });
    expect(c.t.flush().at(-1)!.repr.window).toBe(0);
    // RFC 8985 §7.3: the probe resends the last segment sent.
    peerSend(c, { seq: seqAdd(c.peerSeq, -1024), data: bytes(1024, 15 * 1024) });
    const ack = only(c.t.flush());
    expect(ack.repr.ack).toBe(c.peerSeq);
    expect(c.t.host.counters.get('tcp.duplicateData')).toBe(1);
    expect(c.t.host.counters.get('tcp.zeroWindowDrop') ?? 0).toBe(0);
    // New data at RCV.NXT into the closed window is the drop.
    peerSend(c, { seq: c.peerSeq, data: bytes(100) });
    c.t.flush();
    expect(c.t.host.counters.get('tcp.zeroWindowDrop')).toBe(1);
  });
  it('the advertised window follows the free receive buffer; reading reopens it (RFC 9293 §3.8.6.2.2)', () => {
    const t = new Harness({ config: { defaults: { recvBufferSize: 16384 } as never } });
    const c = passive(t);
    let sent = 0;
    for (let i = 0; i < 20; i++) {
      peerSend(c, { data: bytes(1000, sent) });
      sent += 1000;
    }
    const acks = c.t.flush();
    const last = acks[acks.length - 1]!;
    expect(last.repr.ack).toBe(seqAdd(PEER_ISS + 1, 16384));
    expect(last.repr.window).toBe(0);
    expect(c.t.host.counters.get('tcp.zeroWindowDrop') ?? 0).toBeGreaterThan(0);
    const buf = new Uint8Array(20000);
    expect(c.t.tcp.tcpRecv(c.h, buf)).toBe(16384);
    expect(buf.subarray(0, 16384)).toEqual(bytes(16384));
    const upd = only(c.t.flush());
    expect(upd.repr.window << 0).toBeGreaterThan(0);
  });
  it('keepalive (RFC 1122 §4.2.3.6): probes after the idle time, ETIMEDOUT after unanswered probes', () => {
    const c = passive();
    c.t.tcp.tcpSetKeepAlive(c.h, 10_000);
    c.t.advanceTo(9_999);
    expect(c.t.drain()).toEqual([]);
    c.t.advanceTo(10_000);
    const p = only(c.t.drain());
    expect(p.repr.seq).toBe(seqAdd(c.ourSeq, -1));
    // An answer resets the probe count.
    peerSend(c, {});
    c.t.advanceTo(10_000 + 10_000 * 12);
    expect(c.t.tcp.socketError(c.h)).toBe(SocketError.ETIMEDOUT);
  });
  it('keepalive deadlines on fractional clocks do not spin (lastRecv + idle rounds below now)', () => {
    const c = passive();
    c.t.now = 1062.0190391627132;
    peerSend(c, {});
    c.t.tcp.tcpSetKeepAlive(c.h, 1000);
    let probes = 0;
    c.t.host.onSend = () => probes++;
    c.t.advanceTo(2062.019039162713);
    c.t.advanceTo(2100);
    expect(probes).toBe(1);
    expect(c.t.host.counters.get('tcp.timerStuck') ?? 0).toBe(0);
  });
  it('ICMP Packet Too Big lowers the segment size (RFC 1191, RFC 8201)', () => {
    const c = passive();
    c.t.tcp.tcpSend(c.h, bytes(3000));
    const segs = c.t.flush();
    expect(segs[0]!.payload.length).toBe(1448);
    const quoted = segs[0]!.src ? new Uint8Array(20) : new Uint8Array(0);
    quoted[0] = PORT >> 8;
    quoted[1] = PORT & 255;
    quoted[2] = PEER_PORT >> 8;
    quoted[3] = PEER_PORT & 255;
    new DataView(quoted.buffer).setUint32(4, c.ourSeq);
    c.t.host.mtu = 1000;
    c.t.tcp.icmpError(IcmpErrorKind.PacketTooBig, c.t.local, c.t.peer, quoted, 1000, 0);
    const again = c.t.flush();
    expect(again[0]!.repr.seq).toBe(c.ourSeq);
    expect(again[0]!.payload.length).toBe(1000 - 20 - 32);
  });
  it('works over IPv6 with the IPv6 pseudo-header', () => {
    const c = passive(new Harness({ v6: true }));
    peerSend(c, { data: bytes(50), flags: F.ACK | F.PSH });
    const buf = new Uint8Array(100);
    expect(c.t.tcp.tcpRecv(c.h, buf)).toBe(50);
    expect(c.t.tcp.tcpInfo(c.h)!.mss).toBe(1500 - 40 - 20 - 12);
  });
});

// ============================================================ closing states
describe('FIN-WAIT-1 / FIN-WAIT-2 / TIME-WAIT — RFC 9293 §3.6', () => {
  it('close sends FIN after the data; ACK → FIN-WAIT-2; FIN → TIME-WAIT; 2×MSL → CLOSED', () => {
    const c = active(new Harness({ config: { msl: 1000 } }));
    c.t.tcp.tcpSend(c.h, bytes(10));
    expect(c.t.tcp.tcpShutdown(c.h)).toBe(0);
    const s = only(c.t.flush());
    expect(flagsOf(s) & F.FIN).toBeTruthy();
    expect(s.payload.length).toBe(10);
    expect(state(c)).toBe('FIN-WAIT-1');
    expect(c.t.tcp.tcpSend(c.h, bytes(1))).toBe(-SocketError.EPIPE);
    peerSend(c, { ack: seqAdd(c.ourSeq, 11) });
    expect(state(c)).toBe('FIN-WAIT-2');
    // Half-close: data still flows to us.
    peerSend(c, { data: bytes(7), flags: F.ACK | F.PSH });
    expect(c.t.tcp.tcpRecv(c.h, new Uint8Array(100))).toBe(7);
    peerSend(c, { flags: F.ACK | F.FIN, ack: seqAdd(c.ourSeq, 11) });
    expect(state(c)).toBe('TIME-WAIT');
    expect(c.t.host.takeEvents(c.h) & SocketEvent.PeerClosed).toBeTruthy();
    const a = c.t.flush();
    expect(a[a.length - 1]!.repr.ack).toBe(c.peerSeq);
    c.t.advanceTo(c.t.now + 1999);
    expect(state(c)).toBe('TIME-WAIT');
    c.t.advanceTo(c.t.now + 1);
    expect(state(c)).toBe('CLOSED');
  });
  it('simultaneous close (§3.6 figure 13): FIN-WAIT-1 + FIN → CLOSING; ACK → TIME-WAIT', () => {
    const c = active();
    c.t.tcp.tcpShutdown(c.h);
    c.t.flush();
    peerSend(c, { flags: F.ACK | F.FIN, ack: c.ourSeq });
    expect(state(c)).toBe('CLOSING');
    peerSend(c, { ack: seqAdd(c.ourSeq, 1) });
    expect(state(c)).toBe('TIME-WAIT');
  });
  it('FIN is retransmitted until acknowledged', () => {
    const c = active();
    c.t.tcp.tcpShutdown(c.h);
    const f1 = only(c.t.flush());
    c.t.advanceTo(c.t.now + 1000);
    const again = c.t.drain();
    expect(again.length).toBeGreaterThan(0);
    expect(again[0]!.repr.seq).toBe(f1.repr.seq);
    expect(flagsOf(again[0]!) & F.FIN).toBeTruthy();
  });
  it('TIME-WAIT re-ACKs a retransmitted FIN, ignores RST (RFC 1337), and a newer SYN reuses the tuple (RFC 6191)', () => {
    const c = passive(new Harness({ config: { msl: 1000 } }));
    // The server closes first and ends in TIME-WAIT.
    c.t.tcp.tcpClose(c.h);
    only(c.t.flush());
    peerSend(c, { ack: seqAdd(c.ourSeq, 1) });
    peerSend(c, { flags: F.ACK | F.FIN, ack: seqAdd(c.ourSeq, 1) });
    only(c.t.flush());
    expect(c.t.tcp.connectionCount()).toBe(1);
    c.t.advanceTo(1500);
    // Retransmitted FIN: ACKed again, and the 2MSL timer restarts.
    peerSend(c, { flags: F.ACK | F.FIN, seq: seqAdd(c.peerSeq, -1), ack: seqAdd(c.ourSeq, 1) });
    const re = only(c.t.flush());
    expect(re.repr.ack).toBe(c.peerSeq);
    c.t.advanceTo(3000);
    expect(c.t.tcp.connectionCount()).toBe(1);
    peerSend(c, { flags: F.RST, seq: c.peerSeq });
    expect(c.t.tcp.connectionCount()).toBe(1);
    // A new SYN with a higher sequence number and timestamp takes over the tuple.
    c.t.inject({
      srcPort: PEER_PORT,
      dstPort: PORT,
      seq: seqAdd(c.peerSeq, 100_000),
      flags: F.SYN,
      ts: [c.tsVal + 100, 0],
    });
    const sa = only(c.t.flush());
    expect(flagsOf(sa)).toBe(F.SYN | F.ACK);
    expect(sa.repr.ack).toBe(seqAdd(c.peerSeq, 100_001));
    c.t.advanceTo(3499);
    expect(c.t.tcp.connectionCount()).toBe(1);
  });
  it('a TIME-WAIT tuple can be bound and connected again; the new ISN is higher (RFC 6528, RFC 9293 §3.6.1)', () => {
    const c = active(new Harness());
    // Re-create the first connection from a bound port instead.
    const t = c.t;
    const h = t.tcp.tcpOpen();
    expect(t.tcp.tcpBind(h, undefined, 3333)).toBe(0);
    t.tcp.tcpConnect(h, t.peer, PEER_PORT, t.now);
    const syn = only(t.flush());
    t.inject({
      srcPort: PEER_PORT,
      dstPort: 3333,
      seq: 7,
      ack: seqAdd(syn.repr.seq, 1),
      flags: F.SYN | F.ACK,
    });
    t.flush();
    t.tcp.tcpClose(h);
    t.flush();
    t.inject({
      srcPort: PEER_PORT,
      dstPort: 3333,
      seq: 8,
      ack: seqAdd(syn.repr.seq, 2),
      flags: F.ACK | F.FIN,
    });
    t.flush();
    expect(t.tcp.connectionCount()).toBe(2); // the first connection and the TIME-WAIT one
    t.now += 10_000;
    const h2 = t.tcp.tcpOpen();
    expect(t.tcp.tcpBind(h2, undefined, 3333)).toBe(0);
    expect(t.tcp.tcpConnect(h2, t.peer, PEER_PORT, t.now)).toBe(0);
    const syn2 = only(t.flush());
    expect(syn2.repr.srcPort).toBe(3333);
    expect(((syn2.repr.seq - syn.repr.seq) | 0) > 0).toBe(true);
    expect(t.tcp.connectionCount()).toBe(2);
  });
  it('TIME-WAIT ends after 2×MSL', () => {
    const c = passive(new Harness({ config: { msl: 1000 } }));
    c.t.tcp.tcpClose(c.h);
    c.t.flush();
    peerSend(c, { flags: F.ACK | F.FIN, ack: seqAdd(c.ourSeq, 1) });
    c.t.flush();
    c.t.advanceTo(1999);
    expect(c.t.tcp.connectionCount()).toBe(1);
    c.t.advanceTo(2000);
    expect(c.t.tcp.connectionCount()).toBe(0);
  });
  it('closing with unread data sends RST (RFC 2525 §2.17)', () => {
    const c = passive();
    peerSend(c, { data: bytes(10) });
    c.t.flush();
    c.t.tcp.tcpClose(c.h);
    const r = c.t.flush();
    expect(flagsOf(r[r.length - 1]!) & F.RST).toBeTruthy();
    expect(c.t.tcp.connectionCount()).toBe(0);
  });
  it('an orphaned FIN-WAIT-2 ends after the FIN timeout', () => {
    const c = active();
    c.t.tcp.tcpClose(c.h);
    c.t.flush();
    peerSend(c, { ack: seqAdd(c.ourSeq, 1) });
    expect(c.t.tcp.connectionCount()).toBe(1);
    c.t.advanceTo(c.t.now + 60_000);
    expect(c.t.tcp.connectionCount()).toBe(0);
  });
});

describe('CLOSE-WAIT / LAST-ACK — RFC 9293 §3.6', () => {
  it('a FIN gives EOF after the data; we may still send; close → LAST-ACK → CLOSED', () => {
    const c = passive();
    peerSend(c, { data: bytes(5) });
    peerSend(c, { flags: F.ACK | F.FIN });
    expect(state(c)).toBe('CLOSE-WAIT');
    const ev = c.t.host.takeEvents(c.h);
    expect(ev & SocketEvent.PeerClosed).toBeTruthy();
    const buf = new Uint8Array(10);
    expect(c.t.tcp.tcpRecv(c.h, buf)).toBe(5);
    expect(c.t.tcp.tcpRecv(c.h, buf)).toBe(EOF);
    expect(c.t.tcp.tcpSend(c.h, bytes(3))).toBe(3);
    c.t.tcp.tcpSetNoDelay(c.h, true);
    c.t.flush();
    c.t.tcp.tcpShutdown(c.h);
    expect(state(c)).toBe('LAST-ACK');
    const fin = c.t.flush();
    expect(flagsOf(fin[fin.length - 1]!) & F.FIN).toBeTruthy();
    peerSend(c, { ack: seqAdd(c.ourSeq, 4) });
    expect(state(c)).toBe('CLOSED');
    expect(c.t.host.takeEvents(c.h) & SocketEvent.Closed).toBeTruthy();
  });
  it('an out-of-order FIN is held until the data before it arrives', () => {
    const c = passive();
    const s0 = c.peerSeq;
    peerSend(c, { seq: seqAdd(s0, 10), flags: F.ACK | F.FIN });
    expect(state(c)).toBe('ESTABLISHED');
    peerSend(c, { seq: s0, data: bytes(10) });
    expect(state(c)).toBe('CLOSE-WAIT');
    expect(only(c.t.flush()).repr.ack).toBe(seqAdd(s0, 11));
  });
});
