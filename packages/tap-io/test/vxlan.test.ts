import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { type Link, openVxlan, type VxlanLink } from '../src/index.js';
import { nativeVxlan } from '../src/native.js';
import { defaultVxlanMtu, VXLAN_MAX_MTU } from '../src/vxlan.js';
import { BROADCAST, frame, mac, sleep, until } from './helpers.js';

const open: Link[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) await l.close();
});

async function node(
  m: number,
  peers: Array<{ address: string; port: number }> = [],
  vni = 42,
): Promise<VxlanLink> {
  // learn: these tests exercise learning (accepting only configured peers is the default).
  const l = await openVxlan({
    name: `vx${m}`,
    mac: mac(m),
    vni,
    address: '127.0.0.1',
    port: 0,
    peers,
    learn: true,
  });
  open.push(l);
  return l;
}

function collect(l: Link): Uint8Array[] {
  const got: Uint8Array[] = [];
  l.onFrames((fs) => {
    for (const f of fs) got.push(f.slice());
  });
  return got;
}

describe('VxlanLink over loopback', () => {
  it('two nodes form one LAN: flood to a static peer, learn, answer by unicast', async () => {
    const a = await node(1);
    const b = await node(2, [{ address: '127.0.0.1', port: a.address().port }]);
    const ga = collect(a);
    const gb = collect(b);
    // b knows a statically; a knows nobody yet and cannot flood
    expect(a.send(frame(BROADCAST, mac(1)))).toBe(false);
    expect(a.stats().txDropped).toBe(1);
    expect(b.send(frame(BROADCAST, mac(2), 80, 0x88b5, 9))).toBe(true);
    await until(() => ga.length === 1);
    expect(ga[0]!.length).toBe(80);
    expect(ga[0]![40]).toBe(9);
    // a learned mac(2) -> b's endpoint (its source port) and answers unicast
    expect(a.peers()).toEqual([{ address: '127.0.0.1', port: b.address().port, learned: true }]);
    expect(a.send(frame(mac(2), mac(1)))).toBe(true);
    await until(() => gb.length === 1);
    expect(a.stats().txFlooded).toBe(0);
    expect(b.stats().txFlooded).toBe(1);
    expect(a.stats().learnedMacs).toBe(1);
  });

  it('floods unknown destinations to every known peer, unicasts known ones', async () => {
    const hub = await node(1);
    const p2 = await node(2, [{ address: '127.0.0.1', port: hub.address().port }]);
    const p3 = await node(3, [{ address: '127.0.0.1', port: hub.address().port }]);
    const g2 = collect(p2);
    const g3 = collect(p3);
    const gh = collect(hub);
    p2.send(frame(BROADCAST, mac(2)));
    p3.send(frame(BROADCAST, mac(3)));
    await until(() => gh.length === 2);
    hub.send(frame(mac(99), mac(1))); // unknown: both
    await until(() => g2.length === 1 && g3.length === 1);
    hub.send(frame(mac(3), mac(1))); // known: p3 only
    await until(() => g3.length === 2);
    await sleep(20);
    expect(g2.length).toBe(1);
  });

  it('counts and drops short datagrams, wrong flags and a wrong VNI', async () => {
    const a = await node(1, [], 42);
    const ga = collect(a);
    const port = a.address().port;
    const s = createSocket('udp4');
    const send = (b: Uint8Array) => new Promise<void>((r) => s.send(b, port, '127.0.0.1', () => r()));
    const hdr = (flags: number, vni: number) => [flags, 0, 0, 0, vni >> 16, (vni >> 8) & 255, vni & 255, 0];
    const inner = frame(mac(1), mac(7));
    await send(new Uint8Array([8, 0, 0, 0]));
    await send(new Uint8Array([...hdr(8, 42), 1, 2, 3]));
    await send(new Uint8Array([...hdr(0, 42), ...inner]));
    await send(new Uint8Array([...hdr(8, 43), ...inner]));
    await send(new Uint8Array([...hdr(8, 42), ...inner])); // the only good one
    await until(() => ga.length === 1);
    s.close();
    const st = a.stats();
    expect(st.rxMalformed).toBe(2);
    expect(st.rxBadFlags).toBe(1);
    expect(st.rxWrongVni).toBe(1);
    expect(st.rxDropped).toBe(4);
    expect(st.rxFrames).toBe(1);
    expect([...ga[0]!]).toEqual([...inner]);
  });

  it('encodes RFC 7348 headers: I flag, 24-bit VNI, reserved zero', async () => {
    const rx = createSocket('udp4');
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    const got: Buffer[] = [];
    rx.on('message', (m) => got.push(m));
    const a = await node(1, [{ address: '127.0.0.1', port: rx.address().port }], 0xabcdef);
    a.send(frame(BROADCAST, mac(1), 60));
    await until(() => got.length === 1);
    rx.close();
    expect([...got[0]!.subarray(0, 8)]).toEqual([0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
    expect(got[0]!.length).toBe(68);
  });

  it('rejects an out-of-range VNI and reports a bind failure with a code', async () => {
    await expect(openVxlan({ mac: mac(1), vni: 1 << 24, port: 0 })).rejects.toMatchObject({ code: 'EINVAL' });
    const a = await node(1);
    await expect(
      openVxlan({ mac: mac(2), address: '127.0.0.1', port: a.address().port }),
    ).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });

  it('sends each frame as it is at the call: a burst from one reused buffer arrives intact', async () => {
    // The stack hands every frame in the same reused buffer, and the link reuses its
    // own datagram buffer: a send that left later (or shared a buffer) would corrupt these.
    const a = await node(1);
    const b = await node(2, [{ address: '127.0.0.1', port: a.address().port }]);
    const ga = collect(a);
    const reused = new Uint8Array(1000);
    for (let i = 0; i < 300; i++) {
      reused.set(frame(mac(1), mac(2), 1000, 0x88b5, i & 255));
      reused[20] = i >> 8;
      expect(b.send(reused.subarray(0, 100 + i))).toBe(true);
    }
    await until(() => ga.length === 300);
    for (const [i, f] of ga.entries()) {
      expect(f.length).toBe(100 + i);
      expect(f[20]).toBe(i >> 8);
      expect(f[21]).toBe(i & 255);
      expect(f[99 + i]).toBe(i & 255);
    }
  });

  it('defaults to the largest MTU on loopback, 1450 elsewhere, and carries such a frame whole', async () => {
    expect(VXLAN_MAX_MTU).toBe(65485);
    expect(defaultVxlanMtu('127.0.0.1')).toBe(65485);
    expect(defaultVxlanMtu('127.1.2.3')).toBe(65485);
    expect(defaultVxlanMtu('::1')).toBe(65485);
    expect(defaultVxlanMtu('0.0.0.0')).toBe(1450);
    expect(defaultVxlanMtu('192.0.2.1')).toBe(1450);
    expect(defaultVxlanMtu('2001:db8::1')).toBe(1450);
    const a = await node(1);
    const b = await node(2, [{ address: '127.0.0.1', port: a.address().port }]);
    expect(b.mtu).toBe(65485);
    const explicit = await openVxlan({ mac: mac(3), address: '127.0.0.1', port: 0, mtu: 1450 });
    open.push(explicit);
    expect(explicit.mtu).toBe(1450);
    const ga = collect(a);
    // mtu + 14: the largest untagged Ethernet frame, in one 65507-byte UDP payload
    expect(b.send(frame(mac(1), mac(2), 65485 + 14, 0x88b5, 7))).toBe(true);
    expect(b.send(frame(mac(1), mac(2), 65485 + 19))).toBe(false);
    await until(() => ga.length === 1);
    expect(ga[0]!.length).toBe(65499);
    expect(ga[0]![65498]).toBe(7);
    expect(b.stats().socketErrors).toBe(0);
  });
});

describe('VxlanLink learning under spoofed source MACs (issue 14)', () => {
  /** A VXLAN datagram (VNI 42) carrying a frame from MAC `src`. */
  function dgram(dst: Uint8Array, src: Uint8Array): Buffer {
    const f = frame(dst, src);
    const d = Buffer.alloc(8 + f.length);
    d[0] = 0x08;
    d.writeUIntBE(42, 4, 3);
    d.set(f, 8);
    return d;
  }
  function spoofed(i: number): Uint8Array {
    return Uint8Array.of(0x02, 0x99, (i >> 16) & 255, (i >> 8) & 255, i & 255, 1);
  }

  it('caps the MAC table and the flood set, counts refusals, ages entries out', async () => {
    let clock = 0;
    const a = await openVxlan({
      name: 'vxcap',
      mac: mac(1),
      vni: 42,
      address: '127.0.0.1',
      port: 0,
      learn: true,
      maxLearnedMacs: 200,
      maxLearnedEndpoints: 4,
      now: () => clock,
    });
    open.push(a);
    const got = collect(a);
    const port = a.address().port;
    // 1000 spoofed MACs from one endpoint, then 1 MAC from each of 10 more endpoints.
    const s0 = createSocket('udp4');
    await new Promise<void>((r) => s0.bind(0, '127.0.0.1', () => r()));
    for (let i = 0; i < 1000; i++) s0.send(dgram(mac(1), spoofed(i)), port, '127.0.0.1');
    await until(() => got.length === 1000, 5000);
    const more = [];
    for (let k = 0; k < 10; k++) {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
      s.send(dgram(mac(1), spoofed(5000 + k)), port, '127.0.0.1');
      more.push(s);
    }
    await until(() => got.length === 1010, 5000);
    let st = a.stats();
    // Every frame is delivered; the tables stay bounded.
    expect(got.length).toBe(1010);
    expect(st.learnedMacs).toBe(200);
    expect(st.peers).toBe(1);
    expect(st.learnRefused).toBe(810);
    // A broadcast goes to the bounded flood set only.
    a.send(frame(BROADCAST, mac(1)));
    expect(a.stats().txFlooded).toBe(1);
    // 300 s later (the default age) everything learned is forgotten, and room is back.
    clock = 301_000;
    s0.send(dgram(mac(1), spoofed(9999)), port, '127.0.0.1');
    await until(() => got.length === 1011, 5000);
    st = a.stats();
    expect(st.learnAged).toBe(200);
    expect(st.learnedMacs).toBe(1);
    // An aged destination is unknown again (flooded), a fresh one is unicast.
    expect(a.send(frame(spoofed(0), mac(1)))).toBe(true);
    expect(a.stats().txFlooded).toBe(2);
    expect(a.send(frame(spoofed(9999), mac(1)))).toBe(true);
    expect(a.stats().txFlooded).toBe(2);
    // Room in the MAC table, but at most 4 learned endpoints: 3 more of the 10 get in.
    for (const [k, s] of more.entries()) s.send(dgram(mac(1), spoofed(7000 + k)), port, '127.0.0.1');
    await until(() => got.length === 1021, 5000);
    st = a.stats();
    expect(st.peers).toBe(4);
    expect(st.learnedMacs).toBe(4);
    expect(st.learnRefused).toBe(817);
    s0.close();
    for (const s of more) s.close();
  });

  it.skipIf(nativeVxlan() === undefined)(
    'native path: an aged-out endpoint gives its addon id to the next one (the id table stays bounded)',
    async () => {
      let clock = 0;
      const a = await openVxlan({
        name: 'vxids',
        mac: mac(1),
        vni: 42,
        address: '127.0.0.1',
        port: 0,
        learn: true,
        native: true,
        now: () => clock,
      });
      open.push(a);
      const got = collect(a);
      const port = a.address().port;
      // 20 endpoints one after another, each learned, sent to, then aged out.
      for (let r = 0; r < 20; r++) {
        const s = createSocket('udp4');
        await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
        const rx: Buffer[] = [];
        s.on('message', (m) => rx.push(m));
        s.send(dgram(mac(1), spoofed(r)), port, '127.0.0.1');
        await until(() => got.length === r + 1, 5000);
        for (let k = 0; k < 3; k++) expect(a.send(frame(spoofed(r), mac(1)))).toBe(true);
        // The unicasts reach this endpoint, not an earlier holder of the reused id.
        await until(() => rx.length === 3, 5000);
        for (const d of rx) expect([...d.subarray(8, 14)]).toEqual([...spoofed(r)]);
        s.close();
        clock += 301_000;
      }
      const st = a.stats();
      expect(st.learnAged).toBe(19);
      expect(st.txFlooded).toBe(0);
      // Before: a slot per datagram (60); with ids kept but never reused, one per endpoint (20).
      expect(st.txEndpointIds).toBe(1);
    },
  );
});

describe('VxlanLink health (issue 14)', () => {
  const backends = nativeVxlan() ? [true, false] : [false];
  it.each(backends)(
    'native %s: down after sends in a row find no path (EINVAL), up again when one gets out',
    async (native) => {
      // Bound to loopback, the only peer outside it: the kernel refuses every datagram.
      const a = await openVxlan({
        name: 'vxdown',
        mac: mac(1),
        vni: 42,
        address: '127.0.0.1',
        port: 0,
        peers: [{ address: '192.0.2.9', port: 4789 }],
        native,
      });
      open.push(a);
      const flood = async () => {
        expect(a.send(frame(BROADCAST, mac(1)))).toBe(true);
        a.flush();
        await sleep(5);
      };
      await flood();
      await flood();
      await until(() => a.stats().socketErrors === 2, 5000);
      expect(a.stats().down).toBe(0);
      await flood();
      await until(() => a.stats().socketErrors === 3, 5000);
      expect(a.stats()).toMatchObject({ down: 1, txLastErrno: 22 });
      // A peer that can be reached: the next flood gets out to it.
      const live = createSocket('udp4');
      await new Promise<void>((r) => live.bind(0, '127.0.0.1', () => r()));
      a.addPeer({ address: '127.0.0.1', port: live.address().port });
      await flood();
      await until(() => a.stats().down === 0, 5000);
      live.close();
    },
  );
});
