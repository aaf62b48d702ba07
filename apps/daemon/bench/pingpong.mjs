// 1-byte TCP ping-pong for the forward bench (plain JS: it starts fast inside `ip netns exec`).
//   node pingpong.mjs server HOST PORT   - echoes every byte back; prints "listening" when bound
//   node pingpong.mjs client HOST PORT N - N round trips of one byte; prints "warm" after the first
//     eighth (not counted), then {"p50":µs,"p99":µs}
import { createConnection, createServer } from 'node:net';

const [mode, host, portArg, nArg] = process.argv.slice(2);
const port = Number(portArg);
if (mode === 'server') {
  const server = createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
    s.on('error', () => {});
  });
  server.listen(port, host, () => console.log('listening'));
} else {
  const n = Number(nArg ?? 2000);
  const s = createConnection({ host, port, noDelay: true });
  const rtts = new Float64Array(n);
  const one = Buffer.from('x');
  let i = 0;
  let t0 = 0n;
  s.on('connect', () => {
    t0 = process.hrtime.bigint();
    s.write(one);
  });
  s.on('data', (d) => {
    // One byte out, one byte back: a chunk here is exactly that byte.
    for (let k = 0; k < d.length; k++) {
      rtts[i++] = Number(process.hrtime.bigint() - t0) / 1000;
      if (i === n >> 3) console.log('warm'); // the forwarder's CPU is counted from here
      if (i === n) {
        const sorted = Array.from(rtts.subarray(n >> 3)).sort((a, b) => a - b); // first eighth is warm-up
        const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
        console.log(JSON.stringify({ p50: at(0.5), p99: at(0.99) }));
        s.destroy();
        return;
      }
    }
    t0 = process.hrtime.bigint();
    s.write(one);
  });
  s.on('error', (e) => {
    console.error(e.message);
    process.exit(1);
  });
}
