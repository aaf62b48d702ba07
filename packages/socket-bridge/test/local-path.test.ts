/**
 * The daemon's default socket location and the client's owner check (issue 14): the
 * default is never a predictable name in a world-writable directory, a directory made
 * by another user is refused, and a client refuses a socket owned by another user.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, connect as unixConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bridgeConnect } from '../src/bridge-client.js';
import {
  checkSocketOwner,
  defaultBridgePath,
  defaultRuntimeDir,
  ensurePrivateDir,
  listenUnixPrivate,
} from '../src/local-path.js';

const dir = mkdtempSync(join(tmpdir(), 'tapstack-localpath-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

describe('default socket location', () => {
  it('is in a private runtime directory, not a name in the temp dir', () => {
    expect(defaultBridgePath({ XDG_RUNTIME_DIR: '/run/user/1000' })).toBe(
      '/run/user/1000/tapstack/bridge.sock',
    );
    const p = defaultBridgePath({});
    expect(p.startsWith(tmpdir()) && !p.includes('/tapstack-')).toBe(false);
    if (isRoot) expect(p).toBe('/run/tapstack/bridge.sock');
    expect(defaultRuntimeDir({ XDG_RUNTIME_DIR: 'relative' })).not.toContain('relative');
  });

  it('creates the directory 0700 and refuses one another user made', () => {
    const mine = join(dir, 'mine');
    ensurePrivateDir(mine);
    expect(statSync(mine).mode & 0o777).toBe(0o700);
    ensurePrivateDir(mine); // again: fine
    if (!isRoot) return;
    const squat = join(dir, 'squat');
    mkdirSync(squat, { mode: 0o777 });
    chmodSync(squat, 0o777);
    chownSync(squat, NOBODY, NOBODY);
    expect(() => ensurePrivateDir(squat)).toThrow(/owned by uid 65534/);
  });
});

describe('client owner check', () => {
  it.runIf(isRoot)('refuses a socket owned by another user and never reads what it says', async () => {
    // The attack: another user serves a fake "daemon" at the path the client expects.
    const path = join(dir, 'fake.sock');
    let connected = 0;
    const fake = createServer((s) => {
      connected++;
      s.end('OK 192.0.2.1:1 192.0.2.2:80\nHTTP/1.0 200 OK\r\n\r\nfake');
    });
    await listenUnixPrivate(fake, path, 0o666);
    try {
      chownSync(path, NOBODY, NOBODY);
      expect(lstatSync(path).uid).toBe(NOBODY);
      expect(() => checkSocketOwner(path)).toThrow(/owned by uid 65534/);
      await expect(bridgeConnect({ path, host: '192.0.2.2', port: 80 })).rejects.toMatchObject({
        code: 'EPERM',
      });
      expect(connected).toBe(0);
      // Root's and our own sockets are fine.
      chownSync(path, 0, 0);
      checkSocketOwner(path);
    } finally {
      await new Promise((r) => fake.close(r));
    }
  });

  it('creates the socket 0600 whatever the umask', async () => {
    const path = join(dir, 'umask.sock');
    const old = process.umask(0);
    const s = createServer(() => {});
    try {
      await listenUnixPrivate(s, path);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const c = unixConnect(path);
      await new Promise((r, j) => c.once('connect', r).once('error', j));
      c.destroy();
    } finally {
      process.umask(old);
      await new Promise((r) => s.close(r));
    }
  });
});
