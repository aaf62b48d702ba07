import { parseIpAddress, Stack } from '@tapstack/stack-core';
import siphash24 from 'siphash24';

// Two stacks joined by an array of frames in flight: [to, bytes].
const wire: [0 | 1, Uint8Array][] = [];
const random = (b: Uint8Array) => void crypto.getRandomValues(b);
// ISNs, port offsets and SYN cookies: a keyed PRF from a library (SipHash-2-4, as Linux).
const keyedPrf = (m: Uint8Array, key: Uint8Array, out: Uint8Array) => void siphash24(m, key, out);
const a = new Stack({ random, keyedPrf });
const b = new Stack({ random, keyedPrf });
const mac = (n: number) => new Uint8Array([2, 0, 0, 0, 0, n]);
// transmit's view is only valid during the call: copy it.
const ia = a.addInterface({ name: 'a0', mac: mac(1), mtu: 1500, transmit: (f) => wire.push([1, f.slice()]) });
const ib = b.addInterface({ name: 'b0', mac: mac(2), mtu: 1500, transmit: (f) => wire.push([0, f.slice()]) });
a.addAddress(ia, '192.0.2.1/24');
b.addAddress(ib, '192.0.2.2/24');

const rx = b.udpOpen();
b.udpBind(rx, undefined, 7);
const tx = a.udpOpen();
a.udpSend(tx, new TextEncoder().encode('hi'), parseIpAddress('192.0.2.2'), 7); // ARP first, then the datagram

// The stacks never read a clock: the caller passes `now` (ms) and carries the frames.
for (let now = 0; now < 100; now++) {
  a.poll(now);
  b.poll(now);
  for (const [to, frame] of wire.splice(0)) (to === 0 ? a : b).receive(to === 0 ? ia : ib, frame, now);
}
const got = b.udpRecv(rx);
console.log(`B got "${new TextDecoder().decode(got?.data)}" from ${got?.address}:${got?.port}`);
