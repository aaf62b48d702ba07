/**
 * Software TCP segmentation (gso.ts, and the addon's native/gso.c held to the same tests
 * where it is built): a super-segment cut into parts reassembles byte for
 * byte, every part has valid IP and TCP checksums (held to a byte-by-byte RFC 1071
 * reference), sequence numbers and IPv4 identifications step per part, FIN/PSH only on the
 * last part and CWR only on the first; IPv4 and IPv6; the word-summed checksum at every
 * alignment and length.
 */
import { seededU32 } from '@tapstack/testkit/random';
import { describe, expect, it } from 'vitest';
import {
  fillTcpChecksum,
  nativeTcpSegment,
  onesSum,
  planTcpSegments,
  type TcpSegmentFn,
  tcpSegmentInto,
} from '../src/index.js';

/** RFC 1071, byte by byte: the reference. */
function refSum(b: Uint8Array, from = 0, to = b.length): number {
  let s = 0;
  for (let i = from; i < to; i += 2) s += ((b[i] as number) << 8) | (i + 1 < to ? (b[i + 1] as number) : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;
const CWR = 0x80;

/** An IP packet carrying TCP (checksum 0, as a stack with checksum offload hands it down). */
function superSegment(v6: boolean, payload: Uint8Array, flags: number, seq: number, opts = 12): Uint8Array {
  const ih = v6 ? 40 : 20;
  const th = 20 + opts;
  const p = new Uint8Array(ih + th + payload.length);
  if (v6) {
    p[0] = 0x60;
    p[4] = (th + payload.length) >> 8;
    p[5] = (th + payload.length) & 0xff;
    p[6] = 6;
    p[7] = 64;
    p.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
    p.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  } else {
    const total = ih + th + payload.length;
    p.set([0x45, 0, total >> 8, total & 0xff, 0xff, 0xfe, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
  }
  const t = ih;
  p.set([0x9c, 0x40, 0x00, 0x07], t); // ports 40000 -> 7
  p[t + 4] = seq >>> 24;
  p[t + 5] = (seq >>> 16) & 0xff;
  p[t + 6] = (seq >>> 8) & 0xff;
  p[t + 7] = seq & 0xff;
  p.set([0, 0, 0x12, 0x34], t + 8);
  p[t + 12] = (th / 4) << 4;
  p[t + 13] = flags;
  p[t + 14] = 0xff;
  p[t + 15] = 0xff;
  for (let i = 20; i < th; i++) p[t + i] = 1; // NOP options
  p.set(payload, ih + th);
  return p;
}

function tcpChecksumOk(p: Uint8Array): boolean {
  const v6 = (p[0] as number) >> 4 === 6;
  const ih = v6 ? 40 : ((p[0] as number) & 15) * 4;
  const tcpLen = p.length - ih;
  const pseudo = v6 ? refSum(p, 8, 40) + 6 + tcpLen : refSum(p, 12, 20) + 6 + tcpLen;
  let s = pseudo + refSum(p, ih, p.length);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

const impls: Array<[string, TcpSegmentFn]> = [['js', tcpSegmentInto]];
const native = nativeTcpSegment();
if (native) impls.push(['native', native]);
else if (process.platform === 'linux')
  console.warn('gso.test: the addon is not built; native tcpSegment untested');

/** Cuts p with `seg` into one buffer (parts 3 bytes apart, at odd offsets) and returns copies of the parts. */
function partsWith(seg: TcpSegmentFn, p: Uint8Array, gso: number): Uint8Array[] {
  const plan = planTcpSegments(p, gso);
  if (!plan) throw new Error('no plan');
  const offs = new Uint32Array(plan.count + 2);
  let at = 1;
  const lens: number[] = [];
  for (let i = 0; i < plan.count; i++) {
    offs[i + 2] = at;
    const len = plan.hdr + Math.min(gso, plan.payload - i * gso);
    lens.push(len);
    at += len + 3;
  }
  const dst = new ArrayBuffer(at);
  new Uint8Array(dst).fill(0xee);
  expect(seg(p, plan.th, gso, dst, offs, 2, plan.count)).toBe(plan.count);
  const u8 = new Uint8Array(dst);
  // Nothing written between the parts.
  for (let i = 0; i < plan.count; i++) {
    const end = (offs[i + 2] as number) + (lens[i] as number);
    expect([...u8.subarray(end, end + 3)].every((b) => b === 0xee)).toBe(true);
  }
  return lens.map((len, i) => u8.slice(offs[i + 2] as number, (offs[i + 2] as number) + len));
}

describe('onesSum', () => {
  it('equals the byte-by-byte RFC 1071 sum at every alignment and length', () => {
    const r = seededU32(7);
    const buf = new Uint8Array(4096 + 16);
    for (let i = 0; i < buf.length; i++) buf[i] = r() & 0xff;
    for (let from = 0; from < 8; from++)
      for (const len of [0, 1, 2, 3, 63, 64, 65, 66, 67, 100, 1367, 1368, 1369, 4000]) {
        expect(onesSum(buf, from, len), `from ${from} len ${len}`).toBe(refSum(buf, from, from + len));
        const view = buf.subarray(3); // a view whose own offset is misaligned
        expect(onesSum(view, from, len), `view from ${from} len ${len}`).toBe(refSum(view, from, from + len));
      }
    // All ones: the sum stays 0xffff, never folds to 0.
    const ff = new Uint8Array(256).fill(0xff);
    expect(onesSum(ff, 0, 256)).toBe(0xffff);
  });
});

describe.each(impls)('tcpSegment (%s)', (_name, seg) => {
  const parts = (p: Uint8Array, gso: number) => partsWith(seg, p, gso);
  for (const v6 of [false, true]) {
    const fam = v6 ? 'IPv6' : 'IPv4';
    it(`${fam}: parts reassemble byte for byte with valid checksums, seq stepping, FIN/PSH on the last only`, () => {
      const r = seededU32(v6 ? 11 : 12);
      const payload = new Uint8Array(64000);
      for (let i = 0; i < payload.length; i++) payload[i] = r() & 0xff;
      const seq = 0xffff_f000; // wraps inside the super-segment
      const gso = 1368;
      const p = superSegment(v6, payload, ACK | PSH | FIN | CWR, seq);
      const got = parts(p, gso);
      expect(got.length).toBe(Math.ceil(payload.length / gso));
      const ih = v6 ? 40 : 20;
      const hdr = ih + 32;
      const joined = new Uint8Array(payload.length);
      let at = 0;
      got.forEach((part, i) => {
        const len = part.length - hdr;
        expect(len).toBe(Math.min(gso, payload.length - i * gso));
        if (v6) expect(((part[4] as number) << 8) | (part[5] as number)).toBe(part.length - 40);
        else {
          expect(((part[2] as number) << 8) | (part[3] as number)).toBe(part.length);
          expect(refSum(part, 0, 20)).toBe(0xffff); // header checksum
          expect(((part[4] as number) << 8) | (part[5] as number)).toBe((0xfffe + i) & 0xffff);
          expect(part[6]).toBe(0x40); // DF kept
        }
        expect(tcpChecksumOk(part), `part ${i}`).toBe(true);
        const s =
          (((part[ih + 4] as number) << 24) |
            ((part[ih + 5] as number) << 16) |
            ((part[ih + 6] as number) << 8) |
            (part[ih + 7] as number)) >>>
          0;
        expect(s).toBe((seq + i * gso) >>> 0);
        const f = part[ih + 13] as number;
        const last = i === got.length - 1;
        expect((f & FIN) !== 0).toBe(last);
        expect((f & PSH) !== 0).toBe(last);
        expect((f & CWR) !== 0).toBe(i === 0);
        expect(f & ACK).toBe(ACK);
        // Options, ports, ack number and window repeat unchanged.
        expect([...part.subarray(ih + 8, ih + 13)]).toEqual([...p.subarray(ih + 8, ih + 13)]);
        expect([...part.subarray(ih + 14, ih + 16)]).toEqual([...p.subarray(ih + 14, ih + 16)]);
        expect([...part.subarray(ih + 18, hdr)]).toEqual([...p.subarray(ih + 18, hdr)]);
        joined.set(part.subarray(hdr), at);
        at += len;
      });
      expect(at).toBe(payload.length);
      expect(Buffer.from(joined).equals(Buffer.from(payload))).toBe(true);
    });

    it(`${fam}: a payload that fits one part is one part, checksum filled, headers kept`, () => {
      const p = superSegment(v6, new Uint8Array(100).fill(7), ACK | PSH, 1000);
      const got = parts(p, 1368);
      expect(got.length).toBe(1);
      expect(tcpChecksumOk(got[0] as Uint8Array)).toBe(true);
      expect([...(got[0] as Uint8Array).subarray(0, 10)]).toEqual([...p.subarray(0, 10)]);
    });

    it(`${fam}: odd sizes (last part of 1 byte, payload an exact multiple, IPv4 options)`, () => {
      for (const [n, g] of [
        [2737, 1368],
        [2736, 1368],
        [4001, 1000],
        [999, 7],
      ] as const) {
        const pay = new Uint8Array(n).map((_, i) => i * 7);
        const p = superSegment(v6, pay, ACK | FIN, 77);
        const got = parts(p, g);
        expect(got.length).toBe(Math.ceil(n / g));
        for (const q of got) expect(tcpChecksumOk(q)).toBe(true);
      }
      if (!v6) {
        // A 24-byte IPv4 header (one option word: NOPs and an end-of-list).
        const base = superSegment(false, new Uint8Array(3000).fill(3), ACK, 9);
        const p = new Uint8Array(base.length + 4);
        p.set(base.subarray(0, 20));
        p.set([1, 1, 1, 0], 20);
        p.set(base.subarray(20), 24);
        p[0] = 0x46;
        p[2] = p.length >> 8;
        p[3] = p.length & 0xff;
        const got = parts(p, 1000);
        expect(got.length).toBe(3);
        for (const q of got) {
          expect(refSum(q, 0, 24)).toBe(0xffff);
          expect(tcpChecksumOk(q)).toBe(true);
        }
      }
    });

    it(`${fam}: fillTcpChecksum on a bare ACK and on data`, () => {
      for (const n of [0, 1, 999, 1368]) {
        const p = superSegment(v6, new Uint8Array(n).fill(0xa5), ACK, 5);
        expect(fillTcpChecksum(p)).toBe(true);
        expect(tcpChecksumOk(p)).toBe(true);
      }
    });
  }
});

describe('planTcpSegments', () => {
  it('refuses what is not a whole TCP segment', () => {
    const udp = superSegment(false, new Uint8Array(3000), ACK, 1);
    udp[9] = 17;
    expect(planTcpSegments(udp, 1000)).toBeUndefined();
    expect(fillTcpChecksum(udp)).toBe(false);
    const frag = superSegment(false, new Uint8Array(3000), ACK, 1);
    frag[6] = 0x20; // MF
    expect(planTcpSegments(frag, 1000)).toBeUndefined();
    const ext = superSegment(true, new Uint8Array(3000), ACK, 1);
    ext[6] = 0; // hop-by-hop options first
    expect(planTcpSegments(ext, 1000)).toBeUndefined();
    const p = superSegment(false, new Uint8Array(3000), ACK, 1);
    expect(planTcpSegments(p.subarray(0, 2000), 1000)).toBeUndefined(); // length says more
    expect(planTcpSegments(p, 0)).toBeUndefined();
    expect(planTcpSegments(new Uint8Array(0), 1000)).toBeUndefined();
    expect(planTcpSegments(superSegment(false, new Uint8Array(0), ACK, 1), 1000)).toBeUndefined();
    expect(planTcpSegments(p, 1000)).toEqual({ th: 20, hdr: 52, payload: 3000, count: 3 });
  });
});

describe.skipIf(!native)('native tcpSegment: bad arguments are refused before anything is written', () => {
  it('throws and leaves dst alone', () => {
    const seg = native as TcpSegmentFn;
    const p = superSegment(false, new Uint8Array(3000).fill(1), ACK, 1);
    const dst = new ArrayBuffer(8192);
    const offs = Uint32Array.of(0, 2000, 4000);
    const untouched = () => new Uint8Array(dst).every((b) => b === 0);
    const bad: Array<() => unknown> = [
      () => seg(p, 20, 1000, dst, offs, 0, 2), // wrong count
      () => seg(p, 24, 1000, dst, offs, 0, 3), // th not the header length
      () => seg(p, 20, 1000, dst, offs, 1, 3), // dstOff too short
      () => seg(p, 20, 1000, dst, Uint32Array.of(0, 2000, 7500), 0, 3), // last part past the end
      () => seg(p, 20, 0, dst, offs, 0, 3),
      () => seg(p.subarray(0, 2000), 20, 1000, dst, offs, 0, 2), // length disagrees
      () => seg(p, 20, 1000, new Uint8Array(10) as unknown as ArrayBuffer, offs, 0, 3),
      () => seg(p, 20, 1000, dst, [0, 1, 2] as unknown as Uint32Array, 0, 3),
      () => seg(p, -1, 1000, dst, offs, 0, 3),
      () => seg(p, 20.5, 1000, dst, offs, 0, 3),
    ];
    for (const f of bad) {
      expect(f).toThrow();
      expect(untouched()).toBe(true);
    }
    // Parts over the packet itself (same buffer) are refused.
    const shared = new ArrayBuffer(16384);
    const q = new Uint8Array(shared, 0, p.length);
    q.set(p);
    expect(() => seg(q, 20, 1000, shared, Uint32Array.of(100, 6000, 9000), 0, 3)).toThrow(RangeError);
    expect(seg(q, 20, 1000, shared, Uint32Array.of(4000, 6000, 9000), 0, 3)).toBe(3);
  });

  it('agrees with the JS twin on random super-segments', () => {
    const r = seededU32(99);
    for (let k = 0; k < 200; k++) {
      const v6 = (r() & 1) === 1;
      const n = 1 + (r() % 20000);
      const g = 1 + (r() % 1500);
      const pay = new Uint8Array(n).map(() => r() & 0xff);
      const p = superSegment(v6, pay, r() & 0xff, r(), 4 * (r() % 11));
      const a = partsWith(tcpSegmentInto, p, g);
      const b = partsWith(native as TcpSegmentFn, p, g);
      expect(b.length).toBe(a.length);
      for (let i = 0; i < a.length; i++)
        expect(Buffer.from(b[i] as Uint8Array).equals(Buffer.from(a[i] as Uint8Array))).toBe(true);
      for (const q of a) expect(tcpChecksumOk(q)).toBe(true);
    }
  });
});
