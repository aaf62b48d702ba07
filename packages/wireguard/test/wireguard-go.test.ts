/**
 * Interop with wireguard-go (the Go reference implementation) and wg(8): a namespace joined to
 * the host by a veth pair (underlay 203.0.113.200/30: a slice no other test uses, so a
 * 203.0.113.0/24 link of another test on the host does not take its routes when they run
 * at once) runs `wireguard-go` on a TUN device with
 * 192.0.2.2, configured by `wg` with a key from `wg genkey`. Our device on the host has 192.0.2.1;
 * a tiny ICMP responder in the test answers the kernel's pings, and we ping the kernel back.
 * Then: wireguard-go restarted, a rekey during a transfer, roaming to a new port, and an
 * IPv6 underlay (2001:db8:ff::/64 on the same veth pair).
 * Root only; the namespace, the veth pair and wireguard-go are removed afterwards.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Namespace,
  createNamespace,
  deleteLinkIfPresent,
  skipReason,
  waitFor,
} from '@tapstack/interop/netns';
import { UdpWireGuard, decodeKey, encodeKey, genkey, parseConfig, pubkey } from '../src/index.js';

const skip = skipReason(['wireguard-go', 'wg', 'ping']);
if (skip) console.warn(`wireguard-go interop test skipped: ${skip}`);

const tag = `${process.pid % 100000}`;
const rootEnd = `wgr${tag}`;
const nsEnd = `wgn${tag}`;
const tun = `wgt${tag}`;
let ns: Namespace | undefined;
let node: UdpWireGuard | undefined;
let goPid: number | undefined;
const got: Uint8Array[] = [];

/** Starts wireguard-go on `tun` in the namespace; resolves with its PID once `wg` sees it. */
async function startGo(): Promise<number> {
  const go = ns!.spawn(['env', 'WG_PROCESS_FOREGROUND=1', 'wireguard-go', tun]);
  let goLog = '';
  go.stdout?.on('data', (b) => (goLog += b));
  go.stderr?.on('data', (b) => (goLog += b));
  await waitFor(
    () => {
      try {
        ns?.run(['wg', 'show', tun]);
        return true;
      } catch {
        return false;
      }
    },
    { what: `wireguard-go ${tun} (${goLog})` },
  );
  return go.pid!;
}

/** `wg set` with our device as the peer, then the TUN's address and MTU. */
function configureGo(): void {
  ns!.run([
    'wg',
    'set',
    tun,
    'listen-port',
    '51820',
    'private-key',
    join(dir, 'go.key'),
    'peer',
    encodeKey(node!.device.publicKey),
    'preshared-key',
    join(dir, 'psk'),
    'allowed-ips',
    '192.0.2.1/32',
    'endpoint',
    `203.0.113.201:${node!.port}`,
  ]);
  ns!.run(['ip', 'addr', 'add', '192.0.2.2/24', 'dev', tun]);
  ns!.run(['ip', 'link', 'set', tun, 'mtu', '1420', 'up']);
}

const echoReplies = () => got.filter((p) => p[9] === 1 && p[20] === 0);

/** Sends echo requests `seqs` to the kernel behind wireguard-go and waits for every reply. */
async function pingKernel(seqs: number[], size = 100, timeoutMs = 10_000): Promise<void> {
  const want = new Set(seqs);
  const seen = () => new Set(echoReplies().map((p) => (p[26]! << 8) | p[27]!));
  for (const seq of seqs)
    node!.send(
      icmpEcho([192, 0, 2, 1], [192, 0, 2, 2], 8, 0x4242, seq, new Uint8Array(size).fill(seq & 0xff)),
    );
  await waitFor(() => [...want].every((s) => seen().has(s)), {
    timeoutMs,
    what: `echo replies ${seqs[0]}..`,
  });
}
const dir = mkdtempSync(join(tmpdir(), 'tapstack-wg-'));

afterAll(() => {
  node?.close();
  ns?.delete();
  deleteLinkIfPresent(rootEnd);
  rmSync(dir, { recursive: true, force: true });
});

function checksum(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += ((b[i] as number) << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function icmpEcho(src: number[], dst: number[], type: 0 | 8, id: number, seq: number, data: Uint8Array) {
  const p = new Uint8Array(28 + data.length);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 1;
  p.set(src, 12);
  p.set(dst, 16);
  const c = checksum(p, 0, 20);
  p[10] = c >> 8;
  p[11] = c & 0xff;
  p[20] = type;
  p[24] = id >> 8;
  p[25] = id & 0xff;
  p[26] = seq >> 8;
  p[27] = seq & 0xff;
  p.set(data, 28);
  const ic = checksum(p, 20, p.length);
  p[22] = ic >> 8;
  p[23] = ic & 0xff;
  return p;
}

describe.skipIf(skip !== undefined)('interop with wireguard-go (root)', () => {
  it('wg genkey/pubkey and ours agree both ways', () => {
    const theirs = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
    const theirPub = execFileSync('wg', ['pubkey'], { input: theirs, encoding: 'utf8' }).trim();
    expect(pubkey(theirs)).toBe(theirPub);
    const ours = genkey();
    const viaWg = execFileSync('wg', ['pubkey'], { input: ours, encoding: 'utf8' }).trim();
    expect(pubkey(ours)).toBe(viaWg);
  });

  it('handshakes with wireguard-go; pings go both ways through the tunnel', async () => {
    ns = createNamespace();
    execFileSync('ip', ['link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', nsEnd, 'netns', ns.name]);
    execFileSync('ip', ['addr', 'add', '203.0.113.201/30', 'dev', rootEnd]);
    execFileSync('ip', ['link', 'set', rootEnd, 'up']);
    ns.run(['ip', 'addr', 'add', '203.0.113.202/30', 'dev', nsEnd]);
    ns.run(['ip', 'link', 'set', nsEnd, 'up']);

    const goKey = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
    const goPub = pubkey(goKey);
    const ourKey = genkey();
    const psk = execFileSync('wg', ['genpsk'], { encoding: 'utf8' }).trim();
    writeFileSync(join(dir, 'go.key'), `${goKey}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'psk'), `${psk}\n`, { mode: 0o600 });

    goPid = await startGo();

    const config = parseConfig(`
[Interface]
PrivateKey = ${ourKey}
Address = 192.0.2.1/24
MTU = 1420

[Peer]
PublicKey = ${goPub}
PresharedKey = ${psk}
AllowedIPs = 192.0.2.2/32
Endpoint = 203.0.113.202:51820
`);
    node = await UdpWireGuard.open({
      config,
      host: '203.0.113.201',
      // Short timers so the restart and rekey tests below run in seconds.
      limits: { keepaliveTimeout: 1000, rekeyTimeout: 1000, rekeyAfterMessages: 40 },
      onPacket: (p) => {
        // Answer echo requests to 192.0.2.1; keep everything else for the test.
        if (p[9] === 1 && p[20] === 8 && p[16] === 192 && p[19] === 1) {
          node?.send(
            icmpEcho(
              [192, 0, 2, 1],
              [...p.subarray(12, 16)],
              0,
              (p[24]! << 8) | p[25]!,
              (p[26]! << 8) | p[27]!,
              p.subarray(28),
            ),
          );
        } else got.push(Uint8Array.from(p));
      },
    });
    ns.run([
      'wg',
      'set',
      tun,
      'listen-port',
      '51820',
      'private-key',
      join(dir, 'go.key'),
      'peer',
      encodeKey(node.device.publicKey),
      'preshared-key',
      join(dir, 'psk'),
      'allowed-ips',
      '192.0.2.1/32',
      'endpoint',
      `203.0.113.201:${node.port}`,
    ]);
    ns.run(['ip', 'addr', 'add', '192.0.2.2/24', 'dev', tun]);
    ns.run(['ip', 'link', 'set', tun, 'mtu', '1420', 'up']);

    // The kernel in the namespace pings us: wireguard-go initiates, we respond.
    const ping = await ns.exec(['ping', '-c', '3', '-i', '0.2', '-W', '3', '192.0.2.1'], {
      allowFailure: true,
    });
    expect(ping.stdout).toContain('3 received');
    expect(node.device.counters.initiationsReceived).toBeGreaterThanOrEqual(1);

    // We ping the kernel: echo replies come back through wireguard-go.
    for (let seq = 1; seq <= 3; seq++) {
      node.send(icmpEcho([192, 0, 2, 1], [192, 0, 2, 2], 8, 0x4242, seq, new Uint8Array(1000).fill(seq)));
    }
    await waitFor(() => echoReplies().length >= 3, { what: 'echo replies' });
    const replies = echoReplies();
    expect(replies.map((p) => p[27])).toEqual([1, 2, 3]);
    expect(replies[0]?.subarray(28)).toEqual(new Uint8Array(1000).fill(1));

    // wg show agrees: a recent handshake and bytes both ways.
    const dump = ns.run(['wg', 'show', tun, 'dump']).trim().split('\n')[1]?.split('\t') ?? [];
    expect(dump[0]).toBe(encodeKey(node.device.publicKey));
    expect(Number(dump[4])).toBeGreaterThan(0); // latest handshake
    expect(Number(dump[5])).toBeGreaterThan(0); // rx
    expect(Number(dump[6])).toBeGreaterThan(0); // tx
    const peer = node.device.peers()[0];
    expect(peer?.latestHandshake).toBeGreaterThan(0);
    expect(peer?.endpoint).toEqual({ address: '203.0.113.202', port: 51820 });
    const c = node.device.counters;
    expect(c.dropDecrypt + c.dropMac1 + c.dropHandshakeRejected + c.dropMalformed).toBe(0);
    expect(decodeKey(goPub)).toHaveLength(32);
  });

  it('wireguard-go restarted mid-session: we notice, handshake again and traffic resumes', async () => {
    expect(goPid).toBeDefined();
    process.kill(goPid!, 'SIGKILL');
    await waitFor(
      () => {
        try {
          ns!.run(['ip', 'link', 'show', tun]);
          return false;
        } catch {
          return true;
        }
      },
      { what: 'the old TUN to go' },
    );
    goPid = await startGo();
    configureGo();
    const before = node!.device.counters.initiationsSent;
    got.length = 0;
    // Our old session is unknown to the new wireguard-go: with no answer, we start a new
    // handshake after KEEPALIVE + REKEY_TIMEOUT (1 s + 1 s here) and the pings get through.
    let seq = 100;
    await waitFor(
      () => {
        node!.send(icmpEcho([192, 0, 2, 1], [192, 0, 2, 2], 8, 0x4242, seq++, new Uint8Array(8)));
        return echoReplies().length > 0;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: 'traffic after the restart' },
    );
    expect(node!.device.counters.initiationsSent).toBeGreaterThan(before);
  }, 30_000);

  it('rekeys during a transfer (REKEY_AFTER_MESSAGES shortened to 40): nothing is lost', async () => {
    const c = node!.device.counters;
    const before = c.responsesReceived;
    got.length = 0;
    // 300 echoes in windows of 20, spread over a few REKEY_TIMEOUTs.
    for (let i = 0; i < 15; i++) {
      const seqs = Array.from({ length: 20 }, (_, k) => 1000 + i * 20 + k);
      await pingKernel(seqs, 1000);
      await new Promise((r) => setTimeout(r, 100));
    }
    const seqs = new Set(echoReplies().map((p) => (p[26]! << 8) | p[27]!));
    expect([...seqs].filter((q) => q >= 1000 && q < 1300)).toHaveLength(300);
    expect(c.responsesReceived - before).toBeGreaterThanOrEqual(2);
    expect(c.dropDecrypt + c.dropReplay).toBe(0);
  }, 60_000);

  it('roams: after we move to a new UDP port, wireguard-go follows on the next packet', async () => {
    const oldPort = node!.port;
    await node!.rebind(0, '203.0.113.201');
    expect(node!.port).not.toBe(oldPort);
    got.length = 0;
    await pingKernel([5000, 5001]);
    const dump = ns!.run(['wg', 'show', tun, 'endpoints']);
    expect(dump).toContain(`203.0.113.201:${node!.port}`);
  }, 30_000);

  it('over an IPv6 underlay: wireguard-go sends to [2001:db8:ff::1]:port, we follow and answer over IPv6', async () => {
    execFileSync('ip', ['addr', 'add', '2001:db8:ff::1/64', 'dev', rootEnd, 'nodad']);
    ns!.run(['ip', 'addr', 'add', '2001:db8:ff::2/64', 'dev', nsEnd, 'nodad']);
    // Dual-stack socket: the IPv4 session goes on, and IPv6 datagrams reach it too.
    await node!.rebind(0, '::');
    ns!.run([
      'wg',
      'set',
      tun,
      'peer',
      encodeKey(node!.device.publicKey),
      'endpoint',
      `[2001:db8:ff::1]:${node!.port}`,
    ]);
    const ping = await ns!.exec(['ping', '-c', '3', '-i', '0.2', '-W', '3', '192.0.2.1'], {
      allowFailure: true,
    });
    expect(ping.stdout).toContain('3 received');
    // Roaming: the latest authenticated source is now wireguard-go's IPv6 address.
    expect(node!.device.peers()[0]?.endpoint).toEqual({ address: '2001:db8:ff::2', port: 51820 });
    got.length = 0;
    await pingKernel([6000, 6001], 1000);
    expect(ns!.run(['wg', 'show', tun, 'endpoints'])).toContain(`[2001:db8:ff::1]:${node!.port}`);
  }, 30_000);
});
