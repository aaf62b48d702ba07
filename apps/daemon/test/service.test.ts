/**
 * tapstackd as a system service: the binary writes its --ready-file once every link and
 * listener is up and sends sd_notify READY=1 (with MAINPID) to $NOTIFY_SOCKET — here a
 * fake service manager (socat receiving datagrams) — then STOPPING=1 and removes the
 * file on SIGTERM.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '../bin/tapstackd.mjs');
const hasSocat = spawnSync('socat', ['-V']).status === 0;
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapstackd-service-'));
  dirs.push(d);
  return d;
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!hasSocat)('readiness', () => {
  it('--ready-file and sd_notify READY=1 once up; STOPPING=1 and the file removed on SIGTERM', async () => {
    const dir = tempDir();
    const notifySock = join(dir, 'notify.sock');
    const manager = spawn('socat', ['-u', `UNIX-RECV:${notifySock}`, 'STDOUT'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    children.push(manager);
    let received = '';
    manager.stdout!.on('data', (d) => {
      received += d;
    });
    await until(() => existsSync(notifySock), 'the fake NOTIFY_SOCKET');

    const readyFile = join(dir, 'ready.json');
    const d = spawn(
      process.execPath,
      [
        bin,
        '--log-level',
        'warn',
        '--bridge',
        join(dir, 'bridge.sock'),
        '--serve-echo',
        '7',
        '--ready-file',
        readyFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: notifySock } },
    );
    children.push(d);
    let stderr = '';
    d.stderr!.on('data', (x) => {
      stderr += x;
    });
    const exited = new Promise<number | null>((r) => d.on('exit', (code) => r(code)));
    await until(() => existsSync(readyFile) || d.exitCode !== null, 'the ready file');
    expect(d.exitCode, stderr).toBe(null);
    const info = JSON.parse(readFileSync(readyFile, 'utf8'));
    expect(info).toMatchObject({ ready: true, pid: d.pid, bridge: join(dir, 'bridge.sock') });
    // The bridge was listening before the file appeared.
    expect(existsSync(join(dir, 'bridge.sock'))).toBe(true);
    await until(() => received.includes('READY=1'), 'READY=1');
    expect(received).toContain(`MAINPID=${d.pid}`);

    d.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(readyFile)).toBe(false);
    await until(() => received.includes('STOPPING=1'), 'STOPPING=1');
  }, 30_000);

  it('a ready file that cannot be written is a start failure: exit 1', async () => {
    const dir = tempDir();
    const r = spawnSync(
      process.execPath,
      [
        bin,
        '--log-level',
        'warn',
        '--bridge',
        join(dir, 'b.sock'),
        '--ready-file',
        join(dir, 'no/such/dir/ready'),
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(r.stderr).toMatch(/cannot write the ready file: ENOENT/);
    expect(r.status).toBe(1);
  }, 30_000);
});

describe('SIGHUP', () => {
  it('reopens the log file and the pcap after they were moved away, and keeps running', async () => {
    const dir = tempDir();
    const log = join(dir, 'd.log');
    const pcap = join(dir, 'd.pcap');
    const readyFile = join(dir, 'ready');
    const d = spawn(
      process.execPath,
      [bin, '--bridge', join(dir, 'b.sock'), '--log-file', log, '--pcap', pcap, '--ready-file', readyFile],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(d);
    let stderr = '';
    d.stderr!.on('data', (x) => {
      stderr += x;
    });
    const exited = new Promise<number | null>((r) => d.on('exit', (code) => r(code)));
    await until(() => existsSync(readyFile) || d.exitCode !== null, 'the ready file');
    expect(d.exitCode, stderr).toBe(null);
    expect(readFileSync(log, 'utf8')).toMatch(/link up/);
    expect(statSync(log).mode & 0o777).toBe(0o600);
    renameSync(log, `${log}.1`);
    renameSync(pcap, `${pcap}.1`);
    d.kill('SIGHUP');
    await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('reopened'), 'the new log file');
    expect(d.exitCode).toBe(null);
    // A new capture: its own pcap header.
    await until(() => existsSync(pcap), 'the new pcap file');
    d.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(readFileSync(pcap).readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(readFileSync(`${log}.1`, 'utf8')).not.toMatch(/reopened/);
    expect(readFileSync(log, 'utf8')).toMatch(/stopped/);
    expect(stderr).toBe('');
  }, 30_000);
});
