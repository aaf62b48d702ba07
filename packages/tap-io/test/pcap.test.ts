/**
 * pcap capture against a hostile filesystem (issue 14): a full disk stops the capture
 * (counted, reported once) and never the process; the file is always a new one, 0600,
 * never written through a symlink that another user planted.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemorySwitch, withPcap } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tapio-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;

function port(name: string) {
  return new MemorySwitch().createPort({ name, mac: '02:00:00:00:00:01', mtu: 1500 });
}

describe('pcap files', () => {
  it('are created 0600 whatever the umask', async () => {
    const old = process.umask(0);
    try {
      const l = withPcap(port('m'), join(dir, 'mode.pcap'));
      expect(statSync(join(dir, 'mode.pcap')).mode & 0o777).toBe(0o600);
      await l.close();
    } finally {
      process.umask(old);
    }
  });

  it('never write through a planted symlink, nor into a file of another user', async () => {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    const planted = join(dir, 'planted.pcap');
    symlinkSync(victim, planted);
    expect(() => withPcap(port('s'), planted)).toThrow(/symlink/);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    if (isRoot) {
      const theirs = join(dir, 'theirs.pcap');
      writeFileSync(theirs, 'theirs\n');
      chownSync(theirs, 65534, 65534);
      expect(() => withPcap(port('t'), theirs)).toThrow(/owned by uid 65534/);
      expect(readFileSync(theirs, 'utf8')).toBe('theirs\n');
    }
    // An earlier capture of ours is replaced by a new file.
    const mine = join(dir, 'mine.pcap');
    writeFileSync(mine, 'old capture');
    const l = withPcap(port('o'), mine);
    await l.close();
    expect(readFileSync(mine).length).toBe(24);
  });

  it.runIf(isRoot)('a full disk stops the capture with one error; the link keeps going', () => {
    const fs = mkdtempSync(join(dir, 'tmpfs-'));
    const fixture = join(import.meta.dirname, 'fixtures/pcap-full-disk.ts');
    const r = spawnSync(
      'unshare',
      [
        '-m',
        'sh',
        '-c',
        `mount -t tmpfs -o size=256k tapio-test "$1" && exec "$2" --conditions=development --import tsx "$3" "$1"`,
        'sh',
        fs,
        process.execPath,
        fixture,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(out.sent).toBe(1400);
    expect(out.received).toBe(1410);
    expect(out.errors).toEqual(['ENOSPC']);
    expect(out.writeErrors).toBe(1);
    expect(out.lost).toBeGreaterThan(0);
  });
});
