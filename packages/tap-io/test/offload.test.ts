/**
 * TAP with `offload: true` (virtio-net header, TUNSETOFFLOAD) against the kernel in a
 * namespace this test creates and deletes (root; skipped otherwise): what the reader puts
 * in each ring record's metadata word, checksums it completes or checks, the partial TCP
 * checksum the writer fills in, and wrappers turning the offloads off. Bulk TCP with
 * super-frames both ways is in stack-driver's offload test.
 */
import { FrameRing } from '@tapstack/frame-ring';
import { afterAll, describe, expect, it } from 'vitest';
import {
  openTap,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  tcpGsoSizeAt,
  withFaults,
  withPcap,
} from '../src/index.js';
import { loadNative } from '../src/native.js';
import { checksum, ip4, mac, Responder, rootSkipReason, sh, until } from './helpers.js';
import { Netns } from './netns.js';

const skip = rootSkipReason();
if (skip) console.warn(`tap-io offload tests skipped: ${skip}`);

const tag = `${process.pid % 100000}`;
const fixtures: Netns[] = [];
afterAll(() => {
  for (const n of fixtures.splice(0)) n.cleanup();
});

// Ring metadata word bits (README "Offloads", native/tap.cc RxVnet).
const META_VNET = 1 << 31;
const META_CSUM_OK = 1 << 26;
const META_NEEDS_CSUM = 1 << 24;

/** Ones'-complement sum of an IPv4 TCP/UDP segment with its pseudo-header, folded. */
function l4Sum(f: Uint8Array, l3: number): number {
  const ihl = (f[l3]! & 15) * 4;
  const total = (f[l3 + 2]! << 8) | f[l3 + 3]!;
  const len = total - ihl;
  const pseudo = new Uint8Array(12 + len);
  pseudo.set(f.subarray(l3 + 12, l3 + 20), 0);
  pseudo[9] = f[l3 + 9]!;
  pseudo[10] = len >> 8;
  pseudo[11] = len & 255;
  pseudo.set(f.subarray(l3 + ihl, l3 + total), 12);
  return ~checksum(pseudo, 0, pseudo.length) & 0xffff;
}

interface Rx {
  frame: Uint8Array;
  meta: number;
}

/** Opens an offload TAP in a fresh namespace (192.0.2.1 there, a responder at 192.0.2.2 here). */
function setup(n: string) {
  const name = `tsof${n}${tag}`;
  const ns = new Netns(`tsofns${n}${tag}`);
  fixtures.push(ns);
  const tap = openTap({ name, mac: mac(0x22), offload: true });
  const ring = FrameRing.create({ capacity: 1 << 22, maxFrameSize: 65535 });
  const got: Rx[] = [];
  const r = new Responder(ip4('192.0.2.2'), tap.mac);
  const i32 = new Int32Array(ring.buffer);
  const drain = () =>
    ring.drainRaw(1024, (u8, off, len) => {
      const f = u8.slice(off, off + len);
      got.push({ frame: f, meta: i32[(off >> 2) - 1]! });
      const ans = r.answer(f);
      if (ans) tap.send(ans);
    });
  tap.attachRxRing(ring, drain);
  const timer = setInterval(drain, 5);
  ns.create();
  sh('ip', ['link', 'set', name, 'netns', ns.name]);
  ns.ip(['addr', 'add', '192.0.2.1/24', 'dev', name]);
  ns.ip(['link', 'set', name, 'up']);
  ns.ip(['neigh', 'add', '192.0.2.2', 'lladdr', '02:00:00:00:00:22', 'dev', name]);
  return {
    tap,
    ns,
    got,
    close: async () => {
      clearInterval(timer);
      await tap.close();
      ns.cleanup();
    },
  };
}

const udp = (f: Uint8Array) => f.length > 34 && f[12] === 8 && f[13] === 0 && f[23] === 17;
const tcp = (f: Uint8Array) => f.length > 54 && f[12] === 8 && f[13] === 0 && f[23] === 6;

describe.skipIf(skip !== undefined)('TapLink offload: true (root)', () => {
  it('opens with a virtio-net header and TSO; ping goes through; wrappers turn the offloads off', async () => {
    const t = setup('a');
    try {
      expect(t.tap.vnetHdr).toBe(10);
      expect(t.tap.offloads).toBe(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
      expect(t.tap.checksumOffload).toBe(true);
      expect(t.tap.gsoMaxSize).toBe(65535);
      const ping = await t.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', '192.0.2.2']);
      expect(ping.stdout).toContain('2 received');
      const icmp = t.got.filter((g) => g.frame[23] === 1);
      expect(icmp.length).toBe(2);
      for (const g of icmp) expect(g.meta & META_VNET).not.toBe(0);
      // A wrapper needs wire-true frames: the kernel then segments and checksums for us.
      const p = withPcap(t.tap, `/tmp/tsof${tag}.pcap`);
      expect(t.tap.offloads).toBe(0);
      expect(t.tap.checksumOffload).toBe(false);
      expect(p.checksumOffload).toBe(false);
      expect(p.gsoMaxSize).toBe(0);
      const ping2 = await t.ns.exec('ping', ['-c', '1', '-W', '2', '192.0.2.2']);
      expect(ping2.stdout).toContain('1 received');
    } finally {
      await t.close();
      sh('rm', ['-f', `/tmp/tsof${tag}.pcap`]);
    }
  });

  it('withFaults turns the offloads off (and so allows corruption)', async () => {
    const name = `tsofw${tag}`;
    const tap = openTap({ name, offload: true });
    try {
      expect(tap.checksumOffload).toBe(true);
      const f = withFaults(tap, { corrupt: 0.1, seed: 1 });
      expect(tap.checksumOffload).toBe(false);
      expect(f.gsoMaxSize).toBe(0);
    } finally {
      await tap.close();
    }
  });

  it('a UDP datagram the kernel left with a partial checksum arrives completed', async () => {
    const t = setup('u');
    try {
      const py =
        "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(bytes(range(256))*3, ('192.0.2.2', 9999))";
      const r = await t.ns.exec('python3', ['-c', py]);
      expect(r.code).toBe(0);
      await until(() => t.got.some((g) => udp(g.frame)), 3000, 'the datagram');
      const g = t.got.find((x) => udp(x.frame))!;
      expect(g.meta & META_CSUM_OK).not.toBe(0);
      expect(g.meta & META_NEEDS_CSUM).not.toBe(0); // the kernel asked us to finish it
      expect(l4Sum(g.frame, 14)).toBe(0xffff); // and the reader did
    } finally {
      await t.close();
    }
  });

  it('a TCP segment the kernel did not vouch for is checked: a bad checksum is dropped and counted', async () => {
    const t = setup('t');
    try {
      // Raw TCP from the namespace: the kernel sends our bytes as they are (no offload flags).
      const py = `
import socket, struct
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
src, dst = socket.inet_aton('192.0.2.1'), socket.inet_aton('192.0.2.2')
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
for port, good in ((1111, True), (2222, False)):
    payload = b'offload' * 10
    h = struct.pack('!HHIIBBHHH', port, 80, 1, 0, 5 << 4, 0x18, 1000, 0, 0)
    c = csum(src + dst + struct.pack('!BBH', 0, 6, len(h) + len(payload)) + h + payload)
    if not good: c ^= 0x1234
    h = h[:16] + struct.pack('!H', c) + h[18:]
    s.sendto(h + payload, ('192.0.2.2', 0))
`;
      const r = await t.ns.exec('python3', ['-c', py]);
      expect(r.code).toBe(0);
      await until(() => t.tap.stats().rxCsumErrors === 1, 3000, 'the bad segment counted');
      await until(() => t.got.some((g) => tcp(g.frame)), 3000, 'the good segment');
      const segs = t.got.filter((g) => tcp(g.frame));
      expect(segs.map((g) => (g.frame[34]! << 8) | g.frame[35]!)).toEqual([1111]);
      expect(segs[0]!.meta & META_CSUM_OK).not.toBe(0);
      expect(segs[0]!.meta & META_NEEDS_CSUM).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('the writer puts the pseudo-header sum in a TCP frame sent with checksum 0 (partial checksum)', async () => {
    const name = `tsofp${tag}`;
    const tap = openTap({ name, offload: true });
    try {
      const f = new Uint8Array(14 + 20 + 20 + 77);
      f.set(mac(0x44), 0);
      f.set(mac(0x33), 6);
      f.set([8, 0], 12);
      f.set([0x45, 0, 0, 20 + 20 + 77, 0, 1, 0x40, 0, 64, 6, 0, 0], 14);
      f.set(ip4('198.51.100.1'), 26);
      f.set(ip4('198.51.100.2'), 30);
      const ipc = checksum(f, 14, 20);
      f[24] = ipc >> 8;
      f[25] = ipc & 255;
      f.set([0x12, 0x34, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x10, 0], 34);
      for (let i = 54; i < f.length; i++) f[i] = i * 7;
      const want = ~l4Sum(f, 14) & 0xffff; // the full checksum (the field is 0 here)
      const out = new Float64Array(3);
      const n = loadNative().writeBatch(tap.fd, f, Uint32Array.of(f.length), 1, out, 1 | 2 | 4);
      expect(n).toBe(1);
      const field = (f[50]! << 8) | f[51]!;
      // The field holds the folded pseudo-header sum; the kernel adds the segment to it.
      const pseudo = new Uint8Array(12);
      pseudo.set(f.subarray(26, 34), 0);
      pseudo[9] = 6;
      pseudo[11] = 20 + 77;
      expect(field).toBe(~checksum(pseudo, 0, 12) & 0xffff);
      // Finishing it as the kernel does (sum from csum_start to the end, the field included)
      // gives the full checksum.
      expect(checksum(f, 34, 20 + 77)).toBe(want);
    } finally {
      await tap.close();
    }
  });
});

describe('tcpGsoSizeAt: the part size from a ring record’s metadata word', () => {
  it('gso_size for TCPv4/TCPv6 super-frames with a virtio-net header; 0 for anything else', () => {
    const ring = FrameRing.createLocal({ capacity: 1 << 16, maxFrameSize: 2048 });
    const cases: [number, number][] = [
      [META_VNET | (1 << 16) | 1448, 1448], // TCPv4
      [META_VNET | (4 << 16) | 1428, 1428], // TCPv6
      [META_VNET | (1 << 23) | (1 << 16) | 1448 | META_CSUM_OK, 1448], // ECN and checksum bits aside
      [META_VNET | (5 << 16) | 1400, 0], // UDP_L4 (USO): not TCP
      [META_VNET | META_NEEDS_CSUM, 0], // a frame without GSO
      [(1 << 16) | 1448, 0], // no virtio-net header: another producer's word (a JS push)
      [1448, 0],
      [0, 0],
    ];
    for (const [meta] of cases) ring.push(new Uint8Array(60), 'drop', meta);
    const got: number[] = [];
    ring.drainRaw(100, (u8, off) => void got.push(tcpGsoSizeAt(u8, off)));
    expect(got).toEqual(cases.map(([, want]) => want));
  });
});
