/**
 * The SOCKS5 front on stack A, used by curl (an unmodified program) and by a
 * hand-written RFC 1928 client for UDP ASSOCIATE; servers run on stack B.
 */
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import http from 'node:http';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { Ipv4Address, Ipv6Address } from '@tapstack/stack-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDgram } from '../src/dgram.js';
import { createNet } from '../src/net.js';
import { encodeUdpDatagram, parseUdpDatagram } from '../src/socks5-codec.js';
import { Socks5Server } from '../src/socks5-server.js';
import { pattern, serveDns, stackPair, until } from './helpers.js';

const run = promisify(execFile);

let pair: Awaited<ReturnType<typeof stackPair>>;
let socks: Socks5Server;
let port: number;
let authed: Socks5Server;
let authPort: number;
const big = pattern(3 << 20, 11);

beforeAll(async () => {
  pair = await stackPair();
  const netB = createNet(pair.B.sockets);
  serveDns(pair.B, { 'web.test': ['192.0.2.2'] });
  const httpServer = http.createServer((req, res) => {
    if (req.url === '/big') res.end(big);
    else res.end(`hello from ${req.socket.localAddress} to ${req.headers.host}\n`);
  });
  netB.createServer((s) => httpServer.emit('connection', s)).listen(80);
  socks = new Socks5Server(pair.A.sockets);
  ({ port } = await socks.listen(0));
  authed = new Socks5Server(pair.A.sockets, { auth: { username: 'alice', password: 's3cret' } });
  ({ port: authPort } = await authed.listen(0));
});

afterAll(async () => {
  await socks.close();
  await authed.close();
  await pair.close();
});

const curl = (args: string[]) =>
  run('curl', ['-sS', '--max-time', '20', ...args], {
    timeout: 30_000,
    encoding: 'buffer',
    maxBuffer: 64 << 20,
  });

/** A UDP ASSOCIATE on the control connection (no auth, client address 0.0.0.0:0): its relay port. */
async function udpAssociate() {
  const ctl = connect(port, '127.0.0.1');
  await once(ctl, 'connect');
  const replies: Buffer[] = [];
  ctl.on('data', (d: Buffer) => replies.push(d));
  ctl.write(Buffer.from([5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
  expect(await until(() => Buffer.concat(replies).length >= 12)).toBe(true);
  return { ctl, relayPort: Buffer.concat(replies).readUInt16BE(10) };
}

describe('SOCKS5 front', () => {
  it('binds to loopback by default', async () => {
    const s = new Socks5Server(pair.A.sockets);
    const a = await s.listen(0);
    expect(a.address).toBe('127.0.0.1');
    await s.close();
  });

  it('curl --socks5-hostname fetches from an HTTP server on the virtual network', async () => {
    const { stdout } = await curl(['--socks5-hostname', `127.0.0.1:${port}`, 'http://web.test/']);
    expect(stdout.toString()).toBe('hello from 192.0.2.2 to web.test\n');
    const r = await curl(['--socks5-hostname', `127.0.0.1:${port}`, 'http://web.test/big']);
    expect(r.stdout.length).toBe(big.length);
    expect(Buffer.compare(r.stdout, big)).toBe(0);
  });

  it('CONNECT to IPv4 and IPv6 literals', async () => {
    const v4 = await curl(['--socks5', `127.0.0.1:${port}`, 'http://192.0.2.2/']);
    expect(v4.stdout.toString()).toBe('hello from 192.0.2.2 to 192.0.2.2\n');
    const v6 = await curl(['--socks5-hostname', `127.0.0.1:${port}`, 'http://[2001:db8::2]/']);
    expect(v6.stdout.toString()).toBe('hello from 2001:db8::2 to [2001:db8::2]\n');
  });

  it('reports refused connections and unknown names with SOCKS reply codes', async () => {
    const refused = await curl(['--socks5', `127.0.0.1:${port}`, 'http://192.0.2.2:81/']).catch((e) => e);
    // curl prints the RFC 1928 reply code: 5 = connection refused, 4 = host unreachable.
    expect(refused.stderr.toString()).toMatch(/SOCKS5 connection to 192\.0\.2\.2\. \(5\)/);
    const unknown = await curl(['--socks5-hostname', `127.0.0.1:${port}`, 'http://nope.test/']).catch(
      (e) => e,
    );
    expect(unknown.stderr.toString()).toMatch(/SOCKS5 connection to nope\.test\. \(4\)/);
    // Issue 14: never a SYN to a broadcast address; 3 = network unreachable.
    const bcast = await curl(['--socks5', `127.0.0.1:${port}`, 'http://192.0.2.255/']).catch((e) => e);
    expect(bcast.stderr.toString()).toMatch(/SOCKS5 connection to 192\.0\.2\.255\. \(3\)/);
  });

  it('username/password (RFC 1929): right credentials pass, wrong ones are refused', async () => {
    const ok = await curl(['--socks5-hostname', `alice:s3cret@127.0.0.1:${authPort}`, 'http://web.test/']);
    expect(ok.stdout.toString()).toBe('hello from 192.0.2.2 to web.test\n');
    const bad = await curl([
      '--socks5-hostname',
      `alice:nope@127.0.0.1:${authPort}`,
      'http://web.test/',
    ]).catch((e) => e);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout.length).toBe(0);
    const none = await curl(['--socks5-hostname', `127.0.0.1:${authPort}`, 'http://web.test/']).catch(
      (e) => e,
    );
    expect(none.code).not.toBe(0);
  });

  it('UDP ASSOCIATE relays datagrams both ways (RFC 1928 section 7)', async () => {
    const echo = createDgram(pair.B.sockets).createSocket('udp4');
    echo.bind(5400);
    echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
    await once(echo, 'listening');

    const ctl = connect(port, '127.0.0.1');
    await once(ctl, 'connect');
    const replies: Buffer[] = [];
    ctl.on('data', (d: Buffer) => replies.push(d));
    ctl.write(Buffer.from([5, 1, 0]));
    ctl.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
    expect(await until(() => Buffer.concat(replies).length >= 12)).toBe(true);
    const r = Buffer.concat(replies);
    expect([...r.subarray(0, 2)]).toEqual([5, 0]);
    expect([...r.subarray(2, 6)]).toEqual([5, 0, 0, 1]);
    const relayAddr = `${r[6]}.${r[7]}.${r[8]}.${r[9]}`;
    const relayPort = r.readUInt16BE(10);
    expect(relayAddr).toBe('127.0.0.1');

    const u = createSocket('udp4');
    u.bind(0, '127.0.0.1');
    await once(u, 'listening');
    const got: string[] = [];
    u.on('message', (m) => {
      const d = parseUdpDatagram(m);
      if (d && d.address.type === 'ip')
        got.push(`${Buffer.from(d.data)} from ${d.address.address}:${d.port}`);
    });
    u.send(
      encodeUdpDatagram(Ipv4Address.parse('192.0.2.2'), 5400, Buffer.from('ping')),
      relayPort,
      relayAddr,
    );
    expect(await until(() => got.length === 1)).toBe(true);
    expect(got).toEqual(['echo:ping from 192.0.2.2:5400']);
    expect(socks.openHandles).toBe(1);
    ctl.destroy();
    u.close();
    echo.close();
    expect(await until(() => socks.sessions === 0 && socks.openHandles === 0)).toBe(true);
  });

  it('UDP ASSOCIATE: a second sender on the client IP gets neither relay nor replies (issue 14)', async () => {
    const echo = createDgram(pair.B.sockets).createSocket('udp4');
    echo.bind(5401);
    echo.on('message', (m, r) => echo.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
    await once(echo, 'listening');
    const { ctl, relayPort } = await udpAssociate();
    const sock = async () => {
      const u = createSocket('udp4');
      u.bind(0, '127.0.0.1');
      await once(u, 'listening');
      const got: string[] = [];
      u.on('message', (m) => {
        const d = parseUdpDatagram(m);
        if (d) got.push(Buffer.from(d.data).toString());
      });
      return { u, got };
    };
    const victim = await sock();
    const attacker = await sock();
    const dgram = (text: string) =>
      encodeUdpDatagram(Ipv4Address.parse('192.0.2.2'), 5401, Buffer.from(text));
    victim.u.send(dgram('v1'), relayPort, '127.0.0.1');
    expect(await until(() => victim.got.length === 1)).toBe(true);
    const dropped = socks.udpForeignDropped;
    attacker.u.send(dgram('a1'), relayPort, '127.0.0.1');
    expect(await until(() => socks.udpForeignDropped === dropped + 1)).toBe(true);
    victim.u.send(dgram('v2'), relayPort, '127.0.0.1');
    expect(await until(() => victim.got.length === 2)).toBe(true);
    expect(victim.got).toEqual(['echo:v1', 'echo:v2']);
    expect(attacker.got).toEqual([]);
    ctl.destroy();
    victim.u.close();
    attacker.u.close();
    echo.close();
    expect(await until(() => socks.sessions === 0 && socks.openHandles === 0)).toBe(true);
  });

  it('UDP ASSOCIATE refuses broadcast and multicast destinations: counted, nothing sent (issue 14)', async () => {
    const { ctl, relayPort } = await udpAssociate();
    const u = createSocket('udp4');
    u.bind(0, '127.0.0.1');
    await once(u, 'listening');
    const sent = () => pair.A.stats()['link.a0.txFrames'] ?? 0;
    const before = sent();
    const refused = socks.udpDestRefused;
    const failed = socks.udpSendFailed;
    for (const dst of ['224.0.0.251', '255.255.255.255', '192.0.2.255', 'ff02::fb']) {
      const addr = dst.includes(':') ? Ipv6Address.parse(dst) : Ipv4Address.parse(dst);
      u.send(encodeUdpDatagram(addr, 5353, Buffer.from('x')), relayPort, '127.0.0.1');
    }
    // Multicast and 255.255.255.255 by the relay; the subnet broadcast by the stack.
    expect(
      await until(() => socks.udpDestRefused === refused + 3 && socks.udpSendFailed === failed + 1),
    ).toBe(true);
    expect(sent()).toBe(before);
    ctl.destroy();
    u.close();
    expect(await until(() => socks.sessions === 0 && socks.openHandles === 0)).toBe(true);
  });

  it('caps sessions per client and in total; refused ones are closed and counted (issue 14)', async () => {
    const capped = new Socks5Server(pair.A.sockets, { maxSessions: 6, maxSessionsPerClient: 4 });
    const a = await capped.listen(0);
    const open = async (host: string) => {
      const s = connect({ port: a.port, host: '127.0.0.1', localAddress: host });
      s.on('error', () => {});
      await once(s, 'connect');
      return s;
    };
    const held = [];
    for (let i = 0; i < 6; i++) held.push(await open('127.0.0.1'));
    expect(await until(() => capped.sessions === 4 && capped.refusedPerClient === 2)).toBe(true);
    for (const s of held.splice(0)) s.destroy();
    expect(await until(() => capped.sessions === 0)).toBe(true);
    // Freed slots are usable again.
    const again = await open('127.0.0.1');
    expect(await until(() => capped.sessions === 1)).toBe(true);
    again.destroy();
    await capped.close();
    // The total cap holds whoever the clients are.
    const total = new Socks5Server(pair.A.sockets, { maxSessions: 3, maxSessionsPerClient: 10 });
    const t = await total.listen(0);
    const opened = [];
    for (let i = 0; i < 4; i++) {
      const s = connect({ port: t.port, host: '127.0.0.1' });
      s.on('error', () => {});
      await once(s, 'connect');
      opened.push(s);
    }
    expect(await until(() => total.sessions === 3 && total.refused === 1)).toBe(true);
    for (const s of opened) s.destroy();
    await total.close();
  });

  it('a local client is its user, not its loopback address: other 127/8 sources do not lift its cap; another user has its own (issue 14)', async (ctx) => {
    const capped = new Socks5Server(pair.A.sockets, { maxSessions: 8, maxSessionsPerClient: 2 });
    const a = await capped.listen(0);
    const open = async (host: string) => {
      const s = connect({ port: a.port, host: '127.0.0.1', localAddress: host });
      s.on('error', () => {});
      await once(s, 'connect');
      return s;
    };
    // Any of 127.0.0.0/8 is this machine and any local user can pick one: a client
    // rotating its source address is still one client.
    const held = [await open('127.0.0.1'), await open('127.0.0.2')];
    for (const host of ['127.0.0.3', '127.0.0.4', '127.0.0.5']) held.push(await open(host));
    expect(
      await until(() => capped.sessions === 2 && capped.refusedPerClient === 3),
      `sessions ${capped.sessions} refused ${capped.refusedPerClient}`,
    ).toBe(true);
    if (process.getuid?.() !== 0) {
      for (const s of held) s.destroy();
      await capped.close();
      ctx.skip(); // another user's connections need root to start them
      return;
    }
    // Another local user (nobody) still gets its own two sessions.
    const other = [0, 1].map(() =>
      spawn('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${a.port}; read -t 30 <&3`], {
        uid: 65534,
        gid: 65534,
        stdio: 'ignore',
      }),
    );
    expect(
      await until(() => capped.sessions === 4),
      `sessions ${capped.sessions} refused ${capped.refusedPerClient}`,
    ).toBe(true);
    expect(capped.refusedPerClient).toBe(3);
    for (const c of other) c.kill('SIGKILL');
    for (const s of held) s.destroy();
    expect(await until(() => capped.sessions === 0)).toBe(true);
    await capped.close();
  });

  it('drops garbage without crashing and leaks nothing', async () => {
    for (const bytes of [
      Buffer.from('GET / HTTP/1.0\r\n\r\n'),
      Buffer.from([5, 1, 0, 5, 9, 0, 0, 0, 0, 0, 0]),
    ]) {
      const s = connect(port, '127.0.0.1');
      await once(s, 'connect');
      s.on('error', () => {});
      s.end(bytes);
      s.resume();
      await once(s, 'close');
    }
    expect(await until(() => socks.sessions === 0 && socks.openHandles === 0)).toBe(true);
  });

  it('answers BIND with "command not supported" and drops half handshakes after the timeout', async () => {
    const s = connect(port, '127.0.0.1');
    await once(s, 'connect');
    const reply = new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      s.on('data', (c: Buffer) => parts.push(c));
      s.on('close', () => resolve(Buffer.concat(parts)));
    });
    s.write(Buffer.from([5, 1, 0, 5, 2, 0, 1, 192, 0, 2, 2, 0, 80]));
    const r = await reply;
    expect([...r.subarray(0, 4)]).toEqual([5, 0, 5, 7]);

    const quickTimeout = new Socks5Server(pair.A.sockets, { handshakeTimeout: 200 });
    const q = await quickTimeout.listen(0);
    const half = connect(q.port, '127.0.0.1');
    await once(half, 'connect');
    half.on('error', () => {});
    half.write(Buffer.from([5])); // a greeting cut short
    await once(half, 'close'); // only the handshake timeout closes it
    expect(await until(() => quickTimeout.sessions === 0)).toBe(true);
    await quickTimeout.close();
  });
});
