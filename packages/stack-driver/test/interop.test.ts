/**
 * Interop with the Linux kernel as the peer (ARCHITECTURE.md test layer 5). The TAP device is
 * made in the root namespace through tap-io, then moved into a namespace this test
 * creates and always deletes: our fd keeps working, the kernel side lives in the
 * namespace with 192.0.2.1/24 and 2001:db8::1/64; tapstack is 192.0.2.2 / 2001:db8::2.
 * Root-only; skipped with a message elsewhere (CI runs it as root).
 *
 * INTEROP_BYTES sets the bulk transfer size (default below); each transfer is checked
 * by sha256 on both sides.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ipv4Address, parseIpAddress, SocketEvent } from '@tapstack/stack-core';
import { type Link, openTap, tapAvailable, withFaults, withPcap } from '@tapstack/tap-io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNamespace,
  deleteLinkIfPresent,
  type Namespace,
  retry,
  skipReason,
  waitFor,
} from '@tapstack/interop/netns';
import { StackDriver } from '../src/driver.js';
import { StackThread } from '../src/stack-thread.js';
import type { SocketHost } from '../src/socket-host.js';
import { acceptOne, connect, pattern, readAll, sha256, writeAll } from './helpers.js';

const TOOLS = ['ping', 'socat', 'curl', 'dnsmasq', 'sha256sum'];
const skip = skipReason(TOOLS) ?? (tapAvailable() ? undefined : 'the tap-io TAP addon is not built');
if (skip) console.warn(`stack-driver interop tests skipped: ${skip}`);

// 256 MiB each way: ~2.5 s clean, ~30 s with 2 % loss (here, both directions). The
// thread-mode runs add coverage of the other paths and default to 32 MiB.
const BYTES = Number(process.env.INTEROP_BYTES ?? 256 * 1024 * 1024);
const LOSSY_BYTES = Math.min(BYTES, Number(process.env.INTEROP_LOSSY_BYTES ?? 256 * 1024 * 1024));
const THREAD_BYTES = Math.min(BYTES, Number(process.env.INTEROP_THREAD_BYTES ?? 32 * 1024 * 1024));
const tag = process.pid % 100000;
const dir = skip ? '' : mkdtempSync(join(tmpdir(), 'tsd-interop-'));

interface Fixture {
  ns: Namespace;
  tapName: string;
  driver: StackDriver;
}
const fixtures: Fixture[] = [];

async function fixture(
  n: number,
  opts: {
    wrap?: (l: Link) => Link;
    addresses?: string[];
    dhcp?: boolean;
    slaac?: boolean;
    threaded?: boolean;
  } = {},
): Promise<Fixture> {
  const tapName = `tsd${tag}x${n}`;
  deleteLinkIfPresent(tapName);
  const ns = createNamespace();
  const f: Partial<Fixture> = { ns, tapName };
  try {
    // Threaded: the frame I/O worker opens the TAP; otherwise it is opened here.
    const linkCfg = opts.threaded
      ? { worker: { module: '@tapstack/tap-io', export: 'openTap', args: [{ name: tapName }] } }
      : { link: opts.wrap ? opts.wrap(openTap({ name: tapName })) : openTap({ name: tapName }) };
    f.driver = await StackDriver.create({
      links: [
        {
          ...linkCfg,
          mac: '02:00:00:00:00:02',
          addresses: opts.addresses ?? ['192.0.2.2/24', '2001:db8::2/64'],
          ...(opts.dhcp ? { dhcp: { initialTimeoutMs: 1000 } } : {}),
          ...(opts.slaac ? { slaac: true } : {}),
        },
      ],
    });
    // Moved after the driver holds the fd: the fd keeps working across namespaces.
    ns.adoptLink(tapName, ['192.0.2.1/24', '2001:db8::1/64']);
  } catch (e) {
    await f.driver?.close();
    ns.delete();
    deleteLinkIfPresent(tapName);
    throw e;
  }
  fixtures.push(f as Fixture);
  return f as Fixture;
}

afterAll(async () => {
  for (const f of fixtures.splice(0)) {
    await f.driver.close().catch(() => {});
    f.ns.delete();
    deleteLinkIfPresent(f.tapName);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Kernel pings us until it gets a reply (our IPv6 address may still be in DAD). */
async function kernelPings(ns: Namespace, addr: string): Promise<string> {
  let out = '';
  await waitFor(
    async () => {
      const r = await ns.exec(['ping', '-c', '1', '-W', '1', addr], { allowFailure: true });
      out = r.stdout;
      return r.code === 0;
    },
    { timeoutMs: 10_000, intervalMs: 100, what: `kernel ping ${addr}` },
  );
  return out;
}

/** A one-shot HTTP/1.0 responder on a SocketHost listener (what `curl` fetches). */
function serveHttp(host: SocketHost, port: number, body: Uint8Array): () => void {
  const l = host.tcpOpen();
  host.tcpBind(l, undefined, port);
  host.tcpListen(l, 16);
  const conns = new Set<number>();
  host.watch(l, (ev) => {
    if (!(ev & SocketEvent.Acceptable)) return;
    for (let c = host.tcpAccept(l); c !== undefined; c = host.tcpAccept(l)) {
      const conn = c;
      conns.add(conn);
      let req = '';
      let sent = -1;
      const head = new TextEncoder().encode(
        `HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      const whole = new Uint8Array(head.length + body.length);
      whole.set(head);
      whole.set(body, head.length);
      const buf = new Uint8Array(4096);
      host.watch(conn, (e) => {
        if (e & SocketEvent.Readable && sent < 0) {
          for (let n = host.tcpRecv(conn, buf); n > 0; n = host.tcpRecv(conn, buf)) {
            req += new TextDecoder().decode(buf.subarray(0, n));
          }
          if (req.includes('\r\n\r\n')) sent = 0;
        }
        if (sent >= 0 && sent < whole.length) {
          for (;;) {
            const n = host.tcpSend(conn, whole.subarray(sent, Math.min(whole.length, sent + 65536)));
            if (n <= 0) break;
            sent += n;
          }
          if (sent === whole.length) host.tcpShutdown(conn);
        }
        if (e & SocketEvent.Closed) conns.delete(conn);
      });
    }
  });
  return () => {
    host.unwatch(l);
    host.tcpClose(l);
  };
}

/** GET over a SocketHost connection; returns the body. */
async function httpGet(host: SocketHost, address: string, port: number, path: string): Promise<Uint8Array> {
  const h = await connect(host, parseIpAddress(address), port);
  host.tcpSend(h, new TextEncoder().encode(`GET ${path} HTTP/1.0\r\nHost: ${address}\r\n\r\n`));
  const chunks: Uint8Array[] = [];
  await new Promise<void>((resolve, reject) => {
    const buf = new Uint8Array(65536);
    const drain = () => {
      for (;;) {
        const n = host.tcpRecv(h, buf);
        if (n > 0) chunks.push(buf.slice(0, n));
        else if (n === -1) return resolve();
        else if (n < 0) return reject(new Error(`recv ${-n}`));
        else return;
      }
    };
    host.watch(h, (ev) => {
      if (ev & (SocketEvent.Readable | SocketEvent.PeerClosed)) drain();
      if (ev & SocketEvent.Error) reject(new Error(`socket error ${host.socketError(h)}`));
    });
    drain();
  });
  host.unwatch(h);
  host.tcpClose(h);
  const all = Buffer.concat(chunks);
  const sep = all.indexOf('\r\n\r\n');
  expect(all.subarray(0, 12).toString()).toMatch(/^HTTP\/1\.[01] 200/);
  return new Uint8Array(all.subarray(sep + 4));
}

describe.skipIf(skip !== undefined)('interop with the Linux kernel over TAP', { timeout: 120_000 }, () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture(0);
  });

  it('pings the kernel and is pinged by it, over IPv4 and IPv6', async () => {
    expect((await f.driver.ping('192.0.2.1')).from).toBe('192.0.2.1');
    await waitFor(
      async () =>
        f.driver.ping('2001:db8::1', { timeoutMs: 500 }).then(
          () => true,
          () => false,
        ),
      {
        timeoutMs: 10_000,
        what: 'ping 2001:db8::1',
      },
    );
    expect(await kernelPings(f.ns, '192.0.2.2')).toMatch(/1 received/);
    expect(await kernelPings(f.ns, '2001:db8::2')).toMatch(/1 received/);
    // TAP frames came through the ring the native reader thread writes (drained in place).
    expect(f.driver.stats()[`link.${f.tapName}.rxRing.drained`]).toBeGreaterThan(0);
  });

  it('accepts a TCP connection from the kernel (kernel → tapstack, sha256)', async () => {
    const data = pattern(BYTES, 11);
    const file = join(dir, 'to-tapstack.bin');
    writeFileSync(file, data);
    const h = f.driver.sockets;
    const accepted = acceptOne(h, undefined, 5001);
    const sender = f.ns.exec(['socat', '-u', `FILE:${file}`, 'TCP:192.0.2.2:5001'], { timeoutMs: 240_000 });
    const c = await accepted;
    const got = await readAll(h, c);
    await sender;
    expect(got.length).toBe(BYTES);
    expect(got.sha256).toBe(sha256(data));
    h.unwatch(c);
    h.tcpClose(c);
  });

  it('connects to the kernel over IPv6 (tapstack → kernel, sha256)', async () => {
    const data = pattern(BYTES, 12);
    const receiver = f.ns.exec(
      ['sh', '-c', 'socat -u TCP6-LISTEN:5002,bind=[2001:db8::1] STDOUT | sha256sum'],
      {
        timeoutMs: 240_000,
      },
    );
    const c = await retry(() => connect(f.driver.sockets, parseIpAddress('2001:db8::1'), 5002));
    await writeAll(f.driver.sockets, c, data);
    const out = await receiver;
    expect(out.stdout.split(' ')[0]).toBe(sha256(data));
    f.driver.sockets.unwatch(c);
    f.driver.sockets.tcpClose(c);
  });

  it("serves HTTP to the kernel's curl", async () => {
    const body = pattern(300_000, 3);
    const stop = serveHttp(f.driver.sockets, 8080, body);
    try {
      const r = await f.ns.exec(['sh', '-c', 'curl -sS --max-time 20 http://192.0.2.2:8080/x | sha256sum']);
      expect(r.stdout.split(' ')[0]).toBe(sha256(body));
    } finally {
      stop();
    }
  });

  it('fetches from an HTTP server on the kernel side', async () => {
    const body = pattern(200_000, 4);
    const www = join(dir, 'www');
    rmSync(www, { recursive: true, force: true });
    await import('node:fs').then((fs) => fs.mkdirSync(www));
    writeFileSync(join(www, 'file.bin'), body);
    const server = f.ns.spawn([
      'python3',
      '-m',
      'http.server',
      '--bind',
      '192.0.2.1',
      '--directory',
      www,
      '8000',
    ]);
    try {
      const got = await retry(() => httpGet(f.driver.sockets, '192.0.2.1', 8000, '/file.bin'), {
        timeoutMs: 15_000,
        intervalMs: 200,
      });
      expect(sha256(got)).toBe(sha256(body));
    } finally {
      if (server.pid) process.kill(server.pid, 'SIGKILL');
    }
  });
});

describe.skipIf(skip !== undefined)('interop in threaded mode (TAP opened on the frame I/O worker)', () => {
  it('pings and moves data both ways (sha256) through the two frame rings', async () => {
    const f = await fixture(3, { threaded: true });
    expect((await f.driver.ping('192.0.2.1')).from).toBe('192.0.2.1');
    expect(await kernelPings(f.ns, '192.0.2.2')).toMatch(/1 received/);
    const data = pattern(THREAD_BYTES, 31);
    const file = join(dir, 'threaded.bin');
    writeFileSync(file, data);
    const h = f.driver.sockets;
    const accepted = acceptOne(h, undefined, 5005);
    const sender = f.ns.exec(['socat', '-u', `FILE:${file}`, 'TCP:192.0.2.2:5005'], { timeoutMs: 120_000 });
    const c = await accepted;
    expect((await readAll(h, c)).sha256).toBe(sha256(data));
    await sender;
    h.unwatch(c);
    h.tcpClose(c);
    const receiver = f.ns.exec(['sh', '-c', 'socat -u TCP-LISTEN:5006,bind=192.0.2.1 STDOUT | sha256sum'], {
      timeoutMs: 120_000,
    });
    const d = await retry(() => connect(h, Ipv4Address.parse('192.0.2.1'), 5006));
    await writeAll(h, d, data);
    expect((await receiver).stdout.split(' ')[0]).toBe(sha256(data));
    h.unwatch(d);
    h.tcpClose(d);
    const s = f.driver.stats();
    expect(s[`link.${f.tapName}.rxRing.drained`]).toBeGreaterThan(0);
    expect(s[`link.${f.tapName}.txRing.pushed`]).toBeGreaterThan(0);
  });
});

describe.skipIf(skip !== undefined)('interop with the stack on its own thread (StackThread)', () => {
  for (const ioThread of [false, true]) {
    it(`pings, serves curl and moves data both ways (sha256)${ioThread ? ', frame I/O on a third thread' : ''}`, async () => {
      const tapName = `tsd${tag}y${ioThread ? 1 : 0}`;
      deleteLinkIfPresent(tapName);
      const ns = createNamespace();
      let thread: StackThread | undefined;
      try {
        thread = await StackThread.start({
          links: [
            {
              spec: { module: '@tapstack/tap-io', export: 'openTap', args: [{ name: tapName }] },
              ioThread,
              mac: '02:00:00:00:00:02',
              addresses: ['192.0.2.2/24', '2001:db8::2/64'],
            },
          ],
        });
        ns.adoptLink(tapName, ['192.0.2.1/24', '2001:db8::1/64']);
        const t = thread;
        await retry(() => t.ping('192.0.2.1', { timeoutMs: 500 }));
        expect(await kernelPings(ns, '192.0.2.2')).toMatch(/1 received/);
        const h = thread.sockets;
        const body = pattern(100_000, 5);
        const stop = serveHttp(h, 8080, body);
        const r = await ns.exec(['sh', '-c', 'curl -sS --max-time 20 http://192.0.2.2:8080/ | sha256sum']);
        expect(r.stdout.split(' ')[0]).toBe(sha256(body));
        stop();
        const data = pattern(THREAD_BYTES, 41);
        const file = join(dir, `thread${ioThread ? 1 : 0}.bin`);
        writeFileSync(file, data);
        const accepted = acceptOne(h, undefined, 5007);
        const sender = ns.exec(['socat', '-u', `FILE:${file}`, 'TCP:192.0.2.2:5007'], { timeoutMs: 120_000 });
        const c = await accepted;
        expect((await readAll(h, c)).sha256).toBe(sha256(data));
        await sender;
        h.unwatch(c);
        h.tcpClose(c);
        const receiver = ns.exec(
          ['sh', '-c', 'socat -u TCP6-LISTEN:5008,bind=[2001:db8::1] STDOUT | sha256sum'],
          {
            timeoutMs: 120_000,
          },
        );
        const d = await retry(() => connect(h, parseIpAddress('2001:db8::1'), 5008));
        await writeAll(h, d, data);
        expect((await receiver).stdout.split(' ')[0]).toBe(sha256(data));
        h.unwatch(d);
        h.tcpClose(d);
        // Received frames came through a ring either way: tap-io's native reader thread
        // (drained in place on the stack thread) or the I/O thread's rx ring.
        expect(thread.stats()[`link.${tapName}.rxRing.drained`]).toBeGreaterThan(0);
      } finally {
        await thread?.close();
        ns.delete();
        deleteLinkIfPresent(tapName);
      }
    });
  }
});

describe.skipIf(skip !== undefined)('interop with 2 % loss injected by tap-io withFaults', () => {
  it('moves data both ways intact (sha256) despite the loss', { timeout: 240_000 }, async () => {
    const f = await fixture(1, { wrap: (l) => withFaults(l, { loss: 0.02, seed: 42 }) });
    const data = pattern(LOSSY_BYTES, 21);
    const file = join(dir, 'lossy.bin');
    writeFileSync(file, data);
    const h = f.driver.sockets;
    // kernel → tapstack
    const accepted = acceptOne(h, undefined, 5003);
    const sender = f.ns.exec(['socat', '-u', `FILE:${file}`, 'TCP:192.0.2.2:5003'], { timeoutMs: 240_000 });
    const c = await accepted;
    const got = await readAll(h, c);
    await sender;
    expect(got.sha256).toBe(sha256(data));
    h.unwatch(c);
    h.tcpClose(c);
    // tapstack → kernel
    const receiver = f.ns.exec(['sh', '-c', 'socat -u TCP-LISTEN:5004,bind=192.0.2.1 STDOUT | sha256sum'], {
      timeoutMs: 240_000,
    });
    const d = await retry(() => connect(h, Ipv4Address.parse('192.0.2.1'), 5004));
    await writeAll(h, d, data);
    expect((await receiver).stdout.split(' ')[0]).toBe(sha256(data));
    h.unwatch(d);
    h.tcpClose(d);
    expect(f.driver.stats()['tcp.retransmits'] ?? 1).toBeGreaterThan(0);
  });
});

/**
 * TCP data segments (seq, payload length) from `src` to `dstPort` in a pcap of Ethernet
 * frames (libpcap format, as withPcap writes it). Parsed here rather than by tshark,
 * whose sequence analysis takes minutes on a lossy 35 MB capture.
 */
function dataSegments(pcap: string, src: string, dstPort: number): { seq: number; len: number }[] {
  const b = readFileSync(pcap);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = v.getUint32(0, true) === 0xa1b2c3d4;
  const want = src.split('.').map(Number);
  const out: { seq: number; len: number }[] = [];
  for (let off = 24; off + 16 <= b.length; ) {
    const incl = v.getUint32(off + 8, le);
    const f = off + 16;
    off = f + incl;
    if (incl < 54 || v.getUint16(f + 12) !== 0x0800) continue;
    const ip = f + 14;
    if (b[ip + 9] !== 6 || want.some((x, i) => b[ip + 12 + i] !== x)) continue;
    const ihl = (b[ip]! & 0x0f) * 4;
    const total = v.getUint16(ip + 2);
    const tcp = ip + ihl;
    if (v.getUint16(tcp + 2) !== dstPort) continue;
    const len = total - ihl - (b[tcp + 12]! >> 4) * 4;
    if (len > 0) out.push({ seq: v.getUint32(tcp + 4), len });
  }
  return out;
}

describe.skipIf(skip !== undefined)(
  'interop with 2 % loss each way: retransmissions follow real losses',
  () => {
    it('tapstack → kernel over a lossy link: segments resent (from a pcap) stay within 1.5× the segments lost', {
      timeout: 240_000,
    }, async () => {
      // What tapstack sends is captured twice: before the fault wrapper (every segment it
      // sent) and after it (what reached the wire). The difference is what was lost.
      const sent = join(dir, 'rtx-sent.pcap');
      const wire = join(dir, 'rtx-wire.pcap');
      const f = await fixture(4, {
        wrap: (l) =>
          withPcap(withFaults(withPcap(l, wire, { direction: 'tx' }), { loss: 0.02, seed: 7 }), sent, {
            direction: 'tx',
          }),
      });
      const data = pattern(32 * 1024 * 1024, 23);
      const h = f.driver.sockets;
      const receiver = f.ns.exec(['sh', '-c', 'socat -u TCP-LISTEN:5009,bind=192.0.2.1 STDOUT | sha256sum'], {
        timeoutMs: 240_000,
      });
      const d = await retry(() => connect(h, Ipv4Address.parse('192.0.2.1'), 5009));
      await writeAll(h, d, data);
      expect((await receiver).stdout.split(' ')[0]).toBe(sha256(data));
      h.unwatch(d);
      h.tcpClose(d);
      await f.driver.close();
      const all = dataSegments(sent, '192.0.2.2', 5009);
      const onWire = dataSegments(wire, '192.0.2.2', 5009);
      const lost = all.length - onWire.length;
      // A retransmission starts below the highest sequence number sent before it.
      let high = -1;
      let resent = 0;
      const base = all[0]!.seq;
      for (const s of all) {
        const off = (s.seq - base) >>> 0;
        if (high >= 0 && off < high) resent++;
        high = Math.max(high, off + s.len);
      }
      console.info(
        `2 % loss each way, 32 MiB tapstack → kernel: ${all.length} data segments sent, ${lost} lost, ${resent} resent`,
      );
      expect(lost).toBeGreaterThan(100);
      expect(resent).toBeGreaterThanOrEqual(lost);
      expect(resent).toBeLessThanOrEqual(1.5 * lost);
    });
  },
);

describe.skipIf(skip !== undefined)('interop with dnsmasq: DHCP lease and DNS', () => {
  it('gets a lease from dnsmasq, resolves names through its DNS, and forms a SLAAC address from its RAs', async () => {
    const f = await fixture(2, { addresses: [], dhcp: true, slaac: true });
    const leases = join(dir, 'dnsmasq.leases');
    f.ns.spawn([
      'dnsmasq',
      '--no-daemon',
      '--conf-file=/dev/null',
      `--interface=${f.tapName}`,
      '--bind-interfaces',
      '--except-interface=lo',
      '--no-resolv',
      '--no-hosts',
      `--dhcp-leasefile=${leases}`,
      '--pid-file=',
      '--dhcp-range=192.0.2.50,192.0.2.60,255.255.255.0,1h',
      '--dhcp-option=option:router,192.0.2.1',
      // Router advertisements for 2001:db8::/64 (the prefix on the interface): SLAAC.
      '--enable-ra',
      '--dhcp-range=2001:db8::,ra-only,64',
      '--host-record=www.interop.test,192.0.2.80,2001:db8::80',
      '--local=/interop.test/',
      '--user=root',
    ]);
    const lease = await f.driver.lease(0, 30_000);
    expect(lease.address.toString()).toMatch(/^192\.0\.2\.(5\d|60)$/);
    expect(lease.router?.toString()).toBe('192.0.2.1');
    expect(lease.dnsServers.map(String)).toContain('192.0.2.1');
    expect(f.driver.resolver.getServers()).toContain('192.0.2.1');
    // The kernel reaches us on the leased address.
    expect(await kernelPings(f.ns, lease.address.toString())).toMatch(/1 received/);
    const addrs = await f.driver.sockets.lookup('www.interop.test');
    expect(addrs.map(String)).toEqual(['192.0.2.80', '2001:db8::80']);
    await expect(f.driver.sockets.lookup('nope.interop.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    // SLAAC from dnsmasq's router advertisements: an address in 2001:db8::/64 that the kernel can reach.
    let slaac = '';
    await waitFor(
      () => {
        const a = f.driver.stack.addresses(0).find((x) => x.origin === 'slaac' && !x.tentative);
        slaac = a ? a.address.toString() : '';
        return slaac.startsWith('2001:db8:');
      },
      { timeoutMs: 20_000, what: 'a SLAAC address' },
    );
    expect(await kernelPings(f.ns, slaac)).toMatch(/1 received/);
  });
});
