/**
 * The README's first command: `node tools/demo.mjs` must work with no root and no
 * configuration, print what happened, exit 0 and leave nothing behind — also when it
 * is interrupted with SIGINT half way.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const demo = join(import.meta.dirname, '../../../tools/demo.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runDemo(
  args: string[],
  onLine?: (line: string, kill: (sig: NodeJS.Signals) => void) => void,
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [demo, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let buf = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      buf += d;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        onLine?.(buf.slice(0, nl), (sig) => process.kill(child.pid!, sig));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** PIDs the demo reported for its children. */
function childPids(stdout: string): number[] {
  return [...stdout.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tempDir(stdout: string): string {
  const m = /^temp dir (\S+)/m.exec(stdout);
  if (!m) throw new Error(`no temp dir line in:\n${stdout}`);
  return m[1]!;
}

describe('tools/demo.mjs', () => {
  it('runs end to end over WireGuard by default, shows both handshakes, exits 0 and cleans up', async () => {
    const r = await runDemo(['--bytes', '8MiB']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const out = r.stdout;
    // Two daemons on a WireGuard link with the documented addresses, from wg config files.
    expect(out).toContain('joined by WireGuard (encrypted)');
    expect(out).toMatch(
      /daemon A \(pid \d+\): wireguard udp 127\.0\.0\.1:\d+, mtu 1420, .*192\.0\.2\.1\/24 .*2001:db8::1\/64/,
    );
    expect(out).toMatch(
      /daemon B \(pid \d+\): wireguard udp 127\.0\.0\.1:\d+, mtu 1420, .*192\.0\.2\.2\/24 .*2001:db8::2\/64/,
    );
    expect(out).toContain('the link is encrypted: WireGuard');
    // The WireGuard link is an IP-only interface: no ARP or NDP on it.
    expect(out).not.toMatch(/stack (arp|ndp)\./);
    expect(out).toMatch(
      /daemon A: handshake complete, session up \(\d+ handshake message\(s\) accepted, 0 forged/,
    );
    expect(out).toMatch(
      /daemon B: handshake complete, session up \(\d+ handshake message\(s\) accepted, 0 forged/,
    );
    // The page came from the server attached to B's bridge, to A's virtual address.
    expect(out).toMatch(
      /fetch http:\/\/192\.0\.2\.2\/: HTTP 200, \d+ bytes .*\(192\.0\.2\.1:\d+ -> 192\.0\.2\.2:80\)/,
    );
    expect(out).toContain('Hello from a server attached to daemon B');
    expect(out).toMatch(/echo: 3 messages, rtt avg [\d.]+ ms \(\[2001:db8::1\]:\d+ -> \[2001:db8::2\]:7\)/);
    expect(out).toMatch(/udp: 3\/3 datagrams came back from 192\.0\.2\.2:7, rtt avg [\d.]+ ms/);
    expect(out).toMatch(
      /throughput: 8\.0 MiB there and back in [\d.]+ s = [\d.]+ MiB\/s each way, sha256 ok/,
    );
    // Stats from both daemons: frames crossed the link both ways. At MTU 1420, 8 MiB
    // each way is thousands of packets.
    const sent = /link frames sent\s+(\d+)\s+(\d+)/.exec(out);
    expect(sent, out).not.toBeNull();
    expect(Number(sent![1])).toBeGreaterThan(5000);
    expect(Number(sent![2])).toBeGreaterThan(5000);
    expect(out).toMatch(/link bytes received\s+\d{7,}\s+\d{7,}/);
    expect(out).toMatch(
      /stopped: daemon B \(pid \d+\) exit 0, daemon A \(pid \d+\) exit 0, web server on B \(pid \d+\) exit 0/,
    );
    expect(out).toMatch(/^demo ok in [\d.]+s, removed /m);
    // Nothing left behind.
    expect(existsSync(tempDir(out))).toBe(false);
    const pids = childPids(out);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    for (const pid of pids) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  });

  it('--vxlan: runs end to end over plaintext VXLAN', async () => {
    const r = await runDemo(['--vxlan', '--bytes', '8MiB']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const out = r.stdout;
    // Two daemons on the VXLAN link with the documented addresses.
    expect(out).toMatch(
      /daemon A \(pid \d+\): vxlan udp 127\.0\.0\.1:\d+, .*192\.0\.2\.1\/24 .*2001:db8::1\/64/,
    );
    expect(out).toMatch(
      /daemon B \(pid \d+\): vxlan udp 127\.0\.0\.1:\d+, .*192\.0\.2\.2\/24 .*2001:db8::2\/64/,
    );
    // On loopback the VXLAN link carries the largest frames a UDP datagram holds.
    expect(out).toMatch(/daemon A \(pid \d+\): vxlan udp 127\.0\.0\.1:\d+, mtu 65485,/);
    // The page came from the server attached to B's bridge, to A's virtual address.
    expect(out).toMatch(
      /fetch http:\/\/192\.0\.2\.2\/: HTTP 200, \d+ bytes .*\(192\.0\.2\.1:\d+ -> 192\.0\.2\.2:80\)/,
    );
    expect(out).toContain('Hello from a server attached to daemon B');
    expect(out).toMatch(/echo: 3 messages, rtt avg [\d.]+ ms \(\[2001:db8::1\]:\d+ -> \[2001:db8::2\]:7\)/);
    expect(out).toMatch(/udp: 3\/3 datagrams came back from 192\.0\.2\.2:7, rtt avg [\d.]+ ms/);
    expect(out).toMatch(
      /throughput: 8\.0 MiB there and back in [\d.]+ s = [\d.]+ MiB\/s each way, sha256 ok/,
    );
    // Stats from both daemons: frames crossed the link both ways, no drops. On loopback
    // the VXLAN frames are up to 65499 bytes: 8 MiB each way is at least 128 of them.
    const sent = /link frames sent\s+(\d+)\s+(\d+)/.exec(out);
    expect(sent, out).not.toBeNull();
    expect(Number(sent![1])).toBeGreaterThan(128);
    expect(Number(sent![2])).toBeGreaterThan(128);
    expect(out).toMatch(/link bytes received\s+\d{7,}\s+\d{7,}/);
    expect(out).toMatch(
      /stopped: daemon B \(pid \d+\) exit 0, daemon A \(pid \d+\) exit 0, web server on B \(pid \d+\) exit 0/,
    );
    expect(out).toMatch(/^demo ok in [\d.]+s, removed /m);
    // Nothing left behind.
    expect(existsSync(tempDir(out))).toBe(false);
    const pids = childPids(out);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    for (const pid of pids) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  });

  it('stops everything it started on SIGINT', async () => {
    let sent = false;
    const r = await runDemo(['--bytes', '256MiB'], (line, kill) => {
      // Interrupt while the throughput test runs: the daemons and the server are up.
      if (!sent && line.includes('echo: 3 messages')) {
        sent = true;
        kill('SIGINT');
      }
    });
    expect(sent, r.stdout + r.stderr).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('SIGINT, stopping everything');
    expect(existsSync(tempDir(r.stdout))).toBe(false);
    const pids = childPids(r.stdout);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    for (const pid of pids) expect(alive(pid), `pid ${pid} still running`).toBe(false);
  });
});
