/** Shared test helpers: two drivers on an in-memory switch, TCP transfer through a SocketHost. */
import { createHash } from 'node:crypto';
import { type IpAddress, SocketEvent, type TcpSocketOptions } from '@tapstack/stack-core';
import { MemorySwitch } from '@tapstack/tap-io';
import { StackDriver, type StackDriverOptions } from '../src/driver.js';
import type { SocketHost } from '../src/socket-host.js';

export async function driverPair(
  a: Partial<StackDriverOptions['links'][0]> = {},
  b: Partial<StackDriverOptions['links'][0]> = {},
  extraA: Partial<StackDriverOptions> = {},
) {
  const sw = new MemorySwitch();
  const A = await StackDriver.create({
    links: [
      {
        link: sw.createPort({ name: 'a0', mac: '02:00:00:00:00:0a' }),
        addresses: ['192.0.2.1/24', '2001:db8::1/64'],
        ...a,
      },
    ],
    ...extraA,
  });
  const B = await StackDriver.create({
    links: [
      {
        link: sw.createPort({ name: 'b0', mac: '02:00:00:00:00:0b' }),
        addresses: ['192.0.2.2/24', '2001:db8::2/64'],
        ...b,
      },
    ],
  });
  return { sw, A, B, close: async () => Promise.all([A.close(), B.close()]) };
}

/** Deterministic bytes: the shared test kit's xorshift32. */
export { pattern } from '@tapstack/testkit/random';

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Writes all of `data` to a connected handle, then FIN; resolves when everything is queued. */
export function writeAll(host: SocketHost, h: number, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const pump = () => {
      while (off < data.length) {
        const n = host.tcpSend(h, data.subarray(off, Math.min(data.length, off + 65536)));
        if (n <= 0) return;
        off += n;
      }
      host.tcpShutdown(h);
      resolve();
    };
    host.watch(h, (ev) => {
      if (ev & SocketEvent.Error) reject(new Error(`socket error ${host.socketError(h)}`));
      else if (ev & (SocketEvent.Writable | SocketEvent.Connected)) pump();
    });
    pump();
  });
}

/** Reads a handle until EOF; resolves the bytes' sha256 and length. */
export function readAll(
  host: SocketHost,
  h: number,
): Promise<{ length: number; sha256: string; bytes?: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let length = 0;
    const buf = new Uint8Array(256 * 1024);
    let done = false;
    const drain = () => {
      while (!done) {
        const n = host.tcpRecv(h, buf);
        if (n > 0) {
          hash.update(buf.subarray(0, n));
          length += n;
          continue;
        }
        if (n === -1) {
          done = true;
          resolve({ length, sha256: hash.digest('hex') });
          return;
        }
        if (n < 0) reject(new Error(`recv error ${-n}`));
        return;
      }
    };
    host.watch(h, (ev) => {
      if (ev & SocketEvent.Error) {
        const e = host.socketError(h);
        if (e) reject(new Error(`socket error ${e}`));
      }
      if (ev & (SocketEvent.Readable | SocketEvent.PeerClosed)) drain();
    });
    drain();
  });
}

/** Listens on `port`; resolves the first accepted handle. */
export function acceptOne(
  host: SocketHost,
  address: IpAddress | undefined,
  port: number,
  options?: TcpSocketOptions,
): Promise<number> {
  const l = host.tcpOpen(options);
  const e1 = host.tcpBind(l, address, port);
  if (e1) throw new Error(`bind error ${e1}`);
  const e2 = host.tcpListen(l, 8);
  if (e2) throw new Error(`listen error ${e2}`);
  return new Promise((resolve) => {
    const tryAccept = () => {
      const c = host.tcpAccept(l);
      if (c !== undefined) {
        host.unwatch(l);
        host.tcpClose(l);
        resolve(c);
      }
    };
    host.watch(l, (ev) => {
      if (ev & SocketEvent.Acceptable) tryAccept();
    });
    tryAccept();
  });
}

/** Connects; resolves the handle once established. */
export function connect(
  host: SocketHost,
  address: IpAddress,
  port: number,
  options?: TcpSocketOptions,
): Promise<number> {
  const h = host.tcpOpen(options);
  return new Promise((resolve, reject) => {
    host.watch(h, (ev) => {
      if (ev & SocketEvent.Error) reject(Object.assign(new Error(`connect error ${host.socketError(h)}`)));
      else if (ev & SocketEvent.Connected) resolve(h);
    });
    const e = host.tcpConnect(h, address, port, host.now());
    if (e) reject(new Error(`connect error ${e}`));
  });
}
