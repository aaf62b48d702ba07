import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemorySwitch, withFaults, withPcap, withTracer } from '@tapstack/tap-io';

// Two ports of an in-memory switch. A's link drops 25 % of what it sends (seeded: the same
// frames every run) and traces what gets through; B's link writes a pcap (tshark reads it).
const sw = new MemorySwitch();
const trace: string[] = [];
const portA = sw.createPort({ name: 'a', mac: '02:00:00:00:00:01' });
const a = withFaults(
  withTracer(portA, (line) => trace.push(line)),
  { seed: 1, loss: 0.25 },
);
const dir = mkdtempSync(join(tmpdir(), 'tap-io-example-'));
const b = withPcap(sw.createPort({ name: 'b', mac: '02:00:00:00:00:02' }), join(dir, 'b.pcap'));

let received = 0;
b.onFrames((frames) => (received += frames.length)); // views, valid only during the call
const frame = new Uint8Array(60).fill(0xff); // broadcast, from ff:ff:…: any bytes will do
for (let i = 0; i < 20; i++) a.send(frame); // copied before send() returns
await new Promise(setImmediate); // the switch delivers on the next turn, in one batch

console.log(`b received ${received} of 20 frames; a lost ${a.faults().tx.lost}`);
console.log(`a's trace, first line: ${trace[0]}`);
await Promise.all([a.close(), b.close()]); // b's close flushes the pcap
console.log(`b.pcap: ${readFileSync(join(dir, 'b.pcap')).length} bytes`);
rmSync(dir, { recursive: true });
// On Linux the same Link comes from openTap({ name: 'tap0' }) or openTun(…) (with
// CAP_NET_ADMIN), or from openVxlan(…) (unprivileged); the wrappers work on any of them.
