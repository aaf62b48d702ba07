/**
 * TAP interop with the Linux kernel as the peer, in a namespace this test creates and
 * deletes. Runs when root with /dev/net/tun (CI); skipped with a message otherwise.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameRing } from '@tapstack/frame-ring';
import { afterAll, describe, expect, it } from 'vitest';
import { type Link, LinkError, openTap, tapAvailable, withPcap } from '../src/index.js';
import { frame, hasCommand, ip4, mac, Responder, rootSkipReason, sh, until } from './helpers.js';
import { Netns, rxPackets } from './netns.js';

const skip = rootSkipReason();
if (skip) console.warn(`tap-io TAP tests skipped: ${skip}`);

const tag = `${process.pid % 100000}`;
const dir = mkdtempSync(join(tmpdir(), 'tapio-tap-'));
const fixtures: Netns[] = [];
const links: Link[] = [];
afterAll(async () => {
  for (const l of links.splice(0)) await l.close().catch(() => {});
  for (const n of fixtures.splice(0)) n.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function fixture(name: string): Netns {
  const n = new Netns(name);
  fixtures.push(n);
  return n;
}

/** Answers ARP + ICMP echo for `ip` on `link`. */
function respond(link: Link, ip: string): Responder {
  const r = new Responder(ip4(ip), link.mac);
  link.onFrames((fs) => {
    for (const f of fs) {
      const ans = r.answer(f);
      if (ans) link.send(ans);
    }
  });
  return r;
}

function noIpv6(name: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
  } catch {
    // IPv6 not built in: nothing to silence
  }
}

describe.skipIf(skip !== undefined)('TapLink (root)', () => {
  it('the kernel ARPs and pings an address behind the TAP; a pcap of it reads in tshark', async () => {
    expect(tapAvailable()).toBe(true);
    const name = `tstap${tag}`;
    const ns = fixture(`tsns${tag}`);
    const pcapPath = join(dir, 'tap.pcap');
    const tap = openTap({ name, mtu: 1400, mac: mac(0x22), deviceMac: mac(0x11) });
    const link = withPcap(tap, pcapPath);
    links.push(link);
    try {
      expect(tap.name).toBe(name);
      expect(tap.mtu).toBe(1400);
      expect([...tap.deviceMac]).toEqual([...mac(0x11)]);
      expect(sh('ip', ['link', 'show', name])).toContain('mtu 1400');
      ns.create();
      sh('ip', ['link', 'set', name, 'netns', ns.name]);
      ns.ip(['addr', 'add', '192.0.2.1/24', 'dev', name]);
      ns.ip(['link', 'set', name, 'up']);
      const r = respond(link, '192.0.2.2');
      const ping = await ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '192.0.2.2']);
      expect(ping.stdout).toContain('3 received');
      expect(ping.code).toBe(0);
      expect(r.arpReplies).toBeGreaterThanOrEqual(1);
      expect(r.echoReplies).toBe(3);
      // the kernel learned our MAC from the hand-written ARP reply
      expect(ns.ip(['neigh', 'show', 'dev', name])).toContain('02:00:00:00:00:22');
      const st = link.stats();
      expect(st.rxFrames).toBeGreaterThanOrEqual(4);
      expect(st.txFrames).toBe(r.arpReplies + 3);
      expect(st.rxBatches).toBeGreaterThan(0);
    } finally {
      await link.close();
      ns.cleanup();
    }
    if (!hasCommand('tshark')) {
      console.warn('tshark not installed: pcap read check skipped');
      return;
    }
    const out = spawnSync('tshark', ['-r', pcapPath, '-Y', 'icmp', '-T', 'fields', '-e', 'icmp.type'], {
      encoding: 'utf8',
    });
    expect(out.status).toBe(0);
    const types = out.stdout.trim().split('\n');
    expect(types.filter((t) => t === '8')).toHaveLength(3);
    expect(types.filter((t) => t === '0')).toHaveLength(3);
    expect(out.stderr.split('\n').filter((l) => l.trim() && !l.includes('Running as user'))).toEqual([]);
  });

  it("rxMode 'loop' (no reader thread): the kernel pings through it", async () => {
    const name = `tslp${tag}`;
    const ns = fixture(`tslpns${tag}`);
    const tap = openTap({ name, rxMode: 'loop' });
    links.push(tap);
    try {
      expect(tap.rxMode).toBe('loop');
      ns.create();
      sh('ip', ['link', 'set', name, 'netns', ns.name]);
      ns.ip(['addr', 'add', '203.0.113.1/24', 'dev', name]);
      ns.ip(['link', 'set', name, 'up']);
      const r = respond(tap, '203.0.113.2');
      const ping = await ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '203.0.113.2']);
      expect(ping.stdout).toContain('3 received');
      expect(r.echoReplies).toBe(3);
      expect(tap.stats().rxWakeups).toBeGreaterThan(0);
    } finally {
      await tap.close();
      ns.cleanup();
    }
  });

  for (const rxMode of ['thread', 'loop'] as const) {
    it(`rxMode '${rxMode}': a deleted device is down, with the read's errno`, async () => {
      const name = `tsdl${rxMode[0]}${tag}`;
      const tap = openTap({ name, rxMode });
      links.push(tap);
      try {
        tap.onFrames(() => {}); // starts the reader
        expect(tap.stats().down).toBe(0);
        sh('ip', ['link', 'del', name]);
        // Nothing is sent: the reader alone must notice.
        await until(() => tap.stats().down === 1, 5000, 'down');
        const st = tap.stats();
        expect(st.rxLastErrno).toBeGreaterThan(0);
        expect(st.rxErrors).toBeGreaterThan(0);
      } finally {
        await tap.close();
      }
    });
  }

  it('the reader thread writes into an attached frame ring and wakes a waitAsync consumer', async () => {
    const name = `tsrx${tag}`;
    const tap = openTap({ name });
    links.push(tap);
    noIpv6(name);
    const { loadNative } = await import('../src/native.js');
    const native = loadNative();
    const ring = FrameRing.create({ capacity: 1 << 20, maxFrameSize: 2048 });
    let readable = 0;
    tap.attachRxRing(ring, () => readable++);
    expect(() => tap.onFrames(() => {})).not.toThrow(); // handlers are ignored once a ring is attached
    const src = mac(0x33);
    const sent = frame(mac(0x44), src, 200, 0x88b5, 0x5a);
    let got = 0;
    let bad = 0;
    const stop = { v: false };
    const consumer = (async () => {
      while (!stop.v) {
        ring.drain(1024, (f) => {
          if (f[12] === 0x88 && f[13] === 0xb5) {
            if (f.length !== 200 || f[100] !== 0x5a || f[6] !== 2 || f[11] !== 0x33) bad++;
            got++;
          }
        });
        await ring.waitAsync(50);
      }
    })();
    try {
      const blaster = native.blastStart(name, sent);
      await new Promise((r) => setTimeout(r, 200));
      const b = native.blastStop(blaster);
      expect(b.sent).toBeGreaterThan(100);
      await until(() => tap.stats().rxFrames + tap.stats().rxDropped >= got && got > 100, 3000, 'frames');
      await new Promise((r) => setTimeout(r, 50));
      stop.v = true;
      await consumer;
      ring.drain(1 << 20, (f) => {
        if (f[12] === 0x88 && f[13] === 0xb5) got++;
      });
      const st = tap.stats();
      expect(bad).toBe(0);
      // every frame the reader put in the ring was drained (kernel noise aside)
      expect(ring.stats().pushed).toBe(st.rxFrames);
      expect(got).toBeLessThanOrEqual(st.rxFrames);
      expect(got).toBeGreaterThan(st.rxFrames - 50);
      // at most one wake per consumer sleep, far fewer than frames
      expect(readable).toBeGreaterThan(0);
      expect(readable).toBeLessThan(got);
    } finally {
      stop.v = true;
      await tap.close();
    }
  });

  it('onFrames gets every frame the reader thread read, in batches', async () => {
    const name = `tsof${tag}`;
    const tap = openTap({ name, ringBytes: 1 << 22 });
    links.push(tap);
    noIpv6(name);
    const native = (await import('../src/native.js')).loadNative();
    let frames = 0;
    let batches = 0;
    let ok = 0;
    tap.onFrames((fs) => {
      batches++;
      frames += fs.length;
      for (const f of fs) if (f.length === 128 && f[12] === 0x88 && f[13] === 0xb5 && f[127] === 0x77) ok++;
    });
    try {
      const b = native.blastStart(name, frame(mac(0x44), mac(0x33), 128, 0x88b5, 0x77));
      await new Promise((r) => setTimeout(r, 150));
      const { sent } = native.blastStop(b);
      await until(() => frames === tap.stats().rxFrames && frames > 100, 3000, 'delivery');
      expect(ok).toBeGreaterThan(100);
      expect(ok).toBeLessThanOrEqual(frames);
      // Every frame the reader read was handed over, or dropped at a full ring and counted
      // (a consumer starved on a loaded machine falls behind the flood: 90,784 dropped at
      // load ~39 in a stress run) — never counted twice, never more than was sent.
      expect(frames + tap.stats().rxDropped).toBeLessThanOrEqual(sent);
      expect(frames / batches).toBeGreaterThan(1);
    } finally {
      await tap.close();
    }
  });

  it('wake coalescing: bursts reach a consumer that sleeps without a timeout; 0 turns it off', async () => {
    const native = (await import('../src/native.js')).loadNative();
    expect(() => openTap({ name: `tsbad${tag}`, rxCoalesceUs: -1 })).toThrow(/rxCoalesceUs/);
    expect(() => openTap({ name: `tsbad${tag}`, rxCoalesceUs: Number.NaN })).toThrow(LinkError);
    expect(() => openTap({ name: `tsbad${tag}`, rxCoalesceBusyUs: -1 })).toThrow(/rxCoalesceBusyUs/);
    for (const rxCoalesceUs of [0, 1_000_000]) {
      const name = `tsco${tag}`;
      // a huge budget: only the 256-frame cap or a 20 us quiet gap may end a held wake;
      // every batch counts as streaming (rxCoalesceBusyUs), so whether a wake is held does
      // not depend on how fast this machine schedules the reader (it was a wall-clock race)
      // Linux's own 1000-frame queue toward the reader, as when this test was written, not
      // tap-io's 16384 default: with a deep backlog a starved reader's batches reach the
      // 256-frame cap, which ends a hold at once, so the held-wake path can go unexercised
      // (seen once in a full run at high load: rxDeferredWakes 0; not reproduced alone).
      const tap = openTap({ name, rxCoalesceUs, rxCoalesceBusyUs: 1_000_000, txQueueLen: 1000 });
      noIpv6(name);
      let frames = 0;
      tap.onFrames((fs) => {
        frames += fs.length;
      });
      try {
        const kernelDrops = () =>
          Number(readFileSync(`/sys/class/net/${name}/statistics/tx_dropped`, 'utf8'));
        let sent = 0;
        for (let burst = 0; burst < 5; burst++) {
          // a burst (the consumer sleeps and wakes many times in it), then the link goes quiet
          const b = native.blastStart(name, frame(mac(0x44), mac(0x33), 100, 0x88b5, burst));
          await new Promise((r) => setTimeout(r, 10 * (burst + 1)));
          sent += native.blastStop(b).sent;
          // the pump sleeps with no timeout: only the reader's (possibly held) wake brings the tail
          try {
            await until(
              // Every frame the blaster sent is accounted for — handled, or dropped by the
              // kernel's queue or our full ring (a loaded machine's consumer falls behind a
              // flood; that is a counted drop, not a lost wakeup) — and everything the
              // reader put in the ring was handed to us: no wake held forever.
              () => frames + tap.stats().rxDropped >= sent - kernelDrops() && frames === tap.stats().rxFrames,
              5000,
              'burst tail',
            );
          } catch (e) {
            // Say where the frames are: a held wake never delivered (rxFrames > frames, the
            // pump asleep), frames lost on the way (rxDropped, the kernel's tx_dropped), or
            // the reader behind (rxFrames < sent - drops).
            const st = tap.stats();
            throw new Error(
              `${(e as Error).message}: coalesce ${rxCoalesceUs} burst ${burst} sent ${sent} kernelDrops ${kernelDrops()} handled ${frames} ${JSON.stringify(st)}`,
            );
          }
        }
        expect(sent).toBeGreaterThan(0);
        expect(frames).toBeGreaterThan(0);
        const st = tap.stats();
        expect(frames + st.rxDropped).toBeLessThanOrEqual(sent);
        // with coalescing, wakes were held in the bursts (the path the tail check covers)
        if (rxCoalesceUs === 0) expect(st.rxDeferredWakes).toBe(0);
        else expect(st.rxDeferredWakes).toBeGreaterThan(0);
        expect(st.rxWakeups).toBeLessThanOrEqual(frames);
      } finally {
        await tap.close();
      }
    }
  });

  it('sendBatch writes many frames with one native call; the kernel counts them', async () => {
    const name = `tstx${tag}`;
    const tap = openTap({ name });
    links.push(tap);
    noIpv6(name);
    try {
      const before = rxPackets(name);
      const frames = Array.from({ length: 500 }, (_, i) => frame(mac(0x66), tap.mac, 64 + i, 0x88b5));
      expect(tap.sendBatch(frames)).toBe(500);
      for (let i = 0; i < 300; i++) tap.send(frames[i]!);
      await Promise.resolve();
      await new Promise((r) => setImmediate(r));
      const st = tap.stats();
      expect(st.txFrames).toBe(800);
      expect(st.txErrors).toBe(0);
      expect(st.txCalls).toBeLessThanOrEqual(4);
      expect(rxPackets(name) - before).toBe(800);
      expect(tap.send(new Uint8Array(10))).toBe(false);
      expect(tap.stats().txDropped).toBe(1);
    } finally {
      await tap.close();
    }
    // a non-persistent TAP disappears with its fd
    expect(() => sh('ip', ['link', 'show', name])).toThrow();
  });

  it('attaches to an existing persistent TAP by name and leaves it in place at close', async () => {
    const name = `tsper${tag}`;
    const ns = fixture(`tsperns${tag}`);
    ns.ownRootLink(name); // deleted in cleanup whatever happens
    sh('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
    try {
      const tap = openTap({ name, mtu: 1280 });
      links.push(tap);
      expect(tap.name).toBe(name);
      const shown = sh('ip', ['link', 'show', name]);
      expect(shown).toContain('mtu 1280');
      expect(shown).toMatch(/[<,]UP[,>]/);
      await tap.close();
      expect(sh('ip', ['link', 'show', name])).toContain(name); // persistent: still there
    } finally {
      ns.cleanup();
    }
    expect(() => sh('ip', ['link', 'show', name])).toThrow();
  });

  it('errors carry codes: EBUSY for a name in use, EPERM without CAP_NET_ADMIN', () => {
    const name = `tsbz${tag}`;
    const tap = openTap({ name });
    links.push(tap);
    try {
      let err: unknown;
      try {
        openTap({ name }).close();
      } catch (e) {
        err = e;
      }
      expect(LinkError.isInstance(err)).toBe(true);
      expect((err as LinkError).code).toBe('EBUSY');
      expect((err as LinkError).message).toContain(name);
    } finally {
      void tap.close();
    }
    // an unprivileged child (uid nobody) cannot open the clone device
    const script = `import('${join(__dirname, '..', 'src', 'index.ts')}').then(({ openTap }) => { try { openTap({ name: 'tsperm${tag}' }); console.log('OPENED'); } catch (e) { console.log('CODE=' + e.code); } });`;
    const child = spawnSync(process.execPath, ['--conditions=development', '--import', 'tsx', '-e', script], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
      cwd: join(__dirname, '..'),
    });
    if (child.error || !child.stdout.includes('CODE=')) {
      console.warn(`EPERM check inconclusive: ${child.error ?? child.stderr.slice(0, 300)}`);
      expect(child.stdout).not.toContain('OPENED');
      return;
    }
    expect(child.stdout.trim()).toBe('CODE=EPERM');
  });

  it('ENOENT when /dev/net/tun is missing (a private mount namespace hides it)', () => {
    if (!hasCommand('unshare')) {
      console.warn('unshare not installed: ENOENT check skipped');
      return;
    }
    const script = `import('${join(__dirname, '..', 'src', 'index.ts')}').then(({ openTap }) => { try { openTap({ name: 'tsnoent${tag}' }); console.log('OPENED'); } catch (e) { console.log('CODE=' + e.code); } });`;
    const child = spawnSync(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount -t tmpfs none /dev/net && exec "$0" --conditions=development --import tsx -e "$1"`,
        process.execPath,
        script,
      ],
      { encoding: 'utf8', cwd: join(__dirname, '..') },
    );
    expect(child.stdout.trim()).toBe('CODE=ENOENT');
  });
});
