/**
 * The daemon's fronts end to end over two stacks: port forwards both ways, the SOCKS5
 * front, the built-in HTTP page, and pcap capture on a flag.
 */
import { readFileSync, rmSync } from 'node:fs';
import { connect as hostConnect, createServer as hostServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeConnect } from '@tapstack/socket-bridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Pair, startPair } from './helpers.js';

/** Writes `data`, half-closes, and collects everything until the peer's FIN. */
function roundTrip(s: Socket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => resolve(Buffer.concat(got)));
    s.on('error', reject);
    s.end(data);
  });
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 255;
  return b;
}

describe('fronts', () => {
  let pair: Pair;
  let hostEcho: Server;
  let hostEchoPort = 0;
  let hostSeen = '';

  beforeAll(async () => {
    // A server on the host side (loopback) that B's virtual port forwards to.
    hostEcho = hostServer({ allowHalfOpen: true }, (s) => {
      hostSeen = `${s.remoteAddress}`;
      s.pipe(s);
    });
    await new Promise<void>((r) => hostEcho.listen(0, '127.0.0.1', () => r()));
    hostEchoPort = (hostEcho.address() as { port: number }).port;
    pair = await startPair(
      {
        forwards: { hostToVirtual: [{ listen: '127.0.0.1:0', connect: '[2001:db8::2]:7' }] },
        socks: { enabled: true, listen: '127.0.0.1:0' },
        pcap: join(tmpdir(), `tapstackd-fronts-${process.pid}-%l.pcap`),
      },
      {
        services: { echo: 7, http: 80 },
        forwards: { virtualToHost: [{ listen: '8081', connect: `127.0.0.1:${hostEchoPort}` }] },
      },
    );
  });
  afterAll(async () => {
    const files = pair?.a.pcapFiles() ?? [];
    await pair?.stop();
    hostEcho?.close();
    for (const f of files) rmSync(f, { force: true });
  });

  it('host loopback port -> virtual address (hostToVirtual), with half-close', async () => {
    const [host, port] = pair.a.info().forwards[0]!.listen.split(':');
    const s = hostConnect({ host: host!, port: Number(port), allowHalfOpen: true });
    const data = pattern(300_000);
    expect((await roundTrip(s, data)).equals(data)).toBe(true);
  });

  it('virtual port -> host address (virtualToHost)', async () => {
    const s = await bridgeConnect({ path: pair.sock('a.sock'), host: '192.0.2.2', port: 8081 });
    const data = pattern(200_000);
    expect((await roundTrip(s, data)).equals(data)).toBe(true);
    // The host server saw a loopback connection from the daemon, not a virtual address.
    expect(hostSeen).toBe('127.0.0.1');
  });

  it('SOCKS5 CONNECT to a virtual address', async () => {
    const [host, port] = pair.a.info().socks!.split(':');
    const s = hostConnect({ host: host!, port: Number(port), allowHalfOpen: true });
    await new Promise((r) => s.once('connect', r));
    const read = (n: number) =>
      new Promise<Buffer>((resolve) => {
        const tryRead = () => {
          const b = s.read(n) as Buffer | null;
          if (b) resolve(b);
          else s.once('readable', tryRead);
        };
        tryRead();
      });
    s.write(Buffer.from([5, 1, 0])); // version 5, one method: no auth
    expect([...(await read(2))]).toEqual([5, 0]);
    s.write(Buffer.from([5, 1, 0, 1, 192, 0, 2, 2, 0, 7])); // CONNECT 192.0.2.2:7
    const reply = await read(10);
    expect(reply[1]).toBe(0); // succeeded
    const data = pattern(50_000);
    expect((await roundTrip(s, data)).equals(data)).toBe(true);
  });

  it('the built-in HTTP page names the daemon and the client', async () => {
    const s = await bridgeConnect({ path: pair.sock('a.sock'), host: '192.0.2.2', port: 80 });
    const res = (
      await roundTrip(s, Buffer.from('GET /hello HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n'))
    ).toString();
    expect(res).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(res).toContain('Hello from tapstack node b');
    expect(res).toMatch(/at 192\.0\.2\.2:80, to 192\.0\.2\.1:\d+, for \/hello/);
  });

  it('pcap on a flag records the frames of the link', async () => {
    // Traffic happened above; the file is flushed on close.
    const file = pair.a.pcapFiles()[0]!;
    await pair.a.stop(0);
    const b = readFileSync(file);
    expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4); // classic pcap, microseconds
    expect(b.readUInt32LE(20)).toBe(1); // LINKTYPE_ETHERNET
    // Count records and check that they are Ethernet frames with our EtherTypes.
    let off = 24;
    let records = 0;
    const types = new Set<number>();
    while (off + 16 <= b.length) {
      const len = b.readUInt32LE(off + 8);
      types.add(b.readUInt16BE(off + 16 + 12));
      off += 16 + len;
      records++;
    }
    expect(off).toBe(b.length);
    expect(records).toBeGreaterThan(100);
    expect(types.has(0x0800)).toBe(true); // IPv4
    expect(types.has(0x86dd)).toBe(true); // IPv6
  });
});
