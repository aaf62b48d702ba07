/**
 * The VXLAN link's two datagram paths, case by case: the addon's (recvmmsg reader thread
 * into a ring, sendmmsg batches) and node:dgram. Loopback only (127.0.0.1 and ::1).
 */
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FrameRing } from '@tapstack/frame-ring';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { seededRandom } from '../src/index.js';
import { nativeVxlan, packageRoot } from '../src/native.js';
import { openVxlan, type VxlanLink, type VxlanOptions } from '../src/vxlan.js';
import { BROADCAST, frame, mac, sleep, until } from './helpers.js';

const addonBuilt =
  process.platform === 'linux' && existsSync(join(packageRoot(), 'build', 'Release', 'tapio.node'));
const backends = (addonBuilt ? ['native', 'native-loop', 'dgram'] : ['dgram']) as Array<
  'native' | 'native-loop' | 'dgram'
>;
if (!addonBuilt) console.warn('tap-io: addon not built, VXLAN native-path tests skipped');

const open: VxlanLink[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  for (const l of open.splice(0)) await l.close();
});

/** Threads of this process named like the VXLAN reader (tap.cc: "tapio-vxlan"). */
function readerThreads(): number {
  let n = 0;
  for (const t of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'tapio-vxlan') n++;
    } catch {
      // the thread exited meanwhile
    }
  }
  return n;
}

async function udp(type: 'udp4' | 'udp6' = 'udp4'): Promise<Socket> {
  const s = createSocket(type);
  sockets.push(s);
  await new Promise<void>((r) => s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', () => r()));
  return s;
}

describe('the native VXLAN path is the default when the addon is built', () => {
  it.skipIf(!addonBuilt)('opens natively by default, dgram when asked, and says which', async () => {
    expect(nativeVxlan(), 'addon built but without the VXLAN functions: a stale build?').toBeDefined();
    const before = readerThreads();
    const a = await openVxlan({ mac: mac(1), port: 0 });
    open.push(a);
    expect(a.backend).toBe('native');
    expect(a.rxMode).toBe('loop');
    expect(a.nativeReaderRunning()).toBe(true);
    expect(readerThreads()).toBe(before); // loop mode: no thread
    const t = await openVxlan({ mac: mac(5), port: 0, rxMode: 'thread' });
    open.push(t);
    expect(t.rxMode).toBe('thread');
    expect(t.nativeReaderRunning()).toBe(true);
    expect(readerThreads()).toBe(before + 1);
    const b = await openVxlan({ mac: mac(2), port: 0, native: false });
    open.push(b);
    expect(b.backend).toBe('dgram');
    expect(b.nativeReaderRunning()).toBe(false);
    const saved = process.env.TAPIO_VXLAN_NATIVE;
    const savedMode = process.env.TAPIO_VXLAN_RXMODE;
    process.env.TAPIO_VXLAN_NATIVE = '0';
    process.env.TAPIO_VXLAN_RXMODE = 'thread';
    try {
      const c = await openVxlan({ mac: mac(3), port: 0 });
      open.push(c);
      expect(c.backend).toBe('dgram');
      const d = await openVxlan({ mac: mac(4), port: 0, native: true });
      open.push(d);
      expect(d.backend).toBe('native');
      expect(d.rxMode).toBe('thread');
    } finally {
      if (saved === undefined) delete process.env.TAPIO_VXLAN_NATIVE;
      else process.env.TAPIO_VXLAN_NATIVE = saved;
      if (savedMode === undefined) delete process.env.TAPIO_VXLAN_RXMODE;
      else process.env.TAPIO_VXLAN_RXMODE = savedMode;
    }
    expect(readerThreads()).toBe(before + 2);
    await t.close();
    expect(t.nativeReaderRunning()).toBe(false);
    expect(readerThreads()).toBe(before + 1); // d's
    await a.close();
    expect(a.nativeReaderRunning()).toBe(false);
  });

  it.skipIf(addonBuilt)('without the addon, native: true is ENOTSUP and the default is dgram', async () => {
    await expect(openVxlan({ mac: mac(1), port: 0, native: true })).rejects.toMatchObject({
      code: 'ENOTSUP',
    });
    const a = await openVxlan({ mac: mac(1), port: 0 });
    open.push(a);
    expect(a.backend).toBe('dgram');
  });
});

describe('without the addon (another platform)', () => {
  it('falls back to node:dgram, and native: true is ENOTSUP', async () => {
    const realPlatform = process.platform;
    vi.resetModules();
    Object.defineProperty(process, 'platform', { value: 'darwin' });
    try {
      const mod = await import('../src/index.js');
      await expect(mod.openVxlan({ mac: mac(1), port: 0, native: true })).rejects.toMatchObject({
        code: 'ENOTSUP',
      });
      const a = await mod.openVxlan({ mac: mac(1), port: 0, learn: true });
      const b = await mod.openVxlan({
        mac: mac(2),
        port: 0,
        peers: [{ address: '127.0.0.1', port: a.address().port }],
      });
      open.push(a, b);
      expect(a.backend).toBe('dgram');
      const got: Uint8Array[] = [];
      a.onFrames((fs) => {
        for (const f of fs) got.push(f.slice());
      });
      b.send(frame(BROADCAST, mac(2), 100, 0x88b5, 3));
      await until(() => got.length === 1);
      expect(got[0]![99]).toBe(3);
    } finally {
      Object.defineProperty(process, 'platform', { value: realPlatform });
      vi.resetModules();
    }
  });
});

describe.each(backends)('VxlanLink, %s path', (backend) => {
  async function node(m: number, extra: Partial<VxlanOptions> = {}): Promise<VxlanLink> {
    const l = await openVxlan({
      name: `vx${m}`,
      mac: mac(m),
      vni: 42,
      address: '127.0.0.1',
      port: 0,
      native: backend !== 'dgram',
      rxMode: backend === 'native-loop' ? 'loop' : 'thread',
      // These tests exercise learning; accepting only configured peers is the default.
      learn: true,
      ...extra,
    });
    open.push(l);
    expect(l.backend).toBe(backend === 'dgram' ? 'dgram' : 'native');
    if (backend === 'native-loop') expect(l.rxMode).toBe('loop');
    if (backend !== 'dgram') expect(l.nativeReaderRunning()).toBe(true);
    return l;
  }

  function collect(l: VxlanLink): Uint8Array[] {
    const got: Uint8Array[] = [];
    l.onFrames((fs) => {
      for (const f of fs) got.push(f.slice());
    });
    return got;
  }

  /** Frames of sizes from 14 to mtu + 14 (both ends included), random contents. */
  function mixed(count: number, mtu: number, dst: Uint8Array, src: Uint8Array, seed: number): Uint8Array[] {
    const rnd = seededRandom(seed);
    const out: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const len =
        i === 0
          ? mtu + 14
          : i === 1
            ? 14
            : i % 3 === 0
              ? 14 + Math.floor(rnd() * 200)
              : 14 + Math.floor(rnd() * (mtu + 1));
      const f = new Uint8Array(len);
      for (let k = 14; k < len; k++) f[k] = (rnd() * 256) | 0;
      f.set(dst, 0);
      f.set(src, 6);
      out.push(f);
    }
    return out;
  }

  /** Sends in small bursts (so no socket buffer overflows) and checks every byte, in order. */
  async function exchange(
    from: VxlanLink,
    to: Uint8Array[],
    frames: Uint8Array[],
    burst: number,
  ): Promise<void> {
    const start = to.length;
    for (let i = 0; i < frames.length; i += burst) {
      const chunk = frames.slice(i, i + burst);
      if (i % (2 * burst) === 0) expect(from.sendBatch(chunk)).toBe(chunk.length);
      else for (const f of chunk) expect(from.send(f)).toBe(true);
      await until(
        () => to.length - start >= Math.min(i + burst, frames.length),
        5000,
        `frames up to ${i + burst}`,
      );
    }
    expect(to.length - start).toBe(frames.length);
    for (let i = 0; i < frames.length; i++) {
      const got = to[start + i]!;
      const want = frames[i]!;
      expect(got.length, `frame ${i}`).toBe(want.length);
      expect(Buffer.compare(Buffer.from(got), Buffer.from(want)), `frame ${i} bytes`).toBe(0);
    }
  }

  for (const mtu of [1450, 65485]) {
    it(`carries many frames of mixed sizes up to MTU ${mtu} both ways, byte for byte`, async () => {
      const a = await node(1, { mtu });
      const b = await node(2, { mtu, peers: [{ address: '127.0.0.1', port: a.address().port }] });
      const ga = collect(a);
      const gb = collect(b);
      const count = mtu > 9000 ? 120 : 600;
      const burst = mtu > 9000 ? 8 : 64;
      await exchange(b, ga, mixed(count, mtu, mac(1), mac(2), 7), burst); // b -> a (a learns b)
      await exchange(a, gb, mixed(count, mtu, mac(2), mac(1), 8), burst); // a -> b, unicast
      expect(a.stats().txFlooded).toBe(0);
      expect(a.stats().rxFrames).toBe(count);
      expect(b.stats().rxFrames).toBe(count);
      expect(a.stats().rxDropped + b.stats().rxDropped).toBe(0);
      expect(a.stats().socketErrors + b.stats().socketErrors).toBe(0);
      // oversize is refused at send
      expect(a.send(new Uint8Array(mtu + 19))).toBe(false);
    });
  }

  it('counts malformed, bad-flag and wrong-VNI datagrams (garbage from node:dgram) and keeps working', async () => {
    const a = await node(1);
    const ga = collect(a);
    const port = a.address().port;
    const s = await udp();
    const send = (b: Uint8Array) => new Promise<void>((r) => s.send(b, port, '127.0.0.1', () => r()));
    const want = { malformed: 0, badFlags: 0, wrongVni: 0, good: 0 };
    const classify = (d: Uint8Array) => {
      if (d.length < 22) want.malformed++;
      else if ((d[0]! & 8) === 0) want.badFlags++;
      else if (((d[4]! << 16) | (d[5]! << 8) | d[6]!) !== 42) want.wrongVni++;
      else want.good++;
    };
    const fixed = [
      new Uint8Array(0),
      new Uint8Array([8]),
      new Uint8Array([8, 0, 0, 0, 0, 0, 42, 0]),
      new Uint8Array([8, 0, 0, 0, 0, 0, 42, 0, ...new Uint8Array(13)]), // one byte short
      new Uint8Array([0, 0, 0, 0, 0, 0, 42, 0, ...frame(mac(1), mac(9))]),
      new Uint8Array([8, 0, 0, 0, 0, 0, 43, 0, ...frame(mac(1), mac(9))]),
      new Uint8Array([8, 0, 0, 0, 1, 0, 42, 0, ...frame(mac(1), mac(9))]),
    ];
    const rnd = seededRandom(99);
    const randomOnes: Uint8Array[] = [];
    for (let i = 0; i < 400; i++) {
      const d = new Uint8Array(Math.floor(rnd() * (i % 10 === 0 ? 9000 : 40)));
      for (let k = 0; k < d.length; k++) d[k] = (rnd() * 256) | 0;
      if (i % 4 === 0 && d.length >= 8) d.set([8, 0, 0, 0, 0, 0, 42, 0], 0); // valid header, junk frame
      randomOnes.push(d);
    }
    for (const d of [...fixed, ...randomOnes]) {
      classify(d);
      await send(d);
    }
    const good = frame(mac(1), mac(7), 100, 0x88b5, 5);
    await send(new Uint8Array([8, 0, 0, 0, 0, 0, 42, 0, ...good]));
    want.good++;
    await until(() => {
      const st = a.stats();
      return st.rxMalformed + st.rxBadFlags + st.rxWrongVni + st.rxFrames === 408;
    });
    const st = a.stats();
    expect(st.rxMalformed).toBe(want.malformed);
    expect(st.rxBadFlags).toBe(want.badFlags);
    expect(st.rxWrongVni).toBe(want.wrongVni);
    expect(st.rxFrames).toBe(want.good);
    expect(st.rxDropped).toBe(want.malformed + want.badFlags + want.wrongVni);
    expect(ga.length).toBe(want.good);
    expect([...ga.at(-1)!]).toEqual([...good]);
    // the good datagram's sender was learned
    expect(a.peers().some((p) => p.address === '127.0.0.1' && p.port === s.address().port)).toBe(true);
  });

  it('learns MAC -> endpoint, relearns a moved MAC, floods unknown and broadcast to every endpoint', async () => {
    const hub = await node(1);
    const p2 = await node(2, { peers: [{ address: '127.0.0.1', port: hub.address().port }] });
    const p3 = await node(3, { peers: [{ address: '127.0.0.1', port: hub.address().port }] });
    const g2 = collect(p2);
    const g3 = collect(p3);
    const gh = collect(hub);
    expect(hub.send(frame(BROADCAST, mac(1)))).toBe(false); // nobody known yet
    p2.send(frame(BROADCAST, mac(2)));
    p3.send(frame(BROADCAST, mac(3)));
    await until(() => gh.length === 2);
    expect(hub.stats().learnedMacs).toBe(2);
    expect(
      hub
        .peers()
        .map((p) => p.port)
        .sort(),
    ).toEqual([p2.address().port, p3.address().port].sort());
    expect(hub.peers().every((p) => p.learned)).toBe(true);
    hub.send(frame(BROADCAST, mac(1), 70, 0x88b5, 1)); // both
    hub.send(frame(mac(99), mac(1), 70, 0x88b5, 2)); // unknown: both
    await until(() => g2.length === 2 && g3.length === 2);
    expect(hub.stats().txFlooded).toBe(2);
    hub.send(frame(mac(3), mac(1), 70, 0x88b5, 3)); // known: p3 only
    await until(() => g3.length === 3);
    // mac(3) moves behind p2: the hub relearns and unicasts there
    p2.send(frame(mac(1), mac(3), 70, 0x88b5, 4));
    await until(() => gh.length === 3);
    hub.send(frame(mac(3), mac(1), 70, 0x88b5, 5));
    await until(() => g2.length === 3);
    await sleep(20);
    expect(g3.length).toBe(3);
    expect(g2[2]![40]).toBe(5);
    expect(hub.stats().txFlooded).toBe(2);
    // a static peer's frames are answered on its configured port
    expect(p2.peers()).toEqual([{ address: '127.0.0.1', port: hub.address().port, learned: false }]);
  });

  it('by default accepts frames only from configured peers; strangers are counted and dropped', async () => {
    const a = await openVxlan({
      name: 'vxdef',
      mac: mac(1),
      vni: 42,
      address: '127.0.0.1',
      port: 0,
      native: backend !== 'dgram',
      rxMode: backend === 'native-loop' ? 'loop' : 'thread',
    });
    open.push(a);
    const peer = await node(2);
    const stranger = await node(3);
    a.addPeer({ address: '127.0.0.2', port: peer.address().port });
    const got = collect(a);
    stranger.addPeer({ address: '127.0.0.1', port: a.address().port });
    stranger.send(frame(mac(1), mac(3)));
    await until(() => a.stats().rxUnknownPeer === 1);
    expect(got).toHaveLength(0);
    expect(a.stats().rxDropped).toBe(1);
    // The configured peer (127.0.0.2 as the sender address) gets through.
    const fromPeer = await openVxlan({
      name: 'vxpeer',
      mac: mac(4),
      vni: 42,
      address: '127.0.0.2',
      port: 0,
      native: backend !== 'dgram',
      rxMode: backend === 'native-loop' ? 'loop' : 'thread',
      peers: [{ address: '127.0.0.1', port: a.address().port }],
    });
    open.push(fromPeer);
    a.addPeer({ address: '127.0.0.2', port: fromPeer.address().port });
    fromPeer.send(frame(mac(1), mac(4)));
    await until(() => got.length === 1);
    expect(a.stats().rxUnknownPeer).toBe(1);
    expect(a.peers().every((p) => !p.learned)).toBe(true);
  });

  it('learn: false floods everything to static peers', async () => {
    const a = await node(1);
    const b = await node(2, { learn: false, peers: [{ address: '127.0.0.1', port: a.address().port }] });
    const ga = collect(a);
    const gb = collect(b);
    a.addPeer({ address: '127.0.0.1', port: b.address().port });
    a.send(frame(mac(2), mac(1)));
    await until(() => gb.length === 1);
    b.send(frame(mac(1), mac(2)));
    await until(() => ga.length === 1);
    expect(b.stats().learnedMacs).toBe(0);
    expect(b.stats().txFlooded).toBe(1);
  });

  it('works over IPv6 loopback (::1)', async () => {
    const a = await node(1, { address: '::1' });
    const b = await node(2, { address: '::1', peers: [{ address: '::1', port: a.address().port }] });
    expect(a.address().address).toBe('::1');
    const ga = collect(a);
    const gb = collect(b);
    const frames = mixed(50, Math.min(a.mtu, 9000), mac(1), mac(2), 3);
    await exchange(b, ga, frames, 10);
    expect(a.peers()).toEqual([{ address: '::1', port: b.address().port, learned: true }]);
    await exchange(a, gb, mixed(50, 9000, mac(2), mac(1), 4), 10);
    expect(a.stats().txFlooded).toBe(0);
  });

  it('hands frames to a ring given with attachRxRing', async () => {
    const a = await node(1);
    const b = await node(2, { peers: [{ address: '127.0.0.1', port: a.address().port }] });
    const ring = FrameRing.create({ capacity: 1 << 20, maxFrameSize: 65535 });
    let readable = 0;
    a.attachRxRing(ring, () => {
      readable++;
    });
    const sent = mixed(40, 9000, mac(1), mac(2), 5);
    for (const f of sent) b.send(f);
    const got: Uint8Array[] = [];
    await until(() => {
      ring.drain(1000, (f) => got.push(f.slice()));
      return got.length >= 40;
    });
    expect(readable).toBeGreaterThan(0);
    for (let i = 0; i < 40; i++) expect(Buffer.compare(Buffer.from(got[i]!), Buffer.from(sent[i]!))).toBe(0);
  });

  it('close() while traffic flows: no crash, reader gone, late sends refused', async () => {
    const a = await node(1);
    const b = await node(2, { peers: [{ address: '127.0.0.1', port: a.address().port }] });
    const c = await node(3, { peers: [{ address: '127.0.0.1', port: a.address().port }] });
    let got = 0;
    a.onFrames((fs) => {
      got += fs.length;
    });
    const raw = await udp();
    const port = a.address().port;
    const f = frame(mac(1), mac(2), 1400);
    const dgram = new Uint8Array([8, 0, 0, 0, 0, 0, 42, 0, ...f]);
    let running = true;
    const flood = (async () => {
      while (running) {
        for (let i = 0; i < 32; i++) {
          b.send(f);
          c.send(f);
          raw.send(dgram, port, '127.0.0.1');
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    await until(() => got > 200);
    const threads = backend === 'native' ? readerThreads() : 0;
    await a.close(); // while b, c and raw keep sending
    expect(a.nativeReaderRunning()).toBe(false);
    if (backend === 'native') expect(readerThreads()).toBe(threads - 1);
    const after = got;
    await sleep(30);
    expect(got).toBe(after); // no delivery after close
    expect(a.send(frame(mac(2), mac(1)))).toBe(false);
    expect(a.stats().rxFrames).toBeGreaterThan(200);
    // b closes with frames staged
    b.send(f);
    await b.close();
    running = false;
    await flood;
    await c.close();
    await a.close(); // twice is fine
  });

  it('reports a bind failure with a code', async () => {
    const a = await node(1);
    await expect(
      openVxlan({ mac: mac(2), address: '127.0.0.1', port: a.address().port, native: backend !== 'dgram' }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe.skipIf(!addonBuilt)('native path options', () => {
  it('rejects a bad rxMode, ringBytes or MAC with EINVAL and leaves the port free', async () => {
    const probe = await udp();
    const port = probe.address().port;
    probe.close();
    sockets.splice(sockets.indexOf(probe), 1);
    const base = { address: '127.0.0.1', port, native: true } as const;
    await expect(openVxlan({ ...base, mac: mac(1), rxMode: 'poll' as 'loop' })).rejects.toMatchObject({
      code: 'EINVAL',
    });
    await expect(openVxlan({ ...base, mac: mac(1), ringBytes: 1000 })).rejects.toMatchObject({
      code: 'EINVAL',
    });
    await expect(openVxlan({ ...base, mac: '02:00' })).rejects.toMatchObject({ code: 'EINVAL' });
    const ok = await openVxlan({ ...base, mac: mac(1) });
    open.push(ok);
    expect(ok.address().port).toBe(port);
  });
});
