import { makePair } from '../test/harness.js';
import { cryptoRandom } from '../src/crypto.js';
const p = process.env.SEEDED
  ? makePair()
  : makePair({ aOpts: { random: cryptoRandom }, bOpts: { random: cryptoRandom } });
const N = Number(process.env.N ?? 300);
for (let r = 0; r < 2; r++) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    p.clock.advance(6000);
    p.a.connect(p.b.publicKey);
    p.net.flush();
    p.net.log.length = 0;
  }
  const c = process.cpuUsage(c0);
  console.log(`${((c.user + c.system) / N).toFixed(0)} us CPU per handshake`);
}
