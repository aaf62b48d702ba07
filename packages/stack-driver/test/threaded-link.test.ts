/**
 * Threaded mode's plumbing without a stack: a VXLAN link opened on the frame I/O worker
 * talks to a VXLAN link on this thread over loopback; frames cross both rings intact.
 */
import { openVxlan } from '@tapstack/tap-io';
import { describe, expect, it } from 'vitest';
import { ThreadedLink } from '../src/threaded-link.js';

function frame(dst: number[], src: number[], seq: number, size: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5; // local experimental ethertype
  for (let i = 14; i < size; i++) f[i] = (seq * 31 + i) & 0xff;
  f[14] = seq & 0xff;
  f[15] = seq >> 8;
  return f;
}

describe('ThreadedLink (frame I/O on a worker, two rings)', () => {
  it('carries frames both ways between the worker link and a peer', async () => {
    const macA = [2, 0, 0, 0, 0, 0xa];
    const macB = [2, 0, 0, 0, 0, 0xb];
    // learn: the peer has no static peers and answers whoever sends (the worker's ephemeral port).
    const peer = await openVxlan({
      name: 'peer',
      mac: Uint8Array.from(macB),
      port: 0,
      address: '127.0.0.1',
      learn: true,
    });
    const peerPort = peer.address().port;
    expect(peerPort).toBeGreaterThan(0);
    const threaded = await ThreadedLink.open({
      module: '@tapstack/tap-io',
      export: 'openVxlan',
      args: [
        {
          name: 'thr',
          mac: Uint8Array.from(macA),
          port: 0,
          address: '127.0.0.1',
          peers: [{ address: '127.0.0.1', port: peerPort }],
        },
      ],
    });
    try {
      expect([...threaded.mac]).toEqual(macA);
      const atPeer: Uint8Array[] = [];
      const atThreaded: Uint8Array[] = [];
      peer.onFrames((fs) => {
        for (const f of fs) atPeer.push(Uint8Array.from(f));
      });
      threaded.onFrames((fs) => {
        for (const f of fs) atThreaded.push(Uint8Array.from(f));
      });
      const N = 200;
      const sent: Uint8Array[] = [];
      for (let i = 0; i < N; i++) sent.push(frame(macB, macA, i, 60 + (i % 1400)));
      expect(threaded.sendBatch(sent)).toBe(N);
      const deadline = Date.now() + 10_000;
      while (atPeer.length < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(atPeer.length).toBe(N);
      for (let i = 0; i < N; i++) expect(atPeer[i]).toEqual(sent[i]);
      // The peer learned where macA lives; answer back.
      const back = [0, 1, 2].map((i) => frame(macA, macB, 1000 + i, 100));
      peer.sendBatch!(back);
      while (atThreaded.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(atThreaded).toEqual(back);
      const s = threaded.stats();
      expect(s['txRing.pushed']).toBe(N);
      expect(s['rxRing.drained']).toBe(3);
    } finally {
      await threaded.close();
      await peer.close();
    }
  });

  it('an IP-only link on the worker is IP-only on this side too (its medium crosses)', async () => {
    const t = await ThreadedLink.open({
      module: new URL('./fixtures/ip-link.ts', import.meta.url).href,
      export: 'openIpLink',
    });
    try {
      expect(t.medium).toBe('ip');
    } finally {
      await t.close();
    }
  });
});
