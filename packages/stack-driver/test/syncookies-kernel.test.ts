/**
 * SYN cookies with Linux as the client (issue 14): hping3 in the namespace fills the
 * listener's SYN queue with half-open connections from an address that never answers;
 * then the kernel's curl connects several times. Each connection goes through a cookie
 * (the kernel offers timestamps, window scale and SACK, which ride back in the echoed
 * timestamp) and downloads 1 MiB, checked by sha256 — a wrong window scale from the
 * cookie would stall or corrupt the transfer. Root-only; skipped with a message elsewhere.
 */
import { openTap, tapAvailable } from '@tapstack/tap-io';
import { SocketEvent } from '@tapstack/stack-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNamespace,
  deleteLinkIfPresent,
  type Namespace,
  retry,
  skipReason,
} from '@tapstack/interop/netns';
import { StackDriver } from '../src/driver.js';
import { pattern, sha256, writeAll } from './helpers.js';

const skip =
  skipReason(['hping3', 'curl', 'sha256sum']) ??
  (tapAvailable() ? undefined : 'the tap-io TAP addon is not built');
if (skip) console.warn(`syncookies kernel test skipped: ${skip}`);

describe.skipIf(skip !== undefined)('SYN cookies against the Linux kernel', () => {
  const tapName = `tsdc${process.pid % 100000}`;
  let ns: Namespace | undefined;
  let driver: StackDriver | undefined;
  const body = pattern(1 << 20, 14);
  const header = new TextEncoder().encode(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);

  beforeAll(async () => {
    deleteLinkIfPresent(tapName);
    driver = await StackDriver.create({
      // A default route, as a server has: SYN,ACKs to a flood's random sources go to the
      // namespace, which drops them (without one they are dropped before any work).
      links: [
        {
          link: openTap({ name: tapName }),
          mac: '02:00:00:00:00:02',
          addresses: ['192.0.2.2/24'],
          gateway: ['192.0.2.1'],
        },
      ],
    });
    ns = createNamespace();
    ns.adoptLink(tapName, ['192.0.2.1/24']);
    // An HTTP/1.0 responder on port 8080 with the smallest backlog: its SYN queue holds 128.
    const host = driver.sockets;
    const l = host.tcpOpen();
    host.tcpBind(l, undefined, 8080);
    host.tcpListen(l, 1);
    host.watch(l, (ev) => {
      if (!(ev & SocketEvent.Acceptable)) return;
      for (let c = host.tcpAccept(l); c !== undefined; c = host.tcpAccept(l)) {
        const conn = c;
        // Read the request first (closing with unread data would reset the connection).
        const buf = new Uint8Array(4096);
        let req = '';
        const onRequest = () => {
          for (let n = host.tcpRecv(conn, buf); n > 0; n = host.tcpRecv(conn, buf))
            req += new TextDecoder().decode(buf.subarray(0, n));
          if (!req.includes('\r\n\r\n')) return;
          host.unwatch(conn);
          writeAll(host, conn, new Uint8Array([...header, ...body])).then(
            () => host.tcpClose(conn),
            () => host.tcpClose(conn),
          );
        };
        host.watch(conn, (e) => {
          if (e & SocketEvent.Readable) onRequest();
        });
        onRequest();
      }
    });
    const d = driver;
    await retry(() => d.ping('192.0.2.1', { timeoutMs: 300 }));
  });

  afterAll(async () => {
    await driver?.close();
    ns?.delete();
    deleteLinkIfPresent(tapName);
  });

  it('a full SYN queue answers with cookies; the kernel connects through them and downloads intact', async () => {
    // 400 SYNs from 192.0.2.77 (nobody: its SYN,ACKs go unanswered), one per source port.
    await ns!.exec(
      ['hping3', '-q', '-S', '-p', '8080', '-a', '192.0.2.77', '-c', '400', '-i', 'u200', '192.0.2.2'],
      {
        allowFailure: true,
        timeoutMs: 20_000,
      },
    );
    const before = driver!.stats();
    expect(before['tcp.synCookiesSent']).toBeGreaterThan(200);
    for (let i = 0; i < 5; i++) {
      const r = await ns!.exec(['sh', '-c', 'curl -sS --max-time 10 http://192.0.2.2:8080/ | sha256sum'], {
        timeoutMs: 20_000,
      });
      expect(r.stdout.split(' ')[0]).toBe(sha256(body));
    }
    const after = driver!.stats();
    expect(after['tcp.synCookiesAccepted']).toBe(5);
    expect(after['tcp.synCookiesFailed'] ?? 0).toBe(0);
    expect(after['tcp.synQueueEvictions'] ?? 0).toBe(0);
  });

  it('during a spoofed flood faster than the stack answers, every legit connection gets through', async () => {
    // hping3 at full speed from random sources for 4 s, with curl connecting
    // and downloading in the middle of it. The flood's SYNs wait in the driver's SYN
    // backlog, newest first, and the excess is shed (counted); the ACKs and data of the
    // legit connections are never queued behind them or shed. A legit SYN may be shed
    // like any other (its retransmission then gets in), so curl gets the kernel's retries.
    const before = driver!.stats();
    const flood = ns!.exec(
      [
        'timeout',
        '-s',
        'INT',
        '4',
        'hping3',
        '-q',
        '-S',
        '-p',
        '8080',
        '--rand-source',
        '--flood',
        '192.0.2.2',
      ],
      { allowFailure: true, timeoutMs: 30_000 },
    );
    await new Promise((r) => setTimeout(r, 300));
    const fetches = [];
    for (let i = 0; i < 4; i++)
      fetches.push(
        ns!.exec(['sh', '-c', 'curl -sS --max-time 30 http://192.0.2.2:8080/ | sha256sum'], {
          timeoutMs: 40_000,
        }),
      );
    for (const r of await Promise.all(fetches)) expect(r.stdout.split(' ')[0]).toBe(sha256(body));
    await flood;
    const after = driver!.stats();
    const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect(delta('tcp.synCookiesSent')).toBeGreaterThan(1000);
    expect(delta('tcp.synCookiesAccepted')).toBe(4);
    expect(delta('tcp.synCookiesFailed')).toBe(0);
  });
});
