/**
 * The WireGuard link in the daemon: `tapstackd genkey | pubkey` give wg's key form, a
 * standard WireGuard config file sets up the link (its Address becomes the interface
 * address), and a bad file fails the start with an error naming the field and line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { genkey, pubkey } from '@tapstack/wireguard';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config.js';
import { Daemon } from '../src/daemon.js';
import { quietLogger } from './helpers.js';

const bin = join(import.meta.dirname, '../bin/tapstackd.mjs');
const dir = mkdtempSync(join(tmpdir(), 'tapstackd-wg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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

  it('refuses pcap on a wireguard link (it carries IP packets, the writer records Ethernet)', () => {
    expect(() =>
      validateConfig({ links: [{ type: 'wireguard', config: '/x', pcap: '/tmp/x.pcap' }] }),
    ).toThrow(/links\[0\]\.pcap: pcap is not supported on a wireguard link/);
  });

  it('--wireguard FILE is the shorthand for a wireguard first link', () => {
    const out = execFileSync(process.execPath, [bin, '--wireguard', '/x/wg0.conf', '--check'], {
      encoding: 'utf8',
    });
    const c = JSON.parse(out);
    expect(c.links[0]).toMatchObject({ type: 'wireguard', config: '/x/wg0.conf', localAddress: '0.0.0.0' });
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
