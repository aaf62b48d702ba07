/**
 * A TcpSocket never calls up into its layer: what a call asks of the layer comes back as
 * answer bits and an event mask (src/tcp/answers.ts). These tests drive one socket with
 * no layer at all — its context is data only — and read what it answers.
 */
import { describe, expect, it } from 'vitest';
import { SocketError, SocketEvent } from '../src/registration.js';
import { ANS_CHALLENGE_ACK, ANS_CLOSED, ANS_OUTPUT, ANS_REPLY_RST } from '../src/tcp/answers.js';
import { defaultTcpConfig } from '../src/tcp/layer.js';
import { TcpSocket } from '../src/tcp/socket.js';
import { ESTABLISHED, SYN_SENT } from '../src/tcp/state.js';
import { parseIpAddress } from '../src/wire/ip-address.js';
import { TcpFlags, TcpRepr } from '../src/wire/tcp.js';
import { FakeHost } from './tcp-helpers.js';

const { SYN, RST, ACK } = TcpFlags;
const ISS = 1000;
const IRS = 5000;

function socket(): { s: TcpSocket; host: FakeHost } {
  const host = new FakeHost(['192.0.2.1']);
  const ctx = { host, config: defaultTcpConfig, scratch: new Uint8Array(65600), txRepr: new TcpRepr() };
  const s = new TcpSocket(ctx, 1, { ...defaultTcpConfig.defaults });
  s.localAddr = host.addresses[0];
  s.localPort = 40000;
  s.remoteAddr = parseIpAddress('192.0.2.2');
  s.remotePort = 80;
  return { s, host };
}

/** Takes (and clears) what the last call answered, as the layer does. */
function take(s: TcpSocket): { answers: number; events: number } {
  const r = { answers: s.answers, events: s.events };
  s.answers = 0;
  s.events = 0;
  return r;
}

function seg(flags: number, seq: number, ack: number): TcpRepr {
  const r = new TcpRepr();
  r.srcPort = 80;
  r.dstPort = 40000;
  r.flags = flags;
  r.seq = seq;
  r.ack = ack;
  r.window = 65535;
  return r;
}

const none = new Uint8Array(0);

/** An active open answered by the peer's SYN,ACK and ACKed: ESTABLISHED, RCV.NXT = IRS + 1. */
function established(): { s: TcpSocket; host: FakeHost } {
  const t = socket();
  t.s.startConnect(ISS, 0, 0);
  t.s.output(0);
  t.s.input(seg(SYN | ACK, IRS, ISS + 1), none, 1);
  t.s.output(1); // the ACK, which advertises our window
  take(t.s);
  return t;
}

describe('a socket answers its layer instead of calling it', () => {
  it('RFC 9293 §3.10.1: connect asks for output; the SYN goes out only when the layer calls output()', () => {
    const { s, host } = socket();
    s.startConnect(ISS, 0, 0);
    expect(take(s)).toEqual({ answers: ANS_OUTPUT, events: 0 });
    expect(host.sent).toHaveLength(0);
    s.output(0);
    expect(host.sent).toHaveLength(1);
    expect(take(s)).toEqual({ answers: 0, events: 0 });
  });

  it('RFC 9293 §3.10.7.3: an unacceptable ACK in SYN-SENT answers "reply with RST"; a good SYN,ACK reports Connected', () => {
    const { s } = socket();
    s.startConnect(ISS, 0, 0);
    s.output(0);
    take(s);
    s.input(seg(SYN | ACK, IRS, ISS + 7), none, 1);
    expect(take(s)).toEqual({ answers: ANS_REPLY_RST, events: 0 });
    expect(s.state).toBe(SYN_SENT);
    s.input(seg(SYN | ACK, IRS, ISS + 1), none, 1);
    expect(s.state).toBe(ESTABLISHED);
    expect(take(s)).toEqual({ answers: ANS_OUTPUT, events: SocketEvent.Connected | SocketEvent.Writable });
  });

  it('RFC 5961 §3.2: an in-window RST off RCV.NXT answers "challenge ACK" and leaves the rate limit to the layer', () => {
    const { s } = established();
    s.input(seg(RST, IRS + 10, 0), none, 2);
    expect(take(s)).toEqual({ answers: ANS_CHALLENGE_ACK, events: 0 });
    expect(s.ackNow).toBe(false);
    expect(s.state).toBe(ESTABLISHED);
  });

  it('RFC 9293 §3.10.7.4: an RST at RCV.NXT answers "closed" and reports the reset', () => {
    const { s } = established();
    s.input(seg(RST, IRS + 1, 0), none, 2);
    expect(take(s)).toEqual({
      answers: ANS_CLOSED,
      events: SocketEvent.Error | SocketEvent.Closed | SocketEvent.Readable,
    });
    expect(s.error).toBe(SocketError.ECONNRESET);
  });
});
