import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, PrivateKey, WireGuardDevice, parsePrefix } from '../src/index.js';
import { type Datagram, ManualClock, MemoryNet, ipv4Packet, makePair, seededRandom } from './harness.js';

const hello = new TextEncoder().encode('hello');

describe('handshake and transport between two devices', () => {
  it('first packet triggers a handshake, is staged, and arrives; the answer goes back', () => {
    const { net, a, b, gotA, gotB } = makePair();
    expect(a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello))).toBe(true);
    net.flush();
    expect(gotB).toHaveLength(1);
    expect(gotB[0]?.subarray(20)).toEqual(hello);
    expect(a.counters.initiationsSent).toBe(1);
    expect(b.counters.responsesSent).toBe(1);
    // B learned A's endpoint from the authenticated initiation and can answer.
    b.send(ipv4Packet('192.0.2.2', '192.0.2.1', hello));
    net.flush();
    expect(gotA).toHaveLength(1);
    expect(a.peers()[0]?.latestHandshake).toBeGreaterThan(0);
    expect(b.peers()[0]?.latestHandshake).toBeGreaterThan(0);
  });

  it('works with a preshared key; a mismatched one never completes', () => {
    const psk = new Uint8Array(32).fill(7);
    const ok = makePair({ psk });
    ok.a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    ok.net.flush();
    expect(ok.gotB).toHaveLength(1);

    const bad = makePair({ psk });
    bad.b.removePeer(bad.aKey.publicKey);
    bad.b.addPeer({
      publicKey: bad.aKey.publicKey,
      presharedKey: new Uint8Array(32).fill(8),
      allowedIps: [parsePrefix('192.0.2.1/32') as never],
    });
    bad.a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    bad.net.flush();
    expect(bad.gotB).toHaveLength(0);
    expect(bad.a.counters.dropHandshakeRejected).toBe(1);
  });

  it('pads to 16 bytes and strips padding by the IP length', () => {
    const { net, a, gotB } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', new Uint8Array(3).fill(9)));
    net.flush();
    const transport = net.log.filter((d) => d.data[0] === 4 && d.data.length > 32);
    expect((transport[0]?.data.length ?? 0) - 32).toBe(32);
    expect(gotB[0]?.length).toBe(23);
  });
});

describe('cryptokey routing', () => {
  it("drops packets to no peer and packets whose inner source is not the peer's", () => {
    const { net, a, b, gotB } = makePair();
    expect(a.send(ipv4Packet('192.0.2.1', '198.51.100.9', hello))).toBe(false);
    expect(a.counters.dropNoRoute).toBe(1);
    // A sends a packet with a source B does not allow for A.
    a.send(ipv4Packet('198.51.100.66', '192.0.2.2', hello));
    net.flush();
    expect(gotB).toHaveLength(0);
    expect(b.counters.dropAllowedIps).toBe(1);
  });
});

describe('bad input is counted and dropped with no state change', () => {
  it('replayed transport packets and replayed initiations', () => {
    const { net, a, b, gotB } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    const data = net.log.find((d) => d.data[0] === 4 && d.data.length > 32) as Datagram;
    b.receive(data.data, data.from);
    expect(gotB).toHaveLength(1);
    expect(b.counters.dropReplay).toBe(1);
    const init = net.log.find((d) => d.data[0] === 1) as Datagram;
    const before = b.counters.responsesSent;
    b.receive(init.data, init.from);
    expect(b.counters.responsesSent).toBe(before);
    expect(b.counters.dropHandshakeRejected).toBe(1);
  });

  it('a forged MAC1 is dropped before any Diffie-Hellman', () => {
    const { net, a, b } = makePair();
    a.connect(b.publicKey);
    const init = net.queue.shift() as Datagram;
    const forged = Uint8Array.from(init.data);
    forged[116] = (forged[116] as number) ^ 1;
    b.receive(forged, init.from);
    expect(b.counters.dropMac1).toBe(1);
    expect(b.counters.dropHandshakeRejected).toBe(0);
    // An intact message after the forged one still works: the forgery changed nothing.
    b.receive(init.data, init.from);
    expect(b.counters.responsesSent).toBe(1);
  });

  it('a tampered ciphertext fails authentication', () => {
    const { net, a, b, gotB } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.filter = (d) => {
      if (d.data[0] === 4 && d.data.length > 32) d.data[20] = (d.data[20] as number) ^ 0x80;
      return d;
    };
    net.flush();
    expect(gotB).toHaveLength(0);
    expect(b.counters.dropDecrypt).toBe(1);
  });

  it('short, unknown-type, wrong-size and unknown-index messages', () => {
    const { b } = makePair();
    const from = { address: '127.0.0.9', port: 9 };
    b.receive(new Uint8Array(2), from);
    b.receive(Uint8Array.of(9, 0, 0, 0), from);
    b.receive(
      new Uint8Array(147).fill(0).map((_, i) => (i === 0 ? 1 : 0)),
      from,
    );
    b.receive(Uint8Array.of(1, 1, 0, 0, ...new Array(144).fill(0)), from);
    expect(b.counters.dropMalformed).toBe(4);
    const t = new Uint8Array(48);
    t[0] = 4;
    b.receive(t, from);
    expect(b.counters.dropUnknownIndex).toBe(1);
  });

  it('an initiation from an unknown key is dropped', () => {
    const { net, b } = makePair();
    const stranger = new WireGuardDevice({
      privateKey: PrivateKey.generate(seededRandom(99)).raw,
      bind: net.bind({ address: '127.0.0.3', port: 3000 }),
      random: seededRandom(5),
      clock: new ManualClock(),
      onPacket: () => {},
    });
    stranger.addPeer({ publicKey: b.publicKey, endpoint: { address: '127.0.0.2', port: 2000 } });
    stranger.connect(b.publicKey);
    net.flush();
    expect(b.counters.dropUnknownPeer).toBe(1);
    expect(b.counters.responsesSent).toBe(0);
  });
});

describe('timers', () => {
  it('retransmits an unanswered initiation after REKEY_TIMEOUT plus jitter, then gives up', () => {
    const { net, clock, a, b } = makePair();
    net.filter = () => undefined; // the network loses everything
    a.connect(b.publicKey);
    net.flush();
    expect(a.counters.initiationsSent).toBe(1);
    const at = a.pollAt() as number;
    expect(at - clock.now()).toBeGreaterThanOrEqual(DEFAULT_LIMITS.rekeyTimeout);
    expect(at - clock.now()).toBeLessThan(DEFAULT_LIMITS.rekeyTimeout + 334);
    for (let i = 0; i < 40; i++) {
      clock.t = (a.pollAt() as number) ?? clock.t;
      a.poll();
    }
    // 1 + MAX_TIMER_HANDSHAKES(18) + 1 retries, then it stops.
    expect(a.counters.initiationsSent).toBe(20);
  });

  it('rekeys after REKEY_AFTER_TIME when sending, and the old session keeps working meanwhile', () => {
    const { net, clock, a, gotB } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    clock.advance(DEFAULT_LIMITS.rekeyAfterTime + 1);
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    expect(a.counters.initiationsSent).toBe(2);
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    expect(gotB).toHaveLength(3);
  });

  it('rekeys after a shortened message limit', () => {
    const { net, clock, a, gotB } = makePair({ aOpts: { limits: { rekeyAfterMessages: 5 } } });
    for (let i = 0; i < 12; i++) {
      clock.advance(1000);
      a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
      net.flush();
    }
    expect(gotB).toHaveLength(12);
    expect(a.counters.initiationsSent).toBeGreaterThanOrEqual(2);
  });

  it('sessions older than REJECT_AFTER_TIME are not used and their packets dropped', () => {
    const { net, clock, a, b } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    const data = net.log.find((d) => d.data[0] === 4 && d.data.length > 32) as Datagram;
    clock.advance(DEFAULT_LIMITS.rejectAfterTime);
    b.receive(data.data, data.from);
    expect(b.counters.dropExpiredKeypair).toBe(1);
    expect(a.peers()[0]?.hasSession).toBe(false);
  });

  it('answers received data with a keepalive after KEEPALIVE_TIMEOUT when it sends nothing', () => {
    const { net, clock, a, b } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    const before = b.counters.keepalivesSent;
    clock.t = b.pollAt() as number;
    expect(clock.t).toBe(1000 + DEFAULT_LIMITS.keepaliveTimeout);
    b.poll();
    net.flush();
    expect(b.counters.keepalivesSent).toBe(before + 1);
    expect(a.counters.keepalivesReceived).toBeGreaterThanOrEqual(1);
  });

  it('starts a new handshake when sent data gets no answer in KEEPALIVE + REKEY_TIMEOUT', () => {
    const { net, clock, a, b } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    net.filter = (d) => (d.from.port === 2000 ? undefined : d); // B's answers are lost
    clock.advance(1000);
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    const sent = a.counters.initiationsSent;
    clock.advance(DEFAULT_LIMITS.keepaliveTimeout + DEFAULT_LIMITS.rekeyTimeout);
    a.poll();
    expect(a.counters.initiationsSent).toBe(sent + 1);
    expect(b.counters.initiationsReceived).toBe(1);
  });

  it('persistent keepalive starts the session and keeps sending at the interval', () => {
    const { net, clock, a, b } = makePair({ keepalive: 25 });
    net.flush();
    expect(b.counters.initiationsReceived).toBe(1);
    const k = b.counters.keepalivesReceived;
    clock.t = a.pollAt() as number;
    expect(clock.t).toBe(1000 + 25_000);
    a.poll();
    net.flush();
    expect(b.counters.keepalivesReceived).toBe(k + 1);
  });

  it('zeroes key material after 3 × REJECT_AFTER_TIME', () => {
    const { net, clock, a } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    for (let i = 0; i < 10 && a.pollAt() !== undefined; i++) {
      clock.t = a.pollAt() as number;
      a.poll();
      net.flush();
    }
    expect(clock.t).toBeGreaterThanOrEqual(1000 + 3 * DEFAULT_LIMITS.rejectAfterTime);
    expect(a.peers()[0]?.hasSession).toBe(false);
  });
});

describe('roaming and several peers', () => {
  it('follows the peer to a new source address after an authenticated packet', () => {
    const { net, a, b, gotA } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    // A moves: its packets now come from 127.0.0.7:7000.
    const moved = { address: '127.0.0.7', port: 7000 };
    net.attach(moved, a);
    net.filter = (d) => (d.from.port === 1000 ? { ...d, from: moved } : d);
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    expect(b.peers()[0]?.endpoint).toEqual(moved);
    b.send(ipv4Packet('192.0.2.2', '192.0.2.1', hello));
    net.flush();
    expect(net.log.at(-1)?.to).toEqual(moved);
    expect(gotA).toHaveLength(1);
  });

  it('an unauthenticated packet from a new address does not move the endpoint', () => {
    const { net, a, b } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    const data = net.log.find((d) => d.data[0] === 4 && d.data.length > 32) as Datagram;
    const forged = Uint8Array.from(data.data);
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    b.receive(forged, { address: '127.0.0.66', port: 6666 });
    expect(b.peers()[0]?.endpoint).toEqual({ address: '127.0.0.1', port: 1000 });
  });

  it('routes to three peers by AllowedIPs', () => {
    const net = new MemoryNet();
    const clock = new ManualClock();
    const hubKey = PrivateKey.generate(seededRandom(100));
    const hubEp = { address: '127.0.0.1', port: 100 };
    const hub = new WireGuardDevice({
      privateKey: hubKey.raw,
      bind: net.bind(hubEp),
      clock,
      random: seededRandom(101),
      onPacket: () => {},
    });
    net.attach(hubEp, hub);
    const got: Uint8Array[][] = [];
    for (let i = 0; i < 3; i++) {
      const k = PrivateKey.generate(seededRandom(200 + i));
      const ep = { address: `127.0.1.${i}`, port: 200 + i };
      const inbox: Uint8Array[] = [];
      got.push(inbox);
      const d = new WireGuardDevice({
        privateKey: k.raw,
        bind: net.bind(ep),
        clock,
        random: seededRandom(300 + i),
        onPacket: (p) => inbox.push(Uint8Array.from(p)),
      });
      d.addPeer({
        publicKey: hubKey.publicKey,
        allowedIps: [parsePrefix('0.0.0.0/0') as never],
        endpoint: hubEp,
      });
      hub.addPeer({
        publicKey: k.publicKey,
        allowedIps: [parsePrefix(`198.51.100.${i * 64}/26`) as never],
        endpoint: ep,
      });
      net.attach(ep, d);
    }
    for (const last of [1, 70, 130, 131]) hub.send(ipv4Packet('192.0.2.1', `198.51.100.${last}`, hello));
    net.flush();
    expect(got.map((g) => g.length)).toEqual([1, 1, 2]);
  });
});

describe('cookies under load', () => {
  it('answers with a cookie reply, and the initiator retries with MAC2 and gets through', () => {
    const { net, clock, a, b, gotB } = makePair({ bOpts: { underLoadThreshold: 0 } });
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    expect(b.counters.cookieRepliesSent).toBe(1);
    expect(a.counters.cookieRepliesConsumed).toBe(1);
    expect(b.counters.initiationsReceived).toBe(0);
    expect(gotB).toHaveLength(0);
    clock.t = a.pollAt() as number;
    a.poll();
    net.flush();
    expect(b.counters.initiationsReceived).toBe(1);
    expect(gotB).toHaveLength(1);
  });

  it('a flood of initiations engages the cookie mechanism without any DH per message', () => {
    const { net, a, b } = makePair({ bOpts: { underLoadThreshold: 10 } });
    a.connect(b.publicKey);
    const init = net.queue.shift() as Datagram;
    for (let i = 0; i < 50; i++) b.receive(init.data, { address: '127.0.0.50', port: 5000 + i });
    expect(b.counters.cookieRepliesSent).toBe(40);
    expect(b.counters.initiationsReceived).toBe(1);
    expect(b.counters.dropHandshakeRejected).toBe(9);
  });

  it('a cookie reply that does not authenticate is dropped', () => {
    const { net, a, b } = makePair({ bOpts: { underLoadThreshold: 0 } });
    a.connect(b.publicKey);
    net.filter = (d) => {
      if (d.data[0] === 3) d.data[40] = (d.data[40] as number) ^ 1;
      return d;
    };
    net.flush();
    expect(a.counters.cookieRepliesConsumed).toBe(0);
    expect(a.counters.dropDecrypt).toBe(1);
  });
});

describe('fuzz', () => {
  it('random and mutated datagrams never throw and never deliver', () => {
    const { net, a, b, gotB } = makePair();
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', hello));
    net.flush();
    const samples = net.log.map((d) => d.data);
    const rnd = seededRandom(4242);
    const byte = new Uint8Array(4);
    const r = (n: number) => {
      rnd(byte);
      return (new DataView(byte.buffer).getUint32(0) % n) >>> 0;
    };
    const delivered = gotB.length;
    const n = Number(process.env.WG_FUZZ_N ?? 20_000);
    for (let i = 0; i < n; i++) {
      let m: Uint8Array;
      if (i % 2 === 0) {
        m = Uint8Array.from(samples[r(samples.length)] as Uint8Array);
        const flips = 1 + r(4);
        for (let j = 0; j < flips; j++) m[r(m.length)] = r(256);
      } else {
        m = new Uint8Array(r(200));
        rnd(m);
        if (m.length > 0) m[0] = 1 + r(4);
        if (m.length > 3) m[1] = m[2] = m[3] = 0;
      }
      b.receive(m, { address: '127.0.0.99', port: 9999 });
    }
    expect(gotB.length).toBe(delivered);
    const c = b.counters;
    const dropped =
      c.dropMalformed +
      c.dropMac1 +
      c.dropUnknownIndex +
      c.dropDecrypt +
      c.dropReplay +
      c.dropHandshakeRejected +
      c.dropUnknownPeer;
    expect(dropped).toBeGreaterThan(n * 0.99);
  });
});
