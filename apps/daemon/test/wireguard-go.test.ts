/**
 * tapstackd with `--wireguard` against wireguard-go (root; skips otherwise). The test makes a
 * namespace joined to the host by a veth pair (underlay 203.0.113.204/30: a slice no other
 * test uses, so a 203.0.113.0/24 link of another test on the host does not take its
 * routes when they run at once), runs `wireguard-go`
 * on a TUN there (192.0.2.2, 2001:db8::2) configured by `wg` with keys from `wg genkey`, and a
 * daemon on the host whose WireGuard link (192.0.2.1, 2001:db8::1) has wireguard-go as its
 * peer. Then: the kernel pings the daemon's stack, curls its HTTP page over IPv4 and IPv6, and
 * the daemon's SOCKS5 front fetches a file from a server in the namespace (SHA-256 checked),
 * and 256 MiB go both ways at once through the daemon's echo service (SHA-256 checked;
 * WG_BIG_MIB changes the size).
 * The namespace (and with it wireguard-go and the veth pair) is always deleted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { genkey, pubkey } from '@tapstack/wireguard';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNamespace,
  deleteLinkIfPresent,
  type Namespace,
  skipReason,
  waitFor,
} from '@tapstack/interop/netns';
import { validateConfig } from '../src/config.js';
import { Daemon } from '../src/daemon.js';
import { formatStatus } from '../src/status.js';
import { quietLogger, until } from './helpers.js';

const execFileAsync = promisify(execFile);
const reason = skipReason(['wireguard-go', 'wg', 'curl', 'python3', 'ping']);
if (reason) console.log(`tapstackd/wireguard-go tests skipped: ${reason}`);

describe.skipIf(reason !== undefined)('tapstackd --wireguard with wireguard-go in a namespace', () => {
  let ns: Namespace | undefined;
  let daemon: Daemon | undefined;
  let dir = '';
  const tag = `${process.pid % 100000}`;
  const rootEnd = `wdr${tag}`;
  const nsEnd = `wdn${tag}`;
  const tun = `wdt${tag}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tapstackd-wg-'));
    ns = createNamespace();
    execFileSync('ip', ['link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', nsEnd, 'netns', ns.name]);
    execFileSync('ip', ['addr', 'add', '203.0.113.205/30', 'dev', rootEnd]);
    execFileSync('ip', ['link', 'set', rootEnd, 'up']);
    ns.run(['ip', 'addr', 'add', '203.0.113.206/30', 'dev', nsEnd]);
    ns.run(['ip', 'link', 'set', nsEnd, 'up']);

    const goKey = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
    writeFileSync(join(dir, 'go.key'), `${goKey}\n`, { mode: 0o600 });
    const ourKey = genkey();
    writeFileSync(
      join(dir, 'wg0.conf'),
      [
        '[Interface]',
        `PrivateKey = ${ourKey}`,
        'Address = 192.0.2.1/24, 2001:db8::1/64',
        '',
        '[Peer]',
        `PublicKey = ${pubkey(goKey)}`,
        'AllowedIPs = 192.0.2.2/32, 2001:db8::2/128',
        'Endpoint = 203.0.113.206:51820',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    ns.spawn(['env', 'WG_PROCESS_FOREGROUND=1', 'wireguard-go', tun]);
    await waitFor(
      () => {
        try {
          ns?.run(['wg', 'show', tun]);
          return true;
        } catch {
          return false;
        }
      },
      { what: `wireguard-go ${tun}` },
    );
    daemon = await Daemon.start(
      validateConfig({
        name: 'wgd',
        links: [{ type: 'wireguard', config: join(dir, 'wg0.conf'), localAddress: '203.0.113.205' }],
        bridge: { enabled: false },
        socks: { enabled: true, listen: '127.0.0.1:0' },
        services: { http: 80, echo: 7 },
      }),
      { logger: quietLogger('wgd') },
    );
    const udp = daemon.info().links[0]?.udp as string;
    ns.run([
      'wg',
      'set',
      tun,
      'listen-port',
      '51820',
      'private-key',
      join(dir, 'go.key'),
      'peer',
      pubkey(ourKey),
      'allowed-ips',
      '192.0.2.1/32,2001:db8::1/128',
      'endpoint',
      udp,
    ]);
    ns.run(['ip', 'addr', 'add', '192.0.2.2/24', 'dev', tun]);
    ns.run(['ip', 'addr', 'add', '2001:db8::2/64', 'dev', tun, 'nodad']);
    ns.run(['ip', 'link', 'set', tun, 'mtu', '1420', 'up']);
  }, 60_000);

  afterAll(async () => {
    ns?.delete();
    deleteLinkIfPresent(rootEnd);
    await daemon?.stop(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the kernel pings the stack through wireguard-go; wg show has the handshake', async () => {
    const ping = await ns!.exec(['ping', '-c', '3', '-i', '0.2', '-W', '3', '192.0.2.1'], {
      allowFailure: true,
    });
    expect(ping.stdout).toContain('3 received');
    const dump = ns!.run(['wg', 'show', tun, 'dump']).trim().split('\n')[1]?.split('\t') ?? [];
    expect(Number(dump[4])).toBeGreaterThan(0);
    // `tapstackd status` shows the peer like `wg show`: endpoint, handshake, bytes.
    const st = daemon!.status();
    const wg = st.links[0]?.wireguard;
    expect(wg?.peers).toHaveLength(1);
    expect(wg?.peers[0]?.endpoint).toBe('203.0.113.206:51820');
    expect(wg?.peers[0]?.latestHandshake).toBeGreaterThan(0);
    expect(wg?.peers[0]?.rxBytes).toBeGreaterThan(0);
    const text = formatStatus(st);
    expect(text).toMatch(/wireguard wg0: public key \S+, listening on port \d+/);
    expect(text).toMatch(/203\.0\.113\.206:51820\s+192\.0\.2\.2\/32, 2001:db8::2\/128\s+\d+ s ago/);
  });

  it('the kernel reaches the daemon HTTP page over IPv4 and IPv6 (TCP in)', async () => {
    const v4 = await ns!.exec(['curl', '-sS', '--max-time', '10', 'http://192.0.2.1/from-wg']);
    expect(v4.stdout).toMatch(/to 192\.0\.2\.2:\d+, for \/from-wg/);
    const v6 = await ns!.exec(['curl', '-sS', '-g', '--max-time', '10', 'http://[2001:db8::1]/v6']);
    expect(v6.stdout).toMatch(/to 2001:db8::2:\d+, for \/v6/);
  });

  it('256 MiB both ways at once: the kernel streams to the daemon echo service and reads it back, SHA-256 checked', async () => {
    const mib = Number(process.env.WG_BIG_MIB ?? 256);
    // Sends random chunks and reads the echo on another thread; prints bytes and digests.
    const script = [
      'import hashlib, os, socket, sys, threading',
      'total = int(sys.argv[1]) << 20',
      "s = socket.create_connection(('192.0.2.1', 7), timeout=300)",
      'sent = hashlib.sha256(); got = hashlib.sha256(); n = [0]',
      'def rx():',
      '    while n[0] < total:',
      '        b = s.recv(1 << 20)',
      '        if not b: break',
      '        got.update(b); n[0] += len(b)',
      't = threading.Thread(target=rx); t.start()',
      'left = total',
      'while left > 0:',
      '    b = os.urandom(min(left, 1 << 16)); sent.update(b); s.sendall(b); left -= len(b)',
      't.join(); s.close()',
      'print(total, n[0], sent.hexdigest(), got.hexdigest())',
    ].join('\n');
    writeFileSync(join(dir, 'both-ways.py'), script);
    const r = await ns!.exec(['python3', join(dir, 'both-ways.py'), String(mib)], { timeoutMs: 600_000 });
    const [total, received, sentSha, gotSha] = r.stdout.trim().split(' ');
    expect(Number(total)).toBe(mib << 20);
    expect(Number(received)).toBe(mib << 20);
    expect(gotSha).toBe(sentSha);
  }, 600_000);

  it('the daemon reaches a server behind wireguard-go (TCP out), 4 MiB SHA-256 checked', async () => {
    const blob = randomBytes(4 << 20);
    writeFileSync(join(dir, 'blob'), blob);
    const server = ns!.spawn([
      'python3',
      '-m',
      'http.server',
      '--bind',
      '192.0.2.2',
      '8000',
      '--directory',
      dir,
    ]);
    try {
      const up = await until(async () => {
        const r = await ns!.exec(['curl', '-s', '-o', '/dev/null', 'http://192.0.2.2:8000/'], {
          allowFailure: true,
        });
        return r.code === 0;
      }, 10_000);
      expect(up).toBe(true);
      const got = await execFileAsync(
        'curl',
        ['-sS', '--max-time', '60', '--socks5-hostname', daemon!.info().socks!, 'http://192.0.2.2:8000/blob'],
        { encoding: 'buffer', maxBuffer: 8 << 20 },
      );
      const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
      expect(sha(got.stdout as unknown as Uint8Array)).toBe(sha(blob));
    } finally {
      if (server.pid) process.kill(server.pid, 'SIGKILL');
    }
  }, 90_000);
});
