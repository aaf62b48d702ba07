import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type Socket, connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readIntoUserBuffer } from '../src/user-buffer.js';
import { pattern } from './helpers.js';

async function acceptedPair(): Promise<{ client: Socket; server: Socket; close: () => void }> {
  const srv = createServer({ pauseOnConnect: true });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const accepted = once(srv, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  const [server] = await accepted;
  return { client, server, close: () => srv.close() };
}

describe('readIntoUserBuffer (accepted sockets read into one reused buffer)', () => {
  it('is available on this Node, and moves every byte in order with pauses and a clean end', async () => {
    const { client, server, close } = await acceptedPair();
    const buf = Buffer.alloc(4096);
    const got = createHash('sha256');
    let bytes = 0;
    let reads = 0;
    let paused = 0;
    const ok = readIntoUserBuffer(server, buf, (n, b) => {
      expect(b).toBe(buf); // the same buffer every time: nothing allocated per read
      got.update(b.subarray(0, n));
      bytes += n;
      // Every 7th read says "full": the socket must stop until resume(), losing nothing.
      if (++reads % 7 === 0) {
        paused++;
        setTimeout(() => server.resume(), 1);
        return false;
      }
      return true;
    });
    expect(ok).toBe(true);
    const ended = once(server, 'end');
    server.resume();
    const data = pattern(3 << 20, 7);
    client.end(data);
    await ended;
    expect(bytes).toBe(data.length);
    expect(got.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(paused).toBeGreaterThan(5);
    server.destroy();
    close();
  });

  it('refuses (and changes nothing) when data is already buffered in the stream', async () => {
    const { client, server, close } = await acceptedPair();
    server.unshift(Buffer.from('early'));
    expect(readIntoUserBuffer(server, Buffer.alloc(64), () => true)).toBe(false);
    expect(String(server.read())).toBe('early');
    client.destroy();
    server.destroy();
    close();
  });

  it('takes a buffer generator: each read goes into the buffer it gave last, no larger', async () => {
    const { client, server, close } = await acceptedPair();
    const big = Buffer.alloc(8192);
    const sizes = [8192, 100, 3000, 1];
    let turn = 0;
    let given = big.subarray(0, sizes[0]);
    const got = createHash('sha256');
    let bytes = 0;
    let over = 0;
    const ok = readIntoUserBuffer(
      server,
      () => {
        given = big.subarray(0, sizes[turn++ % sizes.length]);
        return given;
      },
      (n, b) => {
        expect(b).toBe(given);
        if (n > b.length) over++;
        got.update(b.subarray(0, n));
        bytes += n;
        return true;
      },
    );
    expect(ok).toBe(true);
    const ended = once(server, 'end');
    server.resume();
    const data = pattern(1 << 20, 3);
    client.end(data);
    await ended;
    expect(over).toBe(0);
    expect(turn).toBeGreaterThan(100); // small buffers mean many reads: the sizes were used
    expect(bytes).toBe(data.length);
    expect(got.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    server.destroy();
    close();
  });
});
