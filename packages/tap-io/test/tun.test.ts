/**
 * TUN devices (IFF_TUN | IFF_NO_PI) against the kernel in a namespace this test creates and
 * deletes (root; skipped otherwise), and the in-memory IP pipe. On a TUN the kernel and we
 * exchange bare IP packets: no Ethernet header, no ARP.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createNamespace, type Namespace } from '@tapstack/interop/netns';
import { IpPipe, type Link, LinkError, openTap, openTun } from '../src/index.js';
import { rootSkipReason, until } from './helpers.js';

const skip = rootSkipReason();
if (skip) console.warn(`tap-io TUN tests skipped: ${skip}`);

const tag = `${process.pid % 100000}`;
const links: Link[] = [];
const spaces: Namespace[] = [];
afterAll(async () => {
  for (const l of links.splice(0)) await l.close().catch(() => {});
  for (const n of spaces.splice(0)) n.delete();
});

function sum16(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += ((b[i] as number) << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** An ICMPv4 echo (type 8 request / 0 reply) from src to dst with valid checksums. */
function echo4(src: number[], dst: number[], type: number, id: number, seq: number, data: Uint8Array) {
  const p = new Uint8Array(28 + data.length);
  p.set([0x45, 0, p.length >> 8, p.length & 0xff, 0, 0, 0x40, 0, 64, 1], 0);
  p.set(src, 12);
  p.set(dst, 16);
  const h = ~sum16(p, 0, 20) & 0xffff;
  p[10] = h >> 8;
  p[11] = h & 0xff;
  p.set([type, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff], 20);
  p.set(data, 28);
  const c = ~sum16(p, 20, p.length) & 0xffff;
  p[22] = c >> 8;
  p[23] = c & 0xff;
  return p;
}

describe.skipIf(skip !== undefined)('TUN device against the kernel (root)', () => {
  it('creates a TUN with an MTU; the kernel pings us and we ping the kernel, bare IP both ways', async () => {
    const name = `tstun${tag}`;
    const tun = openTun({ name, mtu: 1400 });
    links.push(tun);
    expect(tun.medium).toBe('ip');
    expect(tun.mtu).toBe(1400);
    expect([...tun.mac]).toEqual([0, 0, 0, 0, 0, 0]);
    const ns = createNamespace();
    spaces.push(ns);
    ns.adoptLink(name, ['192.0.2.254/24']);
    expect(ns.run(['ip', '-o', 'link', 'show', name])).toMatch(/<POINTOPOINT.*UP.*mtu 1400/);

    const got: Uint8Array[] = [];
    let answered = 0;
    tun.onFrames((ps) => {
      for (const p of ps) {
        // IPv4 echo request to 192.0.2.1: answer it; keep the rest.
        if (p[0] === 0x45 && p[9] === 1 && p[20] === 8 && p[19] === 1) {
          answered++;
          tun.send(
            echo4(
              [192, 0, 2, 1],
              [...p.subarray(12, 16)],
              0,
              (p[24]! << 8) | p[25]!,
              (p[26]! << 8) | p[27]!,
              p.subarray(28),
            ),
          );
        } else got.push(p.slice());
      }
    });
    const ping = await ns.exec(['ping', '-c', '3', '-i', '0.2', '-W', '2', '-s', '1200', '192.0.2.1'], {
      allowFailure: true,
    });
    expect(ping.stdout).toContain('3 received');
    expect(answered).toBe(3);

    // Our echo requests, batched: the kernel answers each.
    const reqs = [1, 2, 3, 4].map((seq) =>
      echo4([192, 0, 2, 1], [192, 0, 2, 254], 8, 0x77, seq, new Uint8Array(1000).fill(seq)),
    );
    expect(tun.sendBatch!(reqs)).toBe(4);
    await until(() => got.filter((p) => p[9] === 1 && p[20] === 0).length === 4, 5000, 'echo replies');
    const replies = got.filter((p) => p[9] === 1 && p[20] === 0);
    expect(replies.map((p) => p[27]).sort()).toEqual([1, 2, 3, 4]);
    expect(replies[0]!.length).toBe(1028);
    expect(tun.stats().txFrames).toBeGreaterThanOrEqual(7);
    // Not an IP header: refused, counted.
    expect(tun.send(new Uint8Array(10))).toBe(false);
  });

  it('a TAP name cannot be attached as a TUN (a clear error, not a crash)', async () => {
    const name = `tsmix${tag}`;
    const tap = openTap({ name });
    links.push(tap);
    let err: unknown;
    try {
      links.push(openTun({ name }));
    } catch (e) {
      err = e;
    }
    expect(LinkError.isInstance(err)).toBe(true);
    expect((err as LinkError).message).toMatch(/TUN/);
  });
});

describe('IpPipe (in-memory IP-only link)', () => {
  it('carries IP packets both ways in batches, copies at send, refuses non-IP and oversize', async () => {
    const { a, b } = new IpPipe({ mtu: 1280 });
    expect(a.medium).toBe('ip');
    const got: Uint8Array[] = [];
    b.onFrames((ps) => got.push(...ps));
    const p = echo4([192, 0, 2, 1], [192, 0, 2, 2], 8, 1, 1, new Uint8Array(10));
    expect(a.send(p)).toBe(true);
    p[0] = 0; // the pipe copied it
    expect(a.sendBatch!([echo4([192, 0, 2, 1], [192, 0, 2, 2], 8, 1, 2, new Uint8Array(10))])).toBe(1);
    expect(a.send(new Uint8Array(40))).toBe(false); // version 0
    expect(a.send(echo4([192, 0, 2, 1], [192, 0, 2, 2], 8, 1, 3, new Uint8Array(1300)))).toBe(false);
    await until(() => got.length === 2);
    expect(got[0]![0]).toBe(0x45);
    expect(a.stats().txDropped).toBe(2);
    expect(b.stats().rxFrames).toBe(2);
  });
});
