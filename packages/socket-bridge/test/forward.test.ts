/**
 * Port-forward plumbing end to end: a host client -> host server (forwardToStack on A)
 * -> stack A -> stack B (StackAcceptor) -> a host connection to a loopback echo server
 * that stalls now and then (and a client that reads nothing for a while). Every byte comes back in order through both pumps' pause and
 * resume paths (send ring full, host socket queue full), and half-close travels both ways.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { forwardToStack, StackAcceptor } from '../src/forward.js';
import { pumpWriteStats } from '../src/pump.js';
import { pattern, sleep, stackPair, until } from './helpers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listenHost(handler: (s: Socket) => void, opts = {}): Promise<number> {
  const srv = createServer({ allowHalfOpen: true, ...opts }, handler);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as AddressInfo).port;
}

describe('forwardToStack + StackAcceptor', () => {
  it('carries 6 MiB there and back through a stalling echo, in order, with half-close', async () => {
    const pair = await stackPair();
    cleanups.push(() => pair.close());
    // The far end: an echo that pauses its reading for 20 ms every 64 reads.
    let reads = 0;
    const echoPort = await listenHost((s) => {
      s.on('data', (d: Buffer) => {
        s.write(d);
        if (++reads % 64 === 0) {
          s.pause();
          setTimeout(() => s.resume(), 20);
        }
      });
      s.on('end', () => s.end());
    });
    const ends: string[] = [];
    const acceptor = new StackAcceptor(pair.B.sockets, (c) => {
      const local = connect({ host: '127.0.0.1', port: echoPort, allowHalfOpen: true });
      local.once('connect', () => c.join(local, { onEnd: (how) => ends.push(`b:${how}`) }));
    });
    acceptor.listen(9000);
    cleanups.push(() => acceptor.close());
    let up = 0;
    let down = 0;
    const fwdPort = await listenHost(
      (client) =>
        forwardToStack(
          pair.A.sockets,
          client,
          { host: '192.0.2.2', port: 9000 },
          {
            onBytes: (dir, n) => (dir === 'up' ? (up += n) : (down += n)),
            onEnd: (how) => ends.push(`a:${how}`),
          },
        ),
      { pauseOnConnect: true },
    );
    const data = pattern(6 << 20, 11);
    const w0 = { ...pumpWriteStats };
    const client = connect({ host: '127.0.0.1', port: fwdPort, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    client.on('data', (d: Buffer) => chunks.push(d));
    const ended = once(client, 'end');
    // The client reads nothing until the A side's host writes meet a full socket buffer.
    client.pause();
    client.end(data);
    expect(await until(() => pumpWriteStats.queued > w0.queued)).toBe(true);
    client.resume();
    await ended;
    const back = Buffer.concat(chunks);
    expect(back.length).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
    expect(up).toBe(data.length);
    expect(down).toBe(data.length);
    // Host-socket writes went straight to the descriptor while the kernel took them, and
    // through the stream's queue (in order behind nothing) once the stalled echo pushed back.
    expect(pumpWriteStats.direct - w0.direct).toBeGreaterThan(0);
    expect(pumpWriteStats.queued - w0.queued).toBeGreaterThan(0);
    client.end();
    client.destroy();
    expect(await until(() => ends.length === 2)).toBe(true);
    expect(ends.sort()).toEqual(['a:closed', 'b:closed']);
  });

  it('a host peer that resets mid-stream aborts both sides', async () => {
    const pair = await stackPair();
    cleanups.push(() => pair.close());
    // The far end takes some bytes, then resets (RST): the B side's host writes fail.
    const farPort = await listenHost((s) => {
      let n = 0;
      s.on('data', (d: Buffer) => {
        n += d.length;
        if (n >= 256 << 10) s.resetAndDestroy();
      });
      s.on('error', () => {});
    });
    const ends: string[] = [];
    const acceptor = new StackAcceptor(pair.B.sockets, (c) => {
      const local = connect({ host: '127.0.0.1', port: farPort, allowHalfOpen: true });
      local.on('error', () => {});
      local.once('connect', () => c.join(local, { onEnd: (how) => ends.push(`b:${how}`) }));
    });
    acceptor.listen(9001);
    cleanups.push(() => acceptor.close());
    const fwdPort = await listenHost(
      (client) =>
        forwardToStack(
          pair.A.sockets,
          client,
          { host: '192.0.2.2', port: 9001 },
          {
            onEnd: (how) => ends.push(`a:${how}`),
          },
        ),
      { pauseOnConnect: true },
    );
    const client = connect({ host: '127.0.0.1', port: fwdPort });
    client.on('error', () => {});
    // (events.once would reject on the client's ECONNRESET 'error', which is expected here.)
    const closed = new Promise((r) => client.once('close', r));
    client.write(pattern(8 << 20, 3));
    await closed;
    expect(await until(() => ends.length === 2)).toBe(true);
    await sleep(50);
    expect(ends.sort()).toEqual(['a:reset', 'b:aborted']);
  });

  it('a refused stack connect resets the host client', async () => {
    const pair = await stackPair();
    cleanups.push(() => pair.close());
    const ends: string[] = [];
    const fwdPort = await listenHost(
      (client) =>
        forwardToStack(
          pair.A.sockets,
          client,
          { host: '192.0.2.2', port: 9 },
          {
            onEnd: (how, e) => ends.push(`${how}:${e}`),
          },
        ),
      { pauseOnConnect: true },
    );
    const client = connect({ host: '127.0.0.1', port: fwdPort });
    const [err] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNRESET');
    expect(ends).toEqual(['refused:ECONNREFUSED']);
  });
});
