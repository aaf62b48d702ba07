/**
 * VXLAN interop with a Linux kernel vxlan device: a veth pair (root <-> namespace) is the
 * underlay on 198.51.100.0/24, the kernel's vxlan in the namespace has 192.0.2.1 and
 * points at our UDP socket; the kernel pings 192.0.2.2, which our responder answers.
 * Runs when root; everything is deleted afterwards, also on failure.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type Link, openVxlan } from '../src/index.js';
import { ip4, mac, Responder, rootSkipReason, sh } from './helpers.js';
import { Netns } from './netns.js';

const skip = rootSkipReason();
if (skip) console.warn(`tap-io kernel VXLAN test skipped: ${skip}`);

const tag = `${process.pid % 100000}`;
const ns = new Netns(`tsvx${tag}`);
const links: Link[] = [];
afterAll(async () => {
  for (const l of links.splice(0)) await l.close().catch(() => {});
  ns.cleanup();
});

describe.skipIf(skip !== undefined)('VxlanLink against a kernel vxlan device (root)', () => {
  it('the kernel pings through its vxlan device to our responder', async () => {
    const rootEnd = `tsvr${tag}`;
    const nsEnd = `tsvn${tag}`;
    try {
      ns.create();
      ns.ownRootLink(rootEnd);
      sh('ip', ['link', 'add', rootEnd, 'type', 'veth', 'peer', 'name', nsEnd, 'netns', ns.name]);
      sh('ip', ['addr', 'add', '198.51.100.1/24', 'dev', rootEnd]);
      sh('ip', ['link', 'set', rootEnd, 'up']);
      ns.ip(['addr', 'add', '198.51.100.2/24', 'dev', nsEnd]);
      ns.ip(['link', 'set', nsEnd, 'up']);
      const vx = await openVxlan({
        mac: mac(0x22),
        vni: 4242,
        address: '198.51.100.1',
        port: 0,
        mtu: 1450,
        // Checks learning against the kernel's hashed source ports (not the default).
        learn: true,
      });
      links.push(vx);
      const port = vx.address().port;
      vx.addPeer({ address: '198.51.100.2', port });
      // the kernel listens on and sends to `dstport`; its source port is a flow hash
      ns.ip([
        'link',
        'add',
        'vx0',
        'type',
        'vxlan',
        'id',
        '4242',
        'remote',
        '198.51.100.1',
        'local',
        '198.51.100.2',
        'dstport',
        String(port),
        'dev',
        nsEnd,
      ]);
      ns.ip(['addr', 'add', '192.0.2.1/24', 'dev', 'vx0']);
      ns.ip(['link', 'set', 'vx0', 'up']);
      const r = new Responder(ip4('192.0.2.2'), vx.mac);
      vx.onFrames((fs) => {
        for (const f of fs) {
          const ans = r.answer(f);
          if (ans) vx.send(ans);
        }
      });
      const ping = await ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '192.0.2.2']);
      expect(ping.stdout).toContain('3 received');
      expect(r.echoReplies).toBe(3);
      expect(r.arpReplies).toBeGreaterThanOrEqual(1);
      const st = vx.stats();
      expect(st.rxMalformed + st.rxBadFlags + st.rxWrongVni).toBe(0);
      // the kernel's MAC was learned and mapped to its configured endpoint, not its source port
      expect(st.learnedMacs).toBeGreaterThanOrEqual(1);
      expect(vx.peers()).toEqual([{ address: '198.51.100.2', port, learned: false }]);
      // a large ping is carried whole (1400-byte ICMP payload fits the 1450 MTU)
      const big = await ns.exec('ping', ['-c', '1', '-s', '1400', '-W', '2', '192.0.2.2']);
      expect(big.stdout).toContain('1 received');
    } finally {
      for (const l of links.splice(0)) await l.close();
      ns.cleanup();
    }
  });
});
