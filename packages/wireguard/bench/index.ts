/**
 * WireGuard benchmarks (the daemon-to-daemon TCP figures are in apps/daemon/bench):
 * - device: an in-process pair, 1420-byte IP packets sealed and opened per second
 *   (one core, no sockets), the CPU time per packet (seal + open: what a loaded machine
 *   does not distort), and handshakes per second (initiation + response + first data);
 * - over loopback UDP: two UdpWireGuard devices, 1420-byte packets one way (Mbit/s), and a
 *   1-byte round trip (a 29-byte IP packet there and back); tap-io's batched socket (the
 *   default) against node:dgram in the same run;
 * - as root, in the same run: wireguard-go ↔ wireguard-go in two namespaces (kernel TCP over
 *   both TUNs, iperf3), the comparison; and tapstack ↔ wireguard-go (ICMP echo through
 *   wireguard-go and the kernel and back, 1420-byte packets, a window of 64 in flight).
 * Transport AEAD rows: OpenSSL batched (tap-io's addon) against node:crypto, same run. Software
 * GSO: a TCP super-segment cut by sendSegmented against the same packets cut already.
 * TAPSTACK_BENCH_WG_ROOT=0 skips the namespace rows.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, medianOfRounds, quick, report } from '@tapstack/bench-kit';
import { createNamespace, deleteLinkIfPresent, skipReason, waitFor } from '@tapstack/interop/netns';
import { nativeTcpSegment, planTcpSegments, tcpSegmentInto } from '@tapstack/tap-io';
import {
  PrivateKey,
  UdpWireGuard,
  cryptoRandom,
  WireGuardDevice,
  genkey,
  parseConfig,
  parsePrefix,
  pubkey,
} from '../src/index.js';
import type { AeadBackend } from '../src/transport-aead.js';
import { ipv4Packet, makePair } from '../test/harness.js';

const PKT = 1420;
const payload = new Uint8Array(PKT - 20);
const rounds = { warmup: 1, rounds: quick ? 2 : 5 };

// ---- in-process device pair: crypto and protocol cost, no sockets. Each device's bind
// hands the datagram straight to the other (the test harness's MemoryNet copies and logs
// every datagram, which costs more than the protocol). Transport AEAD: OpenSSL batched
// (tap-io's addon, the default) against node:crypto in the same run; one packet per call,
// and 64 per call (sendMany, the receiver opening them as one burst with receiveMany).
async function devicePair(aead: AeadBackend, batch: number, gso = false) {
  const ka = PrivateKey.generate();
  const kb = PrivateKey.generate();
  const ea = { address: '127.0.0.1', port: 1 };
  const eb = { address: '127.0.0.2', port: 2 };
  let b: WireGuardDevice | undefined;
  const burst: Uint8Array[] = [];
  const froms: (typeof ea)[] = [];
  const a = new WireGuardDevice({
    privateKey: ka.raw,
    aead,
    bind: {
      // As tap-io's batched socket: what was sent is done with (b opened it, or the burst is
      // delivered before the next flush), so one seal buffer is reused.
      copies: true,
      send: (d) => {
        if (batch === 1) b?.receive(d, ea);
        else {
          burst.push(d);
          froms.push(ea);
        }
      },
    },
    onPacket: () => {},
  });
  b = new WireGuardDevice({
    privateKey: kb.raw,
    aead,
    bind: { copies: true, send: (d) => a.receive(d, eb) },
    onPacket: () => {},
  });
  if (a.aeadBackend !== aead) return undefined;
  a.addPeer({ publicKey: kb.publicKey, allowedIps: [parsePrefix('192.0.2.2/32')!], endpoint: eb });
  b.addPeer({ publicKey: ka.publicKey, allowedIps: [parsePrefix('192.0.2.1/32')!], endpoint: ea });
  const pkt = ipv4Packet('192.0.2.1', '192.0.2.2', payload);
  const pkts = new Array<Uint8Array>(batch).fill(pkt);
  // gso: one TCP super-segment of `batch` parts of 1380 bytes (MTU 1420) per call, cut by
  // sendSegmented; else (with tcp) the same parts as separate TCP packets.
  const superSeg = tcpSegment(batch * GSO_PART);
  if (gso) {
    pkts.length = 0;
    const plan = planTcpSegments(superSeg, GSO_PART)!;
    const offs = new Uint32Array(plan.count);
    const dst = new ArrayBuffer(plan.count * PKT);
    for (let i = 0; i < plan.count; i++) offs[i] = i * PKT;
    tcpSegmentInto(superSeg, plan.th, GSO_PART, dst, offs, 0, plan.count);
    for (let i = 0; i < plan.count; i++) pkts.push(new Uint8Array(dst, offs[i], PKT));
  }
  const deliver = () => {
    if (burst.length === 0) return;
    b?.receiveMany(burst, froms);
    burst.length = 0;
    froms.length = 0;
  };
  a.sendMany(pkts);
  deliver();
  const n = quick ? 2048 : 10240;
  const cpuUs: number[] = [];
  const pps = await medianOfRounds(() => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i += batch) {
      if (batch === 1) a.send(pkt);
      else {
        if (gso === true && segmented) {
          a.sendSegmented(superSeg, GSO_PART);
          a.flush();
        } else a.sendMany(pkts);
        deliver();
      }
    }
    const c = process.cpuUsage(c0);
    cpuUs.push((c.user + c.system) / n);
    return n / ((performance.now() - t0) / 1000);
  }, rounds);
  a.destroy();
  b.destroy();
  return { pps, cpu: median(cpuUs) };
}

/** TCP payload bytes per part at MTU 1420 (IPv4 and TCP headers of 20 bytes each). */
const GSO_PART = PKT - 40;
/** Which way devicePair(..., gso = true) sends: the super-segment (true) or its parts as packets. */
let segmented = true;

/** An IPv4 TCP segment 192.0.2.1 -> 192.0.2.2 with `n` payload bytes (checksum left 0, as the stack hands it down with offload). */
function tcpSegment(n: number): Uint8Array {
  const p = new Uint8Array(40 + n);
  p.set([0x45, 0, p.length >> 8, p.length & 0xff, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
  p.set([0x9c, 0x40, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff], 20);
  return p;
}

{
  const one = (await devicePair('openssl', 1)) ?? (await devicePair('node', 1))!;
  const oneNode = (await devicePair('node', 1))!;
  const many = await devicePair('openssl', 64);
  const manyNode = (await devicePair('node', 64))!;
  const backend = many ? 'OpenSSL batched' : 'node:crypto';
  // Handshakes on one pair: each round trip is initiation, response and the confirming
  // keepalive (three DH-heavy messages); the manual clock passes REKEY_TIMEOUT between them.
  const hsN = quick ? 100 : 400;
  // The default random source, as in use: ephemeral keys are then made by OpenSSL.
  const p = makePair({ aOpts: { random: cryptoRandom }, bOpts: { random: cryptoRandom } });
  const hs = await medianOfRounds(() => {
    const before = p.b.counters.initiationsReceived;
    const t0 = performance.now();
    for (let i = 0; i < hsN; i++) {
      p.clock.advance(6000);
      p.a.connect(p.b.publicKey);
      p.net.flush();
    }
    if (p.b.counters.initiationsReceived - before !== hsN) throw new Error('handshakes failed');
    return hsN / ((performance.now() - t0) / 1000);
  }, rounds);
  report({
    package: 'wireguard',
    name: 'wireguard/device/1420B/Mbit-per-s',
    value: (one.pps * PKT * 8) / 1e6,
    unit: `Mbit/s (seal + open, one core, one packet per call; ${backend})`,
    higherIsBetter: true,
    baseline: { name: 'node:crypto, same run', value: (oneNode.pps * PKT * 8) / 1e6 },
  });
  report({
    package: 'wireguard',
    name: 'wireguard/device/1420B/cpu-us-per-packet',
    value: one.cpu,
    unit: `µs of CPU per 1420-byte packet (seal + open, in-memory network, one per call; ${backend})`,
    higherIsBetter: false,
    baseline: { name: 'node:crypto, same run', value: oneNode.cpu },
  });
  report({
    package: 'wireguard',
    name: 'wireguard/device/1420B-batch64/cpu-us-per-packet',
    value: (many ?? manyNode).cpu,
    unit: `µs of CPU per 1420-byte packet (seal + open, 64 per sendMany/receiveMany; ${backend})`,
    higherIsBetter: false,
    baseline: { name: 'node:crypto, same run', value: manyNode.cpu },
  });
  // Software GSO (WireGuardLink offload): a 47-part TCP super-segment cut by sendSegmented
  // (tap-io's tcpSegment, native where built) against the same 47 packets already cut, as a
  // stack without offload hands them down; CPU per wire packet, seal + open. The difference
  // is what cutting costs the device; what it saves is the stack's per-segment work.
  if (many) {
    segmented = true;
    const cut = (await devicePair('openssl', 47, true))!;
    segmented = false;
    const uncut = (await devicePair('openssl', 47, true))!;
    report({
      package: 'wireguard',
      name: 'wireguard/device/tcp-gso-47x1380/cpu-us-per-packet',
      value: cut.cpu,
      unit: `µs of CPU per wire packet (a 64 KiB TCP super-segment cut into 47 by sendSegmented${nativeTcpSegment() ? ', native' : ', JS'}, sealed, opened)`,
      higherIsBetter: false,
      baseline: { name: 'the same 47 packets cut already (sendMany)', value: uncut.cpu },
    });
  }
  report({
    package: 'wireguard',
    name: 'wireguard/device/handshakes-per-s',
    value: hs,
    unit: 'handshakes/s (both sides, one core)',
    higherIsBetter: true,
    baseline: null,
  });
}

// ---- two devices over loopback UDP
async function udpPair(host = '127.0.0.1', native?: boolean) {
  const ka = genkey();
  const kb = genkey();
  const got = { a: 0, b: 0, lastA: undefined as Uint8Array | undefined };
  const waiters: Array<() => void> = [];
  const conf = (k: string, peer: string, allowed: string, port?: number) =>
    parseConfig(
      `[Interface]\nPrivateKey = ${k}\n[Peer]\nPublicKey = ${pubkey(peer)}\nAllowedIPs = ${allowed}\n${port ? `Endpoint = ${host}:${port}\n` : ''}`,
    );
  let b: UdpWireGuard | undefined;
  b = await UdpWireGuard.open({
    config: conf(kb, ka, '192.0.2.1/32'),
    host,
    native,
    onPacket: (p) => {
      got.b++;
      // echo 1-byte probes straight back
      if (p.length < 64) b?.send(ipv4Packet('192.0.2.2', '192.0.2.1', p.subarray(20)));
      for (const w of waiters.splice(0)) w();
    },
  });
  const a = await UdpWireGuard.open({
    config: conf(ka, kb, '192.0.2.2/32', b.port),
    host,
    native,
    onPacket: (p) => {
      got.a++;
      got.lastA = p;
      for (const w of waiters.splice(0)) w();
    },
  });
  const wait = (f: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => (f() ? resolve() : waiters.push(check));
      check();
    });
  return { a, b, got, wait };
}

/** One-way 1420-byte throughput (Mbit/s) and 1-byte round trips (µs) between two devices. */
async function udpRun(native: boolean) {
  const { a, b, got, wait } = await udpPair('127.0.0.1', native);
  const pkt = ipv4Packet('192.0.2.1', '192.0.2.2', payload);
  a.send(pkt);
  await wait(() => got.b >= 1);
  const n = quick ? 5000 : 20000;
  const mbit = await medianOfRounds(async () => {
    const start = got.b;
    const t0 = performance.now();
    // Windows of 64 in flight so the socket buffers do not overflow.
    for (let sent = 0; sent < n; ) {
      for (let k = 0; k < 64 && sent < n; k++, sent++) a.send(pkt);
      await wait(() => got.b - start >= sent - 8);
    }
    await new Promise((r) => setTimeout(r, 20));
    return ((got.b - start) * PKT * 8) / 1e6 / ((performance.now() - t0 - 20) / 1000);
  }, rounds);
  const probe = ipv4Packet('192.0.2.1', '192.0.2.2', Uint8Array.of(7));
  const rtts: number[] = [];
  for (let i = 0; i < (quick ? 200 : 1000); i++) {
    const before = got.a;
    const t0 = performance.now();
    a.send(probe);
    await wait(() => got.a > before);
    rtts.push((performance.now() - t0) * 1000);
  }
  a.close();
  b.close();
  return { mbit, rtt: median(rtts) };
}

{
  const batched = await udpRun(true).catch(() => undefined); // no addon: dgram rows only
  const dgram = await udpRun(false);
  const main = batched ?? dgram;
  report({
    package: 'wireguard',
    name: 'wireguard/udp-loopback/1420B/Mbit-per-s',
    value: main.mbit,
    unit: `Mbit/s one way (two devices, one process; ${batched ? "tap-io's batched socket" : 'node:dgram'})`,
    higherIsBetter: true,
    baseline: { name: 'node:dgram path, same run', value: dgram.mbit },
  });
  report({
    package: 'wireguard',
    name: 'wireguard/udp-loopback/1B-rtt-us',
    value: main.rtt,
    unit: 'µs round trip',
    higherIsBetter: false,
    baseline: { name: 'node:dgram path, same run', value: dgram.rtt },
  });
}

// ---- root: wireguard-go ↔ wireguard-go (comparison) and tapstack ↔ wireguard-go
const why =
  process.env.TAPSTACK_BENCH_WG_ROOT === '0'
    ? 'TAPSTACK_BENCH_WG_ROOT=0'
    : skipReason(['wireguard-go', 'wg', 'iperf3']);
if (why) {
  console.log(`wireguard-go comparisons skipped: ${why}`);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'tapstack-wgbench-'));
  const tag = `${process.pid % 100000}`;
  const ns1 = createNamespace();
  const ns2 = createNamespace();
  const root1 = `wbr${tag}`;
  try {
    // ns1 <-> ns2 by a veth pair (underlay 203.0.113.1/.2); a veth from the host to ns1
    // (198.51.100.1/.2) for tapstack -> wireguard-go in ns1.
    execFileSync('ip', [
      'link',
      'add',
      `wbx${tag}`,
      'netns',
      ns1.name,
      'type',
      'veth',
      'peer',
      'name',
      `wby${tag}`,
      'netns',
      ns2.name,
    ]);
    ns1.run(['ip', 'addr', 'add', '203.0.113.1/24', 'dev', `wbx${tag}`]);
    ns2.run(['ip', 'addr', 'add', '203.0.113.2/24', 'dev', `wby${tag}`]);
    ns1.run(['ip', 'link', 'set', `wbx${tag}`, 'up']);
    ns2.run(['ip', 'link', 'set', `wby${tag}`, 'up']);
    execFileSync('ip', [
      'link',
      'add',
      root1,
      'type',
      'veth',
      'peer',
      'name',
      `wbn${tag}`,
      'netns',
      ns1.name,
    ]);
    execFileSync('ip', ['addr', 'add', '198.51.100.1/24', 'dev', root1]);
    execFileSync('ip', ['link', 'set', root1, 'up']);
    ns1.run(['ip', 'addr', 'add', '198.51.100.2/24', 'dev', `wbn${tag}`]);
    ns1.run(['ip', 'link', 'set', `wbn${tag}`, 'up']);
    const k1 = genkey();
    const k2 = genkey();
    const kt = genkey();
    writeFileSync(join(dir, 'k1'), k1, { mode: 0o600 });
    writeFileSync(join(dir, 'k2'), k2, { mode: 0o600 });
    const tun1 = `wg1${tag}`;
    const tun2 = `wg2${tag}`;
    ns1.spawn(['env', 'WG_PROCESS_FOREGROUND=1', 'wireguard-go', tun1]);
    ns2.spawn(['env', 'WG_PROCESS_FOREGROUND=1', 'wireguard-go', tun2]);
    const up = (ns: typeof ns1, t: string) =>
      waitFor(() => {
        try {
          ns.run(['wg', 'show', t]);
          return true;
        } catch {
          return false;
        }
      });
    await up(ns1, tun1);
    await up(ns2, tun2);
    ns1.run([
      'wg',
      'set',
      tun1,
      'listen-port',
      '51820',
      'private-key',
      join(dir, 'k1'),
      'peer',
      pubkey(k2),
      'allowed-ips',
      '192.0.2.2/32',
      'endpoint',
      '203.0.113.2:51820',
      'peer',
      pubkey(kt),
      'allowed-ips',
      '192.0.2.9/32',
    ]);
    ns2.run([
      'wg',
      'set',
      tun2,
      'listen-port',
      '51820',
      'private-key',
      join(dir, 'k2'),
      'peer',
      pubkey(k1),
      'allowed-ips',
      '192.0.2.1/32',
      'endpoint',
      '203.0.113.1:51820',
    ]);
    for (const [ns, t, a] of [
      [ns1, tun1, '192.0.2.1/24'],
      [ns2, tun2, '192.0.2.2/24'],
    ] as const) {
      ns.run(['ip', 'addr', 'add', a, 'dev', t]);
      ns.run(['ip', 'link', 'set', t, 'mtu', String(PKT), 'up']);
    }
    const server = ns2.spawn(['iperf3', '-s', '-B', '192.0.2.2', '-1']);
    await new Promise((r) => setTimeout(r, 300));
    const secs = quick ? 2 : 5;
    const ip = await ns1.exec(['iperf3', '-c', '192.0.2.2', '-t', String(secs), '-J'], { timeoutMs: 60_000 });
    const goGo = JSON.parse(ip.stdout).end.sum_received.bits_per_second / 1e6;
    if (server.pid && server.exitCode === null) {
      try {
        process.kill(server.pid, 'SIGKILL');
      } catch {
        // already exited (-1: one test)
      }
    }

    // tapstack device on the host, peer of wireguard-go in ns1: ICMP echo through it.
    const conf = parseConfig(
      `[Interface]\nPrivateKey = ${kt}\n[Peer]\nPublicKey = ${pubkey(k1)}\nAllowedIPs = 192.0.2.1/32\nEndpoint = 198.51.100.2:51820\n`,
    );
    const tsGoRun = async (native: boolean, aead?: AeadBackend) => {
      let replies = 0;
      const waiters: Array<() => void> = [];
      const node = await UdpWireGuard.open({
        config: conf,
        host: '198.51.100.1',
        native,
        aead,
        onPacket: (p) => {
          if (p[9] === 1 && p[20] === 0) replies++;
          for (const w of waiters.splice(0)) w();
        },
      });
      const wait = (f: () => boolean) =>
        new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no echo replies from wireguard-go')), 10_000);
          const check = () => {
            if (!f()) return void waiters.push(check);
            clearTimeout(t);
            resolve();
          };
          check();
        });
      const echo = (seq: number) => {
        const p = ipv4Packet('192.0.2.9', '192.0.2.1', new Uint8Array(PKT - 20), 1);
        p[20] = 8;
        p[26] = seq >> 8;
        p[27] = seq & 0xff;
        let s = 0;
        for (let i = 20; i < p.length; i += 2) s += ((p[i] as number) << 8) | (p[i + 1] as number);
        while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
        s = ~s & 0xffff;
        p[22] = s >> 8;
        p[23] = s & 0xff;
        let h = 0;
        for (let i = 0; i < 20; i += 2) h += ((p[i] as number) << 8) | (p[i + 1] as number);
        while (h > 0xffff) h = (h & 0xffff) + (h >>> 16);
        h = ~h & 0xffff;
        p[10] = h >> 8;
        p[11] = h & 0xff;
        return p;
      };
      node.send(echo(0));
      await wait(() => replies >= 1);
      const n = quick ? 2000 : 10000;
      const tsGo = await medianOfRounds(
        async () => {
          const start = replies;
          const t0 = performance.now();
          for (let sent = 0; sent < n; ) {
            for (let k = 0; k < 64 && sent < n; k++, sent++) node.send(echo(sent));
            await wait(() => replies - start >= sent - 8);
          }
          return ((replies - start) * PKT * 8) / 1e6 / ((performance.now() - t0) / 1000);
        },
        { warmup: 1, rounds: quick ? 2 : 3 },
      );
      node.close();
      return tsGo;
    };
    const tsGo = await tsGoRun(true).catch(() => undefined);
    const tsGoDgram = await tsGoRun(false);
    const tsGoNodeAead = await tsGoRun(true, 'node').catch(() => undefined);
    report({
      package: 'wireguard',
      name: 'wireguard/wireguard-go-pair/kernel-tcp/Mbit-per-s',
      value: goGo,
      unit: 'Mbit/s (iperf3 over two wireguard-go TUNs, MTU 1420)',
      higherIsBetter: true,
      baseline: null,
    });
    report({
      package: 'wireguard',
      name: 'wireguard/tapstack-to-wireguard-go/icmp-echo/Mbit-per-s',
      value: tsGo ?? tsGoDgram,
      unit: `Mbit/s each way (1420-byte echo through wireguard-go and back; ${tsGo === undefined ? 'node:dgram' : "tap-io's batched socket"})`,
      higherIsBetter: true,
      baseline: { name: 'wireguard-go ↔ wireguard-go kernel TCP', value: goGo },
    });
    if (tsGoNodeAead !== undefined)
      report({
        package: 'wireguard',
        name: 'wireguard/tapstack-to-wireguard-go/icmp-echo-node-aead/Mbit-per-s',
        value: tsGoNodeAead,
        unit: "Mbit/s each way (as above, batched socket, node:crypto's AEAD)",
        higherIsBetter: true,
        baseline: { name: 'OpenSSL batched AEAD (default), same run', value: tsGo ?? tsGoDgram },
      });
    report({
      package: 'wireguard',
      name: 'wireguard/tapstack-to-wireguard-go/icmp-echo-dgram/Mbit-per-s',
      value: tsGoDgram,
      unit: 'Mbit/s each way (as above, UdpWireGuard on node:dgram)',
      higherIsBetter: true,
      baseline: { name: 'wireguard-go ↔ wireguard-go kernel TCP', value: goGo },
    });
  } finally {
    ns1.delete();
    ns2.delete();
    deleteLinkIfPresent(root1);
    rmSync(dir, { recursive: true, force: true });
  }
}
