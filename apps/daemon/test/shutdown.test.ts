/**
 * Stopping a daemon while clients are connected: every client gets a clean end or a
 * Node-style error (never a hang), the bridge socket file goes away, and a drain lets
 * connections that finish in time finish. Also the real binary on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as hostConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeConnect, bridgeListen } from '@tapstack/socket-bridge';
import { afterEach, describe, expect, it } from 'vitest';
import { type Pair, startPair } from './helpers.js';

/**
 * Resolves with how a socket's stream ended: its error code, or 'end' for EOF. (Bridge
 * sockets are half-open: the daemon ending the stream is the end of the connection.)
 */
function outcome(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    s.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
    s.on('end', () => resolve('end'));
    s.on('close', () => resolve('end'));
    s.resume();
  });
}

const CLEAN = ['end', 'ECONNRESET', 'EPIPE'];

/** `p`, or a rejection naming `what` after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: no result in ${ms} ms`)), ms)),
  ]);
}

describe('stopping a daemon with clients connected', () => {
  let pair: Pair | undefined;
  afterEach(async () => {
    await pair?.stop();
    pair = undefined;
  });

  it('closes bridge and forward clients cleanly when the drain times out', async () => {
    pair = await startPair(
      { forwards: { hostToVirtual: [{ listen: '127.0.0.1:0', connect: '192.0.2.2:7' }] } },
      { services: { echo: 7 } },
    );
    const a = pair.a;
    const bridgeClients = await Promise.all(
      [1, 2, 3].map(() => bridgeConnect({ path: pair!.sock('a.sock'), host: '192.0.2.2', port: 7 })),
    );
    const [host, port] = a.info().forwards[0]!.listen.split(':');
    const fwClient = hostConnect({ host: host!, port: Number(port) });
    await new Promise((r) => fwClient.once('connect', r));
    // Prove the forward works before the stop.
    fwClient.write('ping');
    await new Promise<void>((resolve) => fwClient.once('data', () => resolve()));
    const outcomes = [...bridgeClients, fwClient].map(outcome);
    expect(a.openSessions().bridge).toBe(3);

    const t0 = Date.now();
    await a.stop(300);
    const took = Date.now() - t0;
    const results = await Promise.race([
      Promise.all(outcomes),
      new Promise<string[]>((_, reject) => setTimeout(() => reject(new Error('a client hung')), 5000)),
    ]);
    for (const r of results) expect(CLEAN).toContain(r);
    // It waited for the drain (the clients stayed open), then closed them.
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(4000);
    expect(existsSync(pair.sock('a.sock'))).toBe(false);
    expect(existsSync(pair.sock('a-metrics.sock'))).toBe(false);
    await expect(
      bridgeConnect({ path: pair.sock('a.sock'), host: '192.0.2.2', port: 7 }),
    ).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('lets a connection that finishes within the drain finish, and stops as soon as it has', async () => {
    pair = await startPair({}, { services: { echo: 7 } });
    const s = await bridgeConnect({ path: pair.sock('a.sock'), host: '192.0.2.2', port: 7 });
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    const done = outcome(s);
    const t0 = Date.now();
    const stopping = pair.a.stop(5000);
    // The client still talks after the stop began, then closes.
    await new Promise((r) => setTimeout(r, 100));
    s.end('finishing during the drain');
    expect(await done).toBe('end');
    await stopping;
    expect(Buffer.concat(got).toString()).toBe('finishing during the drain');
    expect(Date.now() - t0).toBeLessThan(2500);
  });
});

describe('socket paths', () => {
  it('a second daemon on the same bridge path fails with EADDRINUSE; the first keeps it', async () => {
    const pair = await startPair({}, { services: { echo: 7 } });
    try {
      await expect(startPair({ bridge: { path: pair.sock('a.sock') } })).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
      // The first daemon still serves its bridge.
      const s = await bridgeConnect({ path: pair.sock('a.sock'), host: '192.0.2.2', port: 7 });
      s.destroy();
    } finally {
      await pair.stop();
    }
  });

  it('a stale socket file (no one listening) is replaced; a regular file is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapstackd-paths-'));
    try {
      const stale = join(dir, 'stale.sock');
      // A process that dies by SIGKILL leaves its socket file behind.
      const child = spawn(process.execPath, [
        '-e',
        `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`,
      ]);
      await new Promise((r) => child.stdout.once('data', r));
      const dead = new Promise((r) => child.once('exit', r));
      process.kill(child.pid!, 'SIGKILL');
      await dead;
      expect(existsSync(stale)).toBe(true);
      const pair = await startPair({ bridge: { path: stale } });
      await pair.stop();
      const file = join(dir, 'file.sock');
      writeFileSync(file, 'not a socket');
      await expect(startPair({ bridge: { path: file } })).rejects.toMatchObject({ code: 'EEXIST' });
      expect(readFileSync(file, 'utf8')).toBe('not a socket');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tapstackd on SIGTERM', () => {
  it('drains, removes its socket, refuses new requests and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapstackd-sig-'));
    const bin = join(import.meta.dirname, '../bin/tapstackd.mjs');
    const bridge = join(dir, 'd.sock');
    const child = spawn(
      process.execPath,
      [bin, '--address', '192.0.2.1/24', '--bridge', bridge, '--drain-timeout', '300', '--log-json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    try {
      const ready = await within(
        new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (d) => {
            out += d;
            if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
          });
          child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
        }),
        10_000,
        'ready line',
      );
      expect(JSON.parse(ready)).toMatchObject({ ready: true, pid: child.pid, bridge });
      const listener = await within(bridgeListen({ path: bridge, port: 8080 }), 5000, 'LISTEN');
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      process.kill(child.pid!, 'SIGTERM');
      expect(await within(exited, 5000, `exit after SIGTERM (${stderr})`)).toBe(0);
      // And a new request finds no daemon.
      await expect(listener.accept()).rejects.toMatchObject({ code: 'ENOENT' });
      listener.close();
      expect(existsSync(bridge)).toBe(false);
      // JSON logs, one object per line, with levels.
      const lines = stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: number; msg: string });
      expect(lines.some((l) => l.msg === 'signal received' && l.level === 30)).toBe(true);
      expect(
        lines.some((l) => l.msg === 'drain timeout: closing the remaining connections' && l.level === 40),
      ).toBe(true);
      expect(lines.at(-1)!.msg).toBe('stopped');
    } finally {
      if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // A daemon that goes away ends the pending ACCEPT's socket (EOF, no reply); the
  // client must fail it even on a half-open socket, where 'close' never comes.
  it('a pending ACCEPT fails (does not hang) when the daemon stops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapstackd-sig-'));
    const pair = await startPair();
    try {
      const listener = await bridgeListen({ path: pair.sock('a.sock'), port: 8080, allowHalfOpen: true });
      const listenerClosed = new Promise((r) => listener.once('close', r));
      const pending = listener.accept().then(
        () => 'accepted',
        (e: Error & { code?: string }) => e.code ?? e.message,
      );
      await new Promise((r) => setTimeout(r, 50));
      await pair.a.stop(0);
      expect(['ECONNRESET', 'EBADF']).toContain(await within(pending, 2000, 'pending ACCEPT'));
      await within(listenerClosed, 2000, "listener 'close'");
      listener.close();
    } finally {
      await pair.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
