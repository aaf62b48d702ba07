/**
 * A stack on a TAP or TUN device opened with `offload: true` (virtio-net header: TSO/GSO
 * super-frames and partial checksums both ways) against the kernel in a namespace this
 * test creates and deletes (root; skipped otherwise): bulk TCP each way, SHA-256 checked,
 * with offloads on and off; and a pcap of an offload link shows wire-true segments (every
 * frame within the MTU, every TCP checksum whole).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIpAddress } from '@tapstack/stack-core';
import { openTap, openTun, tapAvailable } from '@tapstack/tap-io';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createNamespace,
  deleteLinkIfPresent,
  type Namespace,
  retry,
  skipReason,
  waitFor,
} from '@tapstack/interop/netns';
import { StackDriver } from '../src/driver.js';
import { acceptOne, connect, pattern, readAll, sha256, writeAll } from './helpers.js';

const skip =
  skipReason(['nc', 'ping', 'sha256sum']) ??
  (tapAvailable() ? undefined : 'the tap-io TAP addon is not built');
if (skip) console.warn(`offload tests skipped: ${skip}`);

const SIZE = Number(process.env.OFFLOAD_TEST_MIB ?? 64) << 20;
const tag = process.pid % 10000;
const dir = mkdtempSync(join(tmpdir(), 'tapstack-offload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Kernel -> stack, then stack -> kernel, SIZE bytes each, SHA-256 compared. */
async function bulkBothWays(
  driver: StackDriver,
  ns: Namespace,
  kernelIp: string,
  stackIp: string,
  size = SIZE,
): Promise<void> {
  const data = pattern(size, 7);
  const inFile = join(dir, `in-${tag}.bin`);
  writeFileSync(inFile, data);
  const accepted = acceptOne(driver.sockets, undefined, 9000);
  const sender = ns.exec(['sh', '-c', `nc -N ${stackIp} 9000 < ${inFile}`], { timeoutMs: 120_000 });
  const s = await accepted;
  const got = await readAll(driver.sockets, s);
  driver.sockets.tcpClose(s);
  await sender;
  expect(got.length).toBe(size);
  expect(got.sha256).toBe(sha256(data));

  const out = join(dir, `out-${tag}.bin`);
  const listener = ns.exec(['sh', '-c', `nc -l ${kernelIp} 9001 > ${out}`], { timeoutMs: 120_000 });
  let c: number | undefined;
  await waitFor(
    async () => {
      try {
        c = await connect(driver.sockets, parseIpAddress(kernelIp), 9001);
        return true;
      } catch {
        return false;
      }
    },
    { timeoutMs: 10_000, intervalMs: 100, what: 'nc listening in the namespace' },
  );
  await writeAll(driver.sockets, c!, data);
  await listener; // nc -l exits at our FIN
  expect(ns.run(['sha256sum', out]).split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
  driver.sockets.tcpClose(c!);
}

describe.skipIf(skip !== undefined)('offload: true against the kernel', { timeout: 180_000 }, () => {
  for (const kind of ['tap', 'tun'] as const) {
    for (const offload of [true, false]) {
      it(`${kind}, offloads ${offload ? 'on' : 'off'}: ${SIZE >> 20} MiB by TCP each way, SHA-256 checked`, async () => {
        const name = `tso${kind[1]}${offload ? 1 : 0}${tag}`;
        deleteLinkIfPresent(name);
        const link = kind === 'tap' ? openTap({ name, offload }) : openTun({ name, offload });
        let driver: StackDriver | undefined;
        let ns: Namespace | undefined;
        try {
          expect(link.checksumOffload).toBe(offload);
          driver = await StackDriver.create({
            links: [
              { link, addresses: ['192.0.2.2/24'], ...(kind === 'tap' ? { mac: '02:00:00:00:00:02' } : {}) },
            ],
          });
          ns = createNamespace();
          ns.adoptLink(name, ['192.0.2.1/24']);
          const d = driver;
          await retry(() => d.ping('192.0.2.1', { timeoutMs: 300 }));
          await bulkBothWays(driver, ns, '192.0.2.1', '192.0.2.2');
          const st = driver.stats();
          if (offload) {
            // The kernel handed over super-frames, and sent us none with a bad checksum.
            expect(st[`link.${name}.rxGsoFrames`]).toBeGreaterThan(0);
            expect(st[`link.${name}.rxCsumErrors`]).toBe(0);
            // With their gso_size from the ring's metadata word (TCP ACKs by the parts).
            expect(st['eth.rxGsoFrames']).toBeGreaterThan(0);
            expect(st['eth.rxGsoFrames']).toBeLessThanOrEqual(st[`link.${name}.rxGsoFrames`]!);
            // And took ours: most of the data went down as super-segments.
            expect(st[`link.${name}.txGsoFrames`]).toBeGreaterThan(0);
            expect(st[`link.${name}.txFrames`]).toBeLessThan(SIZE / 1448 / 2);
          } else {
            expect(st[`link.${name}.rxGsoFrames`]).toBeUndefined();
            expect(st['eth.rxGsoFrames']).toBeUndefined();
            expect(st[`link.${name}.txGsoFrames`]).toBe(0);
          }
        } finally {
          await driver?.close();
          ns?.delete();
          deleteLinkIfPresent(name);
        }
      });
    }
  }

  it(`tap, offloads on, IPv6: ${SIZE >> 22} MiB by TCP each way (TCPv6 super-frames), SHA-256 checked`, async () => {
    const name = `tso6${tag}`;
    deleteLinkIfPresent(name);
    let driver: StackDriver | undefined;
    let ns: Namespace | undefined;
    try {
      driver = await StackDriver.create({
        links: [
          { link: openTap({ name, offload: true }), addresses: ['2001:db8::2/64'], mac: '02:00:00:00:00:02' },
        ],
      });
      ns = createNamespace();
      ns.adoptLink(name, ['2001:db8::1/64']);
      const d = driver;
      await retry(() => d.ping('2001:db8::1', { timeoutMs: 300 }));
      await bulkBothWays(driver, ns, '2001:db8::1', '2001:db8::2', SIZE >> 2);
      const st = driver.stats();
      expect(st[`link.${name}.rxGsoFrames`]).toBeGreaterThan(0);
      expect(st['eth.rxGsoFrames']).toBeGreaterThan(0);
      expect(st[`link.${name}.txGsoFrames`]).toBeGreaterThan(0);
      expect(st[`link.${name}.rxCsumErrors`]).toBe(0);
    } finally {
      await driver?.close();
      ns?.delete();
      deleteLinkIfPresent(name);
    }
  });

  it(`tap on a frame I/O worker, offloads on: ${SIZE >> 20} MiB by TCP each way, SHA-256 checked`, async () => {
    const name = `tsow${tag}`;
    deleteLinkIfPresent(name);
    let driver: StackDriver | undefined;
    let ns: Namespace | undefined;
    try {
      driver = await StackDriver.create({
        links: [
          {
            worker: { module: '@tapstack/tap-io', export: 'openTap', args: [{ name, offload: true }] },
            mac: '02:00:00:00:00:02',
            addresses: ['192.0.2.2/24'],
          },
        ],
      });
      ns = createNamespace();
      ns.adoptLink(name, ['192.0.2.1/24']);
      const d = driver;
      await retry(() => d.ping('192.0.2.1', { timeoutMs: 300 }));
      // The stack on this thread must leave TCP checksums to the worker's link: the kernel's
      // partial checksums would otherwise fail its check and nothing would arrive.
      await bulkBothWays(driver, ns, '192.0.2.1', '192.0.2.2');
      // Our super-segments crossed the tx ring to the worker's TAP (gsoSize in the record's
      // metadata word); its counters reach this thread with the worker's stats messages.
      await waitFor(() => (d.stats()[`link.${name}.txGsoFrames`] ?? 0) > 0, {
        timeoutMs: 5000,
        intervalMs: 100,
        what: 'the worker link counting super-frames sent',
      });
    } finally {
      await driver?.close();
      ns?.delete();
      deleteLinkIfPresent(name);
    }
  });

  it('a pcap of an offload TAP shows wire-true segments: within the MTU, TCP checksums whole', async () => {
    const name = `tsop${tag}`;
    deleteLinkIfPresent(name);
    const pcap = join(dir, `cap-${tag}.pcap`);
    const link = openTap({ name, offload: true });
    let driver: StackDriver | undefined;
    let ns: Namespace | undefined;
    try {
      driver = await StackDriver.create({
        links: [{ link, addresses: ['192.0.2.2/24'], mac: '02:00:00:00:00:02' }],
        pcap,
      });
      // The capture asked the link for wire-format frames.
      expect(link.offloads).toBe(0);
      expect(link.checksumOffload).toBe(false);
      ns = createNamespace();
      ns.adoptLink(name, ['192.0.2.1/24']);
      const d = driver;
      await retry(() => d.ping('192.0.2.1', { timeoutMs: 300 }));
      const data = pattern(4 << 20, 3);
      const inFile = join(dir, `pin-${tag}.bin`);
      writeFileSync(inFile, data);
      const accepted = acceptOne(driver.sockets, undefined, 9002);
      const sender = ns.exec(['sh', '-c', `nc -N 192.0.2.2 9002 < ${inFile}`], { timeoutMs: 60_000 });
      const s = await accepted;
      const got = await readAll(driver.sockets, s);
      driver.sockets.tcpClose(s);
      await sender;
      expect(got.sha256).toBe(sha256(data));
      const out = join(dir, `pout-${tag}.bin`);
      const listener = ns.exec(['sh', '-c', `nc -l 192.0.2.1 9003 > ${out}`], { timeoutMs: 60_000 });
      const c = await retry(() => connect(d.sockets, parseIpAddress('192.0.2.1'), 9003), { intervalMs: 50 });
      await writeAll(driver.sockets, c, data);
      await listener;
      expect(ns.run(['sha256sum', out]).split(' ')[0]).toBe(sha256(data));
      driver.sockets.tcpClose(c);
    } finally {
      await driver?.close();
      ns?.delete();
      deleteLinkIfPresent(name);
    }
    // Classic pcap: 24-byte file header, then 16-byte record headers.
    const b = readFileSync(pcap);
    let tcpFrames = 0;
    let bad = 0;
    let tooBig = 0;
    for (let o = 24; o + 16 <= b.length; ) {
      const len = b.readUInt32LE(o + 8);
      const f = b.subarray(o + 16, o + 16 + len);
      o += 16 + len;
      if (f.length > 1514) tooBig++;
      if (f.length < 54 || f[12] !== 8 || f[13] !== 0 || f[23] !== 6) continue;
      tcpFrames++;
      const ihl = (f[14]! & 15) * 4;
      const total = f.readUInt16BE(16);
      let sum = 6 + total - ihl;
      for (let i = 26; i < 34; i += 2) sum += f.readUInt16BE(i);
      const end = 14 + total;
      for (let i = 14 + ihl; i + 1 < end; i += 2) sum += f.readUInt16BE(i);
      if ((end - 14 - ihl) & 1) sum += f[end - 1]! << 8;
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      if (sum !== 0xffff) bad++;
    }
    expect(tcpFrames).toBeGreaterThan(2 * ((4 << 20) / 1500));
    expect(tooBig).toBe(0);
    expect(bad).toBe(0);
  });
});
