/**
 * SYN shedding in the native TAP reader (issue 14): while the receive ring is over half
 * full, pure TCP SYNs without options are read and not committed (counted in
 * `rxSynShed`); SYNs with options only once it is nearly full; everything else keeps the
 * room a stalled consumer leaves. Frames come from the kernel side of the TAP (a packet
 * socket on the interface, the addon's blaster), IPv4 and IPv6, with and without the
 * virtio-net header. Root only; skipped with a message otherwise.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { FrameRing } from '@tapstack/frame-ring';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_TX_QUEUE_LEN, type Link, openTap, openTun, type TapLink } from '../src/index.js';
import { checksum, mac, rootSkipReason, sh, until } from './helpers.js';

const skip = rootSkipReason();
if (skip) console.warn(`tap-io SYN shedding tests skipped: ${skip}`);

const tag = `${process.pid % 100000}`;
const links: Link[] = [];
afterAll(async () => {
  for (const l of links.splice(0)) await l.close().catch(() => {});
});

const TCP_SYN = 0x02;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;

/**
 * An Ethernet frame carrying a TCP segment with `flags`, `optionWords` 32-bit words of
 * options (NOPs and a timestamp when 3) and `data` payload bytes; checksums filled in.
 */
function tcpFrame(v6: boolean, flags: number, optionWords: number, data: number): Uint8Array {
  const ipLen = v6 ? 40 : 20;
  const tcpLen = 20 + optionWords * 4;
  const f = new Uint8Array(14 + ipLen + tcpLen + data);
  f.set(mac(0x44), 0);
  f.set(mac(0x33), 6);
  f[12] = v6 ? 0x86 : 0x08;
  f[13] = v6 ? 0xdd : 0x00;
  const ip = 14;
  if (v6) {
    f[ip] = 0x60;
    f[ip + 4] = (tcpLen + data) >> 8;
    f[ip + 5] = (tcpLen + data) & 255;
    f[ip + 6] = 6;
    f[ip + 7] = 64;
    f.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9], ip + 8);
    f.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], ip + 24);
  } else {
    f[ip] = 0x45;
    f[ip + 2] = (20 + tcpLen + data) >> 8;
    f[ip + 3] = (20 + tcpLen + data) & 255;
    f[ip + 8] = 64;
    f[ip + 9] = 6;
    f.set([198, 51, 100, 9], ip + 12);
    f.set([192, 0, 2, 2], ip + 16);
    const c = checksum(f, ip, 20);
    f[ip + 10] = c >> 8;
    f[ip + 11] = c & 255;
  }
  const t = ip + ipLen;
  f[t] = 0x9c;
  f[t + 1] = 0x40; // source port 40000
  f[t + 3] = 80;
  f[t + 4] = 0x12; // sequence number
  f[t + 12] = (tcpLen / 4) << 4;
  f[t + 13] = flags;
  f[t + 14] = 0xff;
  f[t + 15] = 0xff; // window
  if (optionWords === 3) f.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0], t + 20);
  else for (let i = 0; i < optionWords * 4; i++) f[t + 20 + i] = 1; // NOP
  for (let i = 0; i < data; i++) f[t + tcpLen + i] = 0x5a;
  // Pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1) + segment.
  const len = tcpLen + data;
  const ph = new Uint8Array((v6 ? 40 : 12) + len);
  if (v6) {
    ph.set(f.subarray(ip + 8, ip + 40), 0);
    ph[34] = len >> 8;
    ph[35] = len & 255;
    ph[39] = 6;
  } else {
    ph.set(f.subarray(ip + 12, ip + 20), 0);
    ph[9] = 6;
    ph[10] = len >> 8;
    ph[11] = len & 255;
  }
  ph.set(f.subarray(t), v6 ? 40 : 12);
  const c = checksum(ph, 0, ph.length);
  f[t + 16] = c >> 8;
  f[t + 17] = c & 255;
  return f;
}

type Kind = 'bare' | 'options' | 'ack' | 'other';
function kindOf(f: Uint8Array): Kind {
  if (f[12] !== 0x08 && f[12] !== 0x86) return 'other';
  const t = 14 + (f[12] === 0x86 ? 40 : 20);
  if (f.length < t + 20 || f[t + 2] !== 0 || f[t + 3] !== 80) return 'other';
  if (f[t + 13] === TCP_SYN) return f[t + 12]! >> 4 > 5 ? 'options' : 'bare';
  return f[t + 13] === (TCP_ACK | TCP_PSH) ? 'ack' : 'other';
}

/** A TUN packet with an Ethernet header in front, for kindOf. */
function withEthernet(p: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + p.length);
  f[12] = p[0]! >> 4 === 6 ? 0x86 : 0x08;
  f[13] = p[0]! >> 4 === 6 ? 0xdd : 0x00;
  f.set(p, 14);
  return f;
}

function noIpv6(name: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
  } catch {
    // IPv6 not built in: nothing to silence
  }
}

/** Frames the reader has taken off the TAP: committed, dropped at a full ring, or shed. */
const seen = (t: TapLink) => {
  const s = t.stats();
  return s.rxFrames + s.rxDropped + (s.rxSynShed ?? 0);
};

const RING = 1 << 18;

describe.skipIf(skip !== undefined)('TAP reader SYN shedding (root)', () => {
  const cases = [
    { v6: false, offload: false, rxMode: 'thread' as const },
    { v6: true, offload: false, rxMode: 'thread' as const },
    { v6: false, offload: true, rxMode: 'thread' as const },
    { v6: true, offload: true, rxMode: 'thread' as const },
    { v6: false, offload: false, rxMode: 'loop' as const },
    // TUN: bare IP packets (the reader's l2 = 0).
    { v6: false, offload: false, rxMode: 'thread' as const, tun: true },
    { v6: true, offload: true, rxMode: 'thread' as const, tun: true },
  ];
  it.each(cases)(
    'a SYN flood into a stalled consumer leaves room for ACKs and data (IPv6 $v6, offload $offload, $rxMode, TUN $tun)',
    async ({ v6, offload, rxMode, tun }) => {
      const name = `tssh${tag}${v6 ? 6 : 4}${offload ? 'o' : ''}${rxMode === 'loop' ? 'l' : ''}${tun ? 't' : ''}`;
      // A short kernel queue: what it still holds of one phase is read in the next (≤ 1000).
      const opts = { name, offload, rxMode, txQueueLen: 1000 };
      const tap = tun ? openTun(opts) : openTap(opts);
      const l3 = tun ? 14 : 0; // bytes of the test's Ethernet frames left off on a TUN
      const pkt = (f: Uint8Array) => f.slice(l3);
      links.push(tap);
      noIpv6(name);
      const native = (await import('../src/native.js')).loadNative();
      // Nobody drains this ring: the consumer is stalled for the whole test.
      const ring = FrameRing.create({ capacity: RING, maxFrameSize: 2048 });
      tap.attachRxRing(ring);
      const records = RING / 80; // a bare SYN's record is 80 bytes or less
      // Sends `f` over and over until `done(frames the reader took off the TAP since)`.
      const blast = async (f: Uint8Array, done: (read: number) => boolean, what: string) => {
        const from = seen(tap);
        const b = native.blastStart(name, f);
        try {
          await until(() => done(seen(tap) - from), 20_000, what);
        } finally {
          native.blastStop(b);
        }
      };
      try {
        // Far more bare SYNs than the ring holds, then SYNs with options, then data.
        await blast(pkt(tcpFrame(v6, TCP_SYN, 0, 0)), (read) => read >= 2 * records, 'bare SYNs read');
        await blast(pkt(tcpFrame(v6, TCP_SYN, 3, 0)), (read) => read >= records, 'SYNs with options read');
        const dropped = tap.stats().rxDropped;
        const committed = tap.stats().rxFrames;
        // The kernel's TAP queue may still hold SYNs: wait for 100 frames committed, or
        // (a full ring) for many frames read and none committed.
        await blast(
          pkt(tcpFrame(v6, TCP_ACK | TCP_PSH, 0, 100)),
          (read) => tap.stats().rxFrames - committed >= 100 || read >= 4 * records,
          'ACKs with data read',
        );
        const st = tap.stats();
        const n: Record<Kind, number> = { bare: 0, options: 0, ack: 0, other: 0 };
        let bareBytes = 0;
        ring.drain(1 << 20, (f) => {
          const k = kindOf(tun ? withEthernet(f) : f);
          n[k]++;
          if (k === 'bare') bareBytes += (f.length + 15) & ~7;
        });
        // SYNs without options stop at half the ring, SYNs with options take the next
        // part, and the data that comes after still finds room.
        expect(bareBytes).toBeLessThanOrEqual(RING / 2 + 80);
        expect(n.bare).toBeGreaterThan(records / 4);
        expect(n.options).toBeGreaterThan(0);
        expect(n.ack).toBeGreaterThanOrEqual(100);
        // Nothing was dropped blindly before the data came; every ACK read up to 100 was committed.
        expect(dropped).toBe(0);
        expect(st.rxFrames - committed).toBeGreaterThanOrEqual(100);
        expect(st.rxSynShed).toBeGreaterThan(records);
      } finally {
        await tap.close();
        links.splice(links.indexOf(tap), 1);
      }
    },
  );

  it('the kernel queue toward the reader is DEFAULT_TX_QUEUE_LEN (a longer one is kept) or txQueueLen', async () => {
    const qlen = (n: string) => Number(readFileSync(`/sys/class/net/${n}/tx_queue_len`, 'utf8'));
    const a = openTap({ name: `tsqa${tag}` });
    const b = openTap({ name: `tsqb${tag}`, txQueueLen: 2000 });
    links.push(a, b);
    try {
      expect(qlen(a.name)).toBe(DEFAULT_TX_QUEUE_LEN);
      expect(a.txQueueLen).toBe(DEFAULT_TX_QUEUE_LEN);
      expect(qlen(b.name)).toBe(2000);
      expect(() => openTap({ name: `tsqc${tag}`, txQueueLen: -1 })).toThrow(/txQueueLen/);
    } finally {
      await a.close();
      await b.close();
      links.splice(0);
    }
    // A persistent device with a longer queue keeps it.
    const name = `tsqp${tag}`;
    sh('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
    try {
      sh('ip', ['link', 'set', name, 'txqueuelen', '50000']);
      const c = openTap({ name });
      await c.close();
      expect(qlen(name)).toBe(50000);
    } finally {
      sh('ip', ['link', 'del', name]);
    }
  });

  it('rxSynShed: false turns it off (every frame goes to the ring or is dropped at a full one)', async () => {
    const name = `tssh${tag}n`;
    const tap = openTap({ name, rxSynShed: false });
    links.push(tap);
    noIpv6(name);
    const native = (await import('../src/native.js')).loadNative();
    const ring = FrameRing.create({ capacity: RING, maxFrameSize: 2048 });
    tap.attachRxRing(ring);
    const b = native.blastStart(name, tcpFrame(false, TCP_SYN, 0, 0));
    try {
      await until(() => seen(tap) >= (2 * RING) / 80, 20_000, 'bare SYNs read');
    } finally {
      native.blastStop(b);
    }
    try {
      const st = tap.stats();
      expect(st.rxSynShed).toBe(0);
      expect(st.rxDropped).toBeGreaterThan(0);
    } finally {
      await tap.close();
      links.splice(links.indexOf(tap), 1);
    }
  });
});
