/**
 * The WireGuard link in the daemon: `tapstackd genkey | pubkey` give wg's key form, a
 * standard WireGuard config file sets up the link (its Address becomes the interface
 * address), and a bad file fails the start with an error naming the field and line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { genkey, parseConfig, pubkey, UdpWireGuard } from '@tapstack/wireguard';
import { nativeAead } from '@tapstack/tap-io';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config.js';
import { Daemon } from '../src/daemon.js';
import { quietLogger } from './helpers.js';

const bin = join(import.meta.dirname, '../bin/tapstackd.mjs');
const dir = mkdtempSync(join(tmpdir(), 'tapstackd-wg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(f: () => boolean): Promise<void> {
  while (!f()) await new Promise((r) => setTimeout(r, 5));
}

/** An ICMP echo request, IPv4 header and ICMP checksums filled in. */
function icmpEcho(src: string, dst: string, seq: number): Uint8Array {
  const p = new Uint8Array(20 + 16);
  p.set([0x45, 0, 0, p.length, 0, 0, 0, 0, 64, 1, 0, 0]);
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  p.set([8, 0, 0, 0, 0, 1, 0, seq], 20);
  const sum = (from: number, to: number) => {
    let s = 0;
    for (let i = from; i < to; i += 2) s += (p[i]! << 8) | p[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return ~s & 0xffff;
  };
  const h = sum(0, 20);
  p[10] = h >> 8;
  p[11] = h & 0xff;
  const c = sum(20, p.length);
  p[22] = c >> 8;
  p[23] = c & 0xff;
  return p;
}

function hasWg(): boolean {
  return spawnSync('wg', ['--version']).status === 0;
}

describe('tapstackd and WireGuard', () => {
  it('genkey and pubkey print keys in wg form; wg(8) agrees when installed', () => {
    const priv = execFileSync(process.execPath, [bin, 'genkey'], { encoding: 'utf8' }).trim();
    expect(priv).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    const pub = execFileSync(process.execPath, [bin, 'pubkey'], { input: priv, encoding: 'utf8' }).trim();
    expect(pub).toBe(pubkey(priv));
    if (hasWg()) expect(execFileSync('wg', ['pubkey'], { input: priv, encoding: 'utf8' }).trim()).toBe(pub);
    const bad = spawnSync(process.execPath, [bin, 'pubkey'], { input: 'nope', encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/PrivateKey/);
  });

  it('starts from a wg config file; its Address and MTU become the interface', async () => {
    const file = join(dir, 'ok.conf');
    const peer = pubkey(genkey());
    writeFileSync(
      file,
      `[Interface]\nPrivateKey = ${genkey()}\nAddress = 192.0.2.7/24\nMTU = 1380\n\n[Peer]\nPublicKey = ${peer}\nAllowedIPs = 192.0.2.0/24\nEndpoint = 127.0.0.1:9\n`,
      { mode: 0o600 },
    );
    const d = await Daemon.start(
      validateConfig({
        name: 'wgtest',
        links: [{ type: 'wireguard', config: file, localAddress: '127.0.0.1' }],
        bridge: { enabled: false },
      }),
      { logger: quietLogger('wgtest') },
    );
    try {
      const l = d.info().links[0];
      expect(l?.type).toBe('wireguard');
      expect(l?.mtu).toBe(1380);
      expect(l?.addresses).toContain('192.0.2.7/24');
      expect(l?.udp).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await d.stop(0);
    }
  });

  it.each([
    ['bad key', 'PrivateKey = nope', /links\[wg0\]\.config: line 2: PrivateKey/],
    ['unknown key', 'Colour = blue', /Colour: unknown key/],
  ])('a wg config with a %s fails the start naming the field', async (_n, line, re) => {
    const file = join(dir, 'bad.conf');
    writeFileSync(file, `[Interface]\n${line}\n`, { mode: 0o600 });
    const cfg = validateConfig({
      links: [{ type: 'wireguard', config: file, localAddress: '127.0.0.1' }],
      bridge: { enabled: false },
    });
    await expect(Daemon.start(cfg, { logger: quietLogger('bad') })).rejects.toThrow(re);
  });

  it('does not follow a symlink to the config file (it holds a private key)', async () => {
    const target = join(dir, 'target.conf');
    writeFileSync(target, '[Interface]\n', { mode: 0o600 });
    const link = join(dir, 'link.conf');
    symlinkSync(target, link);
    const cfg = validateConfig({
      links: [{ type: 'wireguard', config: link, localAddress: '127.0.0.1' }],
      bridge: { enabled: false },
    });
    await expect(Daemon.start(cfg, { logger: quietLogger('sym') })).rejects.toThrow(/cannot read/);
  });

  it('takes the same configuration inline (YAML/JSON) and checks it with the same parser', async () => {
    const d = await Daemon.start(
      validateConfig({
        name: 'wginline',
        links: [
          {
            type: 'wireguard',
            localAddress: '127.0.0.1',
            addresses: ['192.0.2.9/24'],
            wireguard: {
              privateKey: genkey(),
              peers: [{ publicKey: pubkey(genkey()), allowedIps: ['192.0.2.0/24'], endpoint: '127.0.0.1:9' }],
            },
          },
        ],
        bridge: { enabled: false },
      }),
      { logger: quietLogger('wginline') },
    );
    try {
      const l = d.info().links[0];
      expect(l?.type).toBe('wireguard');
      expect(l?.addresses).toContain('192.0.2.9/24');
      expect(d.status().links[0]?.wireguard?.peers[0]?.endpoint).toBe('127.0.0.1:9');
    } finally {
      await d.stop(0);
    }
    const bad = validateConfig({
      links: [
        {
          type: 'wireguard',
          localAddress: '127.0.0.1',
          wireguard: { privateKey: genkey(), peers: [{ publicKey: 'nope' }] },
        },
      ],
      bridge: { enabled: false },
    });
    await expect(Daemon.start(bad, { logger: quietLogger('bad') })).rejects.toThrow(
      /links\[wg0\]\.wireguard: PublicKey/,
    );
    expect(() => validateConfig({ links: [{ type: 'wireguard' }] })).toThrow(
      /config: give a WireGuard config file/,
    );
  });

  it('records pcap on a wireguard link as LINKTYPE_RAW (inner IP packets); tshark reads it', async () => {
    const [kd, kp] = [genkey(), genkey()];
    const file = join(dir, 'pcap.conf');
    writeFileSync(
      file,
      `[Interface]\nPrivateKey = ${kd}\nAddress = 192.0.2.7/24\n\n[Peer]\nPublicKey = ${pubkey(kp)}\nAllowedIPs = 192.0.2.9/32\n`,
      { mode: 0o600 },
    );
    const pcap = join(dir, 'wg0.pcap');
    const d = await Daemon.start(
      validateConfig({
        name: 'wgpcap',
        links: [{ type: 'wireguard', config: file, localAddress: '127.0.0.1', pcap }],
        bridge: { enabled: false },
      }),
      { logger: quietLogger('wgpcap') },
    );
    let replies = 0;
    let peer: UdpWireGuard | undefined;
    try {
      const port = Number(d.info().links[0]?.udp?.split(':')[1]);
      peer = await UdpWireGuard.open({
        config: parseConfig(
          `[Interface]\nPrivateKey = ${kp}\n[Peer]\nPublicKey = ${pubkey(kd)}\nAllowedIPs = 192.0.2.7/32\nEndpoint = 127.0.0.1:${port}\n`,
        ),
        host: '127.0.0.1',
        onPacket: (p) => {
          if (p[9] === 1 && p[20] === 0) replies++;
        },
      });
      for (let seq = 1; seq <= 3; seq++) {
        peer.send(icmpEcho('192.0.2.9', '192.0.2.7', seq));
        await until(() => replies >= seq);
      }
    } finally {
      peer?.close();
      await d.stop(0);
    }
    const buf = readFileSync(pcap);
    expect(buf.readUInt32LE(20)).toBe(101);
    if (spawnSync('tshark', ['--version']).status !== 0) return;
    const out = execFileSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'icmp.type', '-e', 'ip.src'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out.trim().split('\n')).toEqual([
      '8\t192.0.2.9',
      '0\t192.0.2.7',
      '8\t192.0.2.9',
      '0\t192.0.2.7',
      '8\t192.0.2.9',
      '0\t192.0.2.7',
    ]);
    const stderr = execFileSync('sh', ['-c', `tshark -r '${pcap}' 2>&1 >/dev/null`], { encoding: 'utf8' });
    expect(
      stderr.split('\n').filter((l) => l.trim() !== '' && !l.includes('Running as user "root"')),
    ).toEqual([]);
  });

  it('runs the WireGuard link on the stack thread (stackThread): pings answered, status shows the peer', async () => {
    const [kd, kp] = [genkey(), genkey()];
    const file = join(dir, 'thread.conf');
    writeFileSync(
      file,
      `[Interface]\nPrivateKey = ${kd}\nAddress = 192.0.2.7/24\nMTU = 1380\n\n[Peer]\nPublicKey = ${pubkey(kp)}\nAllowedIPs = 192.0.2.9/32\n`,
      { mode: 0o600 },
    );
    const d = await Daemon.start(
      validateConfig({
        name: 'wgthread',
        stackThread: true,
        links: [{ type: 'wireguard', config: file, localAddress: '127.0.0.1' }],
        bridge: { enabled: false },
      }),
      { logger: quietLogger('wgthread') },
    );
    let replies = 0;
    let peer: UdpWireGuard | undefined;
    try {
      const l = d.info().links[0];
      expect(l?.mtu).toBe(1380);
      expect(l?.addresses).toContain('192.0.2.7/24');
      // The socket is bound on the stack thread; the daemon asked it where.
      expect(l?.udp).toMatch(/^127\.0\.0\.1:\d+$/);
      const port = Number(l?.udp?.split(':')[1]);
      peer = await UdpWireGuard.open({
        config: parseConfig(
          `[Interface]\nPrivateKey = ${kp}\n[Peer]\nPublicKey = ${pubkey(kd)}\nAllowedIPs = 192.0.2.7/32\nEndpoint = 127.0.0.1:${port}\n`,
        ),
        host: '127.0.0.1',
        onPacket: (p) => {
          if (p[9] === 1 && p[20] === 0) replies++;
        },
      });
      for (let seq = 1; seq <= 3; seq++) {
        peer.send(icmpEcho('192.0.2.9', '192.0.2.7', seq));
        await until(() => replies >= seq);
      }
      const w = d.status().links[0]?.wireguard;
      expect(w?.publicKey).toBe(pubkey(kd));
      expect(w?.listenPort).toBe(port);
      // The stack thread loaded tap-io's AEAD addon too (where it is built).
      expect(w?.aead).toBe(nativeAead() ? 'openssl' : 'node');
      expect(w?.peers).toHaveLength(1);
      expect(w?.peers[0]).toMatchObject({ publicKey: pubkey(kp), allowedIps: ['192.0.2.9/32'] });
      expect(w?.peers[0]?.endpoint).toBe(`127.0.0.1:${peer.port}`);
      expect(w?.peers[0]?.latestHandshake).toBeGreaterThan(0);
      expect(w?.peers[0]?.rxBytes).toBeGreaterThan(0);
      // The link's counters come from the stack thread too.
      expect(d.status().links[0]?.counters.rxFrames).toBeGreaterThanOrEqual(3);
    } finally {
      peer?.close();
      await d.stop(0);
    }
  });

  it('--wireguard FILE is the shorthand for a wireguard first link', () => {
    const out = execFileSync(process.execPath, [bin, '--wireguard', '/x/wg0.conf', '--check'], {
      encoding: 'utf8',
    });
    const c = JSON.parse(out);
    expect(c.links[0]).toMatchObject({ type: 'wireguard', config: '/x/wg0.conf', localAddress: '::' });
  });
});

describe('VXLAN safety defaults', () => {
  it('warns at start when a VXLAN link is bound to a non-loopback address; not on loopback', async () => {
    const { logLines } = await import('./helpers.js');
    const start = async (localAddress: string) => {
      logLines.length = 0;
      const d = await Daemon.start(
        validateConfig({
          name: `vx-${localAddress}`,
          links: [{ type: 'vxlan', localAddress, localPort: 0, peers: ['127.0.0.1:9'] }],
          bridge: { enabled: false },
        }),
        { logger: quietLogger('vx') },
      );
      await d.stop(0);
      return logLines.join('');
    };
    expect(await start('0.0.0.0')).toMatch(/VXLAN is unencrypted and unauthenticated/);
    expect(await start('127.0.0.1')).not.toMatch(/unencrypted/);
  });

  it('accepts only configured peers unless learning is asked for', () => {
    const def = validateConfig({ links: [{ type: 'vxlan' }] }).links[0];
    expect(def?.type === 'vxlan' && def.learn).toBe(false);
    const out = execFileSync(process.execPath, [bin, '--link', 'vxlan', '--vxlan-learn', '--check'], {
      encoding: 'utf8',
    });
    expect(JSON.parse(out).links[0].learn).toBe(true);
  });
});
