/**
 * The transport AEAD backends (OpenSSL batched through tap-io's addon, node:crypto per message)
 * held to each other, and the device's batched paths: sendMany/sendDeferred seal per session
 * key, receiveMany opens a burst and then handles each message in order (forged, replayed and
 * retired-session messages inside a burst are counted and dropped; handshakes split bursts).
 * RFC 8439's vector is checked on the addon itself (tap-io test/aead.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { nativeAead } from '@tapstack/tap-io';
import { describe, expect, it } from 'vitest';
import { transportAead } from '../src/transport-aead.js';
import { PrivateKey, WireGuardDevice, parsePrefix } from '../src/index.js';
import { type Datagram, ManualClock, MemoryNet, ipv4Packet, makePair, seededRandom } from './harness.js';

const haveOpenssl = nativeAead() !== undefined;
const backends = haveOpenssl ? (['openssl', 'node'] as const) : (['node'] as const);

function batch(sizes: number[], counters: Array<[number, number]>) {
  const off = new Uint32Array(sizes.length);
  const len = Uint32Array.from(sizes);
  const ctr = new Uint32Array(2 * sizes.length);
  let at = 0;
  sizes.forEach((s, i) => {
    off[i] = at;
    at += s + 16;
    const [lo, hi] = counters[i % counters.length]!;
    ctr[2 * i] = lo;
    ctr[2 * i + 1] = hi;
  });
  const buf = new ArrayBuffer(at);
  const u8 = new Uint8Array(buf);
  const plains = sizes.map((s, i) => {
    const p = randomBytes(s);
    u8.set(p, off[i]);
    return p;
  });
  return { buf, off, len, ctr, plains };
}

describe('transport AEAD backends', () => {
  it.skipIf(!haveOpenssl)('openssl seals what node opens and the other way round, byte for byte', () => {
    const raw = randomBytes(32);
    const sizes = [0, 1, 16, 31, 1420, 1436, 9000, 65_000];
    const counters: Array<[number, number]> = [
      [0, 0],
      [7, 0],
      [0xffff_ffff, 0],
      [0, 1],
      [0xdead_beef, 0x1f_ffff],
    ];
    for (const [sealer, opener] of [
      ['openssl', 'node'],
      ['node', 'openssl'],
    ] as const) {
      const s = transportAead(sealer);
      const o = transportAead(opener);
      expect([s.backend, o.backend]).toEqual([sealer, opener]);
      const b = batch(sizes, counters);
      const sk = s.key(raw, true);
      expect(s.seal(sk, b.buf, b.off, b.len, b.ctr, 0, sizes.length)).toBe(sizes.length);
      // The other backend seals the same bytes to the same ciphertext.
      const again = batch(sizes, counters);
      const u8 = new Uint8Array(again.buf);
      for (const [i, p] of b.plains.entries()) u8.set(p, again.off[i]);
      o.seal(o.key(raw, true), again.buf, again.off, again.len, again.ctr, 0, sizes.length);
      expect(Buffer.from(again.buf).equals(Buffer.from(b.buf))).toBe(true);
      // And opens it.
      const sealedLen = b.len.map((l) => l + 16);
      const dst = new ArrayBuffer(b.buf.byteLength);
      const ok = new Uint8Array(sizes.length);
      const ok2 = o.open(o.key(raw, false), b.buf, b.off, sealedLen, dst, b.off, b.ctr, 0, sizes.length, ok);
      expect(ok2).toBe(sizes.length);
      for (const [i, p] of b.plains.entries())
        expect(Buffer.from(dst, b.off[i], p.length).equals(p)).toBe(true);
      s.free(sk);
    }
  });

  it.each(backends)(
    '%s: a flipped bit, a wrong counter or a wrong key fails only its own message',
    (name) => {
      const a = transportAead(name);
      const raw = randomBytes(32);
      const b = batch([100, 100, 100, 100], [[5, 0]]);
      a.seal(a.key(raw, true), b.buf, b.off, b.len, b.ctr, 0, 4);
      new Uint8Array(b.buf)[b.off[1]! + 3]! ^= 1;
      b.ctr[4] = 6; // message 2 opened under counter 6
      const len = b.len.map((l) => l + 16);
      const dst = new ArrayBuffer(b.buf.byteLength);
      const ok = new Uint8Array(4);
      expect(a.open(a.key(raw, false), b.buf, b.off, len, dst, b.off, b.ctr, 0, 4, ok)).toBe(2);
      expect([...ok]).toEqual([1, 0, 0, 1]);
      expect(a.open(a.key(randomBytes(32), false), b.buf, b.off, len, dst, b.off, b.ctr, 0, 4, ok)).toBe(0);
    },
  );
});

describe.each(backends)('device transport on %s', (aead) => {
  const other = aead === 'openssl' ? 'node' : 'openssl';

  it.skipIf(!haveOpenssl)(`talks to a device on ${other}: 200 packets each way, batched`, () => {
    const { net, a, b, gotA, gotB } = makePair({ aOpts: { aead }, bOpts: { aead: other } });
    expect(a.aeadBackend).toBe(aead);
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(0)));
    net.flush();
    const toB = Array.from({ length: 200 }, (_, i) =>
      ipv4Packet('192.0.2.1', '192.0.2.2', randomBytes(i * 7)),
    );
    const toA = Array.from({ length: 200 }, (_, i) =>
      ipv4Packet('192.0.2.2', '192.0.2.1', randomBytes(i * 7)),
    );
    expect(a.sendMany(toB)).toBe(200);
    expect(b.sendMany(toA)).toBe(200);
    // Deliver each side's datagrams as one burst.
    const forA = net.queue.filter((d) => d.to.port === 1000).splice(0);
    const forB = net.queue.filter((d) => d.to.port === 2000).splice(0);
    net.queue.length = 0;
    a.receiveMany(
      forA.map((d) => d.data),
      forA.map((d) => d.from),
    );
    b.receiveMany(
      forB.map((d) => d.data),
      forB.map((d) => d.from),
    );
    const joined = (xs: Uint8Array[]) => Buffer.concat(xs.map((x) => Buffer.from(x)));
    expect(gotB.slice(1).map((x) => x.length)).toEqual(toB.map((x) => x.length));
    expect(joined(gotB.slice(1)).equals(joined(toB))).toBe(true);
    expect(gotA.map((x) => x.length)).toEqual(toA.map((x) => x.length));
    expect(joined(gotA).equals(joined(toA))).toBe(true);
    expect(a.counters.dropDecrypt + b.counters.dropDecrypt).toBe(0);
  });

  it('a burst with a forged, a replayed and a truncated message delivers the rest in order', () => {
    const { net, a, b, gotB } = makePair({ aOpts: { aead }, bOpts: { aead } });
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(0)));
    net.flush();
    gotB.length = 0;
    const pkts = Array.from({ length: 6 }, (_, i) =>
      ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(i, i, i)),
    );
    a.sendMany(pkts);
    const ds = net.queue.splice(0);
    const data = ds.map((d) => Uint8Array.from(d.data));
    data[1]![20]! ^= 0x40; // forged body
    const burst = [data[0]!, data[1]!, data[2]!, data[0]!, data[3]!, data[4]!.subarray(0, 20), data[5]!];
    b.receiveMany(
      burst,
      burst.map(() => ds[0]!.from),
    );
    expect(gotB).toEqual([pkts[0], pkts[2], pkts[3], pkts[5]]);
    expect(b.counters.dropDecrypt).toBe(1);
    expect(b.counters.dropReplay).toBe(1);
    expect(b.counters.dropMalformed).toBe(1);
  });

  it('a handshake inside a burst: messages before it are handled first, messages on the new session after', () => {
    const { net, clock, a, b, gotB } = makePair({ aOpts: { aead }, bOpts: { aead } });
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(0)));
    net.flush();
    gotB.length = 0;
    const p = (i: number) => ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(i));
    a.send(p(1)); // on the first session
    const old = net.queue.splice(0);
    // A rekeys (REKEY_AFTER_TIME); B answers the initiation, A confirms on the new session.
    clock.advance(121_000);
    a.send(p(2));
    const init = net.queue.splice(0);
    expect(init.some((d) => d.data[0] === 1)).toBe(true);
    const burst: Datagram[] = [...old, ...init];
    b.receiveMany(
      burst.map((d) => d.data),
      burst.map((d) => d.from),
    );
    net.flush();
    a.send(p(3));
    net.flush();
    expect(gotB.map((x) => x[20])).toEqual([1, 2, 3]);
    expect(b.counters.dropDecrypt + b.counters.dropUnknownIndex).toBe(0);
  });

  it('with a bind that copies, one seal buffer is reused (and grown) across flushes: every packet arrives intact', () => {
    const net = new MemoryNet();
    const clock = new ManualClock();
    const ka = PrivateKey.generate(seededRandom(1));
    const kb = PrivateKey.generate(seededRandom(2));
    const aEp = { address: '127.0.0.1', port: 1000 };
    const bEp = { address: '127.0.0.2', port: 2000 };
    const inner = net.bind(aEp);
    let sends = 0;
    const buffers = new Set<ArrayBufferLike>();
    const got: Uint8Array[] = [];
    const a = new WireGuardDevice({
      privateKey: ka.raw,
      aead,
      clock,
      random: seededRandom(11),
      onPacket: () => {},
      bind: {
        copies: true,
        send: (d, to) => {
          sends++;
          buffers.add(d.buffer);
          inner.send(d, to); // MemoryNet copies
        },
      },
    });
    const b = new WireGuardDevice({
      privateKey: kb.raw,
      aead,
      clock,
      random: seededRandom(22),
      bind: net.bind(bEp),
      onPacket: (p) => got.push(Uint8Array.from(p)),
    });
    a.addPeer({ publicKey: kb.publicKey, allowedIps: [parsePrefix('192.0.2.2/32')!], endpoint: bEp });
    b.addPeer({ publicKey: ka.publicKey, allowedIps: [parsePrefix('192.0.2.1/32')!] });
    net.attach(aEp, a);
    net.attach(bEp, b);
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(0)));
    net.flush();
    got.length = 0;
    const sent: Uint8Array[] = [];
    for (const [count, size] of [
      [1, 10],
      [3, 1000],
      [300, 1400],
      [2, 0],
      [50, 33],
      [1, 1400],
    ] as const) {
      const batch = Array.from({ length: count }, () =>
        ipv4Packet('192.0.2.1', '192.0.2.2', randomBytes(size)),
      );
      sent.push(...batch);
      a.sendMany(batch);
      net.flush();
    }
    expect(got.length).toBe(sent.length);
    const joined = (xs: Uint8Array[]) => Buffer.concat(xs.map((x) => Buffer.from(x)));
    expect(joined(got).equals(joined(sent))).toBe(true);
    // Far fewer buffers than messages: reused, replaced only while growing.
    expect(sends).toBeGreaterThan(350);
    expect(buffers.size).toBeLessThan(10);
  });

  it('packets handed to onPacket may be kept: later batches never write over them', () => {
    const kept: Uint8Array[] = [];
    const { net, a } = makePair({ aOpts: { aead }, bOpts: { aead, onPacket: (p) => kept.push(p) } });
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(0)));
    net.flush();
    kept.length = 0;
    const sent: Uint8Array[] = [];
    for (let round = 0; round < 40; round++) {
      const batch = Array.from({ length: 1 + (round % 7) }, (_, i) =>
        ipv4Packet('192.0.2.1', '192.0.2.2', randomBytes(1 + ((round * 131 + i * 977) % 1400))),
      );
      sent.push(...batch);
      a.sendMany(batch);
      net.flush();
    }
    expect(kept.length).toBe(sent.length);
    const joined = (xs: Uint8Array[]) => Buffer.concat(xs.map((x) => Buffer.from(x)));
    expect(joined(kept).equals(joined(sent))).toBe(true);
  });

  it('sendDeferred copies the packet: changing it before the flush changes nothing sent', () => {
    const { net, a, gotB } = makePair({ aOpts: { aead }, bOpts: { aead } });
    a.send(ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(0)));
    net.flush();
    gotB.length = 0;
    const pkt = ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(1, 2, 3));
    const sent = Uint8Array.from(pkt);
    expect(a.sendDeferred(pkt)).toBe(true);
    expect(net.queue).toHaveLength(0); // nothing until the flush
    pkt.fill(0xee, 20);
    a.flush();
    net.flush();
    expect(gotB).toEqual([sent]);
  });
});
