import { WireGuardDevice, PrivateKey, parsePrefix } from '../src/index.js';
import { ipv4Packet } from '../test/harness.js';
const ka = PrivateKey.generate(),
  kb = PrivateKey.generate();
let a!: WireGuardDevice, b!: WireGuardDevice;
let got = 0;
const ea = { address: '127.0.0.1', port: 1 },
  eb = { address: '127.0.0.2', port: 2 };
a = new WireGuardDevice({ privateKey: ka.raw, bind: { send: (d) => b.receive(d, ea) }, onPacket: () => {} });
b = new WireGuardDevice({
  privateKey: kb.raw,
  bind: { send: (d) => a.receive(d, eb) },
  onPacket: () => {
    got++;
  },
});
a.addPeer({ publicKey: kb.publicKey, allowedIps: [parsePrefix('192.0.2.2/32')!], endpoint: eb });
b.addPeer({ publicKey: ka.publicKey, allowedIps: [parsePrefix('192.0.2.1/32')!], endpoint: ea });
const pkt = ipv4Packet('192.0.2.1', '192.0.2.2', new Uint8Array(1400));
a.send(pkt);
const N = Number(process.env.N ?? 100000);
for (let r = 0; r < 3; r++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const g0 = got;
  for (let i = 0; i < N; i++) a.send(pkt);
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1000;
  console.log(
    `${got - g0} pkts: cpu ${((cpu * 1000) / N).toFixed(2)} us/pkt (seal+open) = ${((N * 1420 * 8) / cpu / 1000).toFixed(0)} Mbit/s per cpu; wall ${(performance.now() - t0).toFixed(0)} ms`,
  );
}
