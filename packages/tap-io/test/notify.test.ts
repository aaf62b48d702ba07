/**
 * sdNotify against a fake service manager: socat receives on an AF_UNIX datagram
 * socket (a filesystem path, then the abstract namespace) and prints what came.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sdNotify } from '../src/index.js';

const hasSocat = spawnSync('socat', ['-V']).status === 0;
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.pid) process.kill(c.pid);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** socat receiving datagrams on `address`; resolves with the first one once it arrives. */
async function fakeManager(address: string, ready: () => boolean): Promise<{ first: Promise<string> }> {
  const c = spawn('socat', ['-u', address, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let out = '';
  const first = new Promise<string>((resolve, reject) => {
    c.stdout!.on('data', (d) => {
      out += d;
      resolve(out);
    });
    c.on('exit', (code) => reject(new Error(`socat exited ${code}`)));
  });
  for (let i = 0; i < 200 && !ready(); i++) await new Promise((r) => setTimeout(r, 10));
  return { first };
}

describe.skipIf(!hasSocat)('sdNotify', () => {
  it('sends one datagram to $NOTIFY_SOCKET (a path)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapio-notify-'));
    dirs.push(dir);
    const path = join(dir, 'notify.sock');
    const m = await fakeManager(`UNIX-RECV:${path}`, () => existsSync(path));
    expect(sdNotify('READY=1\nSTATUS=up', path)).toBe(true);
    expect(await m.first).toBe('READY=1\nSTATUS=up');
  });

  it('reaches an abstract-namespace socket (@name)', async () => {
    const name = `tapio-notify-${process.pid}-${Date.now()}`;
    // Bound (and so receiving) once the kernel lists it.
    const m = await fakeManager(`ABSTRACT-RECV:${name}`, () =>
      readFileSync('/proc/net/unix', 'utf8').includes(`@${name}`),
    );
    expect(sdNotify('READY=1', `@${name}`)).toBe(true);
    expect(await m.first).toBe('READY=1');
  });

  it('does nothing without a socket, and names the error when nobody listens', () => {
    expect(sdNotify('READY=1', '')).toBe(false);
    expect(sdNotify('READY=1', undefined)).toBe(false);
    expect(() => sdNotify('READY=1', join(tmpdir(), `no-such-notify-${process.pid}.sock`))).toThrow(
      expect.objectContaining({ code: 'ENOENT' }),
    );
  });
});
