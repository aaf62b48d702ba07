import { StackDriver } from '@tapstack/stack-driver';
import { MemorySwitch } from '@tapstack/tap-io';

// Two stacks, each run by a driver, on an in-memory switch. On a real network the link is
// openTap({ name: 'tap0' }) (root), a VXLAN or a WireGuard link; the rest does not change
// (add gateway: '192.0.2.254', dhcp: true or slaac: true, and dns: { servers: [...] }).
const sw = new MemorySwitch();
const node = (n: number) =>
  StackDriver.create({
    links: [
      {
        link: sw.createPort({ name: `p${n}`, mac: `02:00:00:00:00:0${n}` }),
        addresses: [`192.0.2.${n}/24`, `2001:db8::${n}/64`],
      },
    ],
  });
const a = await node(1);
const b = await node(2);

for (const to of ['192.0.2.2', '2001:db8::2']) {
  const r = await a.ping(to); // ARP/NDP first, then the echo request
  console.log(`ping ${to}: reply from ${r.from}, ttl ${r.ttl}`);
}
const stats = a.stats(); // one flat snapshot: stack counters, driver.*, link.<name>.*
console.log(
  `a: ${stats['arp.entries']} ARP and ${stats['ndp.entries']} NDP entries, p1 sent ${stats['link.p1.txFrames']} frames`,
);
await Promise.all([a.close(), b.close()]);
