import { StackDriver } from '@tapstack/stack-driver';
import { openTap } from '@tapstack/tap-io';

// As root, the kernel's side of a TAP device first (in a network namespace of your own):
//   ip tuntap add dev tap0 mode tap && ip addr add 192.0.2.1/24 dev tap0
//   ip addr add 2001:db8::1/64 dev tap0 nodad && ip link set tap0 up
// Then this stack, 192.0.2.2 and 2001:db8::2 on the same device, pings the kernel.
const driver = await StackDriver.create({
  links: [{ link: openTap({ name: 'tap0' }), addresses: ['192.0.2.2/24', '2001:db8::2/64'] }],
});
for (const to of ['192.0.2.1', '2001:db8::1']) {
  const r = await driver.ping(to); // { rttMs, ttl, from }
  console.log(`ping ${to}: the kernel answered from ${r.from}, ttl ${r.ttl}`);
}
await driver.close();
