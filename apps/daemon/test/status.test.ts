/** `tapstackd status` against running daemons, over their metrics sockets (GET /status). */
import { bridgeConnect } from '@tapstack/socket-bridge';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { statusMain } from '../src/status.js';
import { type Pair, startPair } from './helpers.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  try {
    return { code: await statusMain(argv), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('tapstackd status', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair(
      { forwards: { hostToVirtual: [{ listen: '127.0.0.1:0', connect: '192.0.2.2:7' }] } },
      {
        services: { echo: 7 },
      },
    );
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it('prints links, addresses, sessions and counters as a table', async () => {
    // One finished session through A's bridge to B's echo, so B has counted something.
    const s = await bridgeConnect({ path: pair.sock('a.sock'), host: '192.0.2.2', port: 7 });
    s.resume();
    s.end('hello');
    await new Promise((r) => s.on('close', r));
    const r = await run(['--metrics', pair.b.info().metrics!]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^b \(pid \d+\), up \d+ s/);
    expect(r.out).toMatch(/^LINK +TYPE +MAC +MTU +ADDRESSES/m);
    expect(r.out).toMatch(/^mem0 +memory +02:[0-9a-f:]+ +1500 +192\.0\.2\.2\/24 fe80::\S+ 2001:db8::2\/64 /m);
    expect(r.out).toMatch(/^accepted +- +- +0 +1$/m);
    expect(r.out).toMatch(/^service echo +virtual port 7$/m);
    expect(r.out).toMatch(/^tcp\.segmentsSent +[1-9]\d*$/m);
    const a = await run(['--metrics', pair.a.info().metrics!]);
    expect(a.out).toMatch(/^host 127\.0\.0\.1:\d+ -> virtual 192\.0\.2\.2:7 +127\.0\.0\.1:\d+$/m);
  });

  it('--json prints the object the daemon sent', async () => {
    const r = await run(['--metrics', pair.a.info().metrics!, '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s).toMatchObject({
      name: 'a',
      pid: process.pid,
      draining: false,
      bridge: pair.sock('a.sock'),
      links: [{ name: 'mem0', type: 'memory', peers: [] }],
    });
    expect(s.links[0].addresses).toEqual(expect.arrayContaining(['192.0.2.1/24', '2001:db8::1/64']));
    expect(s.links[0].counters.txFrames).toBeGreaterThan(0);
    expect(s.sessions.open).toEqual({ bridge: 0, socks: 0, forward: 0, service: 0 });
  });

  it('exit 1 when no daemon answers, 2 when it does not know where to ask', async () => {
    const none = await run(['--metrics', `unix:${pair.sock('nobody.sock')}`]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no daemon answers at unix:.*nobody\.sock: ENOENT/);
    const where = await run([]);
    expect(where.code).toBe(2);
    expect(where.err).toMatch(/say where the daemon listens/);
    expect((await run(['--metrics', '10.0.0.1:9'])).code).toBe(2);
  });
});
