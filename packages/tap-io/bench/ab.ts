/**
 * Same-process A/B of the VXLAN native receive path between two checkouts (a change's
 * before and after): both checkouts' tap-io are loaded side by side, a sender/receiver pair
 * of each is opened, and rounds alternate A, B / B, A; medians of received frames/s (wall)
 * and frames per CPU-second. On a shared machine the wall rate swings; the CPU figure is the
 * one to read, and running it once with A and B swapped shows the position bias (the first
 * pair opened tends to do better; passing one checkout twice measures it).
 *
 *   node --conditions=development --import tsx bench/ab.ts <repoA> <repoB> [rounds=8]
 */
import { cpuUsage } from 'node:process';

type TapIo = typeof import('../src/index.js');

const [repoA, repoB, roundsArg] = process.argv.slice(2);
if (!repoA || !repoB) throw new Error('usage: bench/ab.ts <repoA> <repoB> [rounds]');
const rounds = Number(roundsArg ?? 8);
const ROUND_MS = 400;
const mods: Record<'A' | 'B', TapIo> = {
  A: await import(`${repoA}/packages/tap-io/src/index.ts`),
  B: await import(`${repoB}/packages/tap-io/src/index.ts`),
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function pair(m: TapIo, mtu: number, rxMode: 'loop' | 'thread') {
  const o = { address: '127.0.0.1', port: 0, mtu, native: true, rxMode, learn: true } as const;
  const a = await m.openVxlan({ ...o, mac: '02:00:00:00:00:01' });
  const b = await m.openVxlan({ ...o, mac: '02:00:00:00:00:02' });
  a.addPeer({ address: '127.0.0.1', port: b.address().port });
  const box = { got: 0 };
  b.onFrames((fs) => {
    box.got += fs.length;
  });
  return { a, b, box };
}

for (const rxMode of ['loop', 'thread'] as const) {
  for (const mtu of [1450, 65485]) {
    const burst = mtu > 9000 ? 16 : 64;
    const f = new Uint8Array(mtu + 14);
    f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    const links = { A: await pair(mods.A, mtu, rxMode), B: await pair(mods.B, mtu, rxMode) };
    const res = {
      A: { wall: [] as number[], cpu: [] as number[] },
      B: { wall: [] as number[], cpu: [] as number[] },
    };
    for (let r = 0; r <= rounds; r++) {
      for (const k of r % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
        const { a, box } = links[k];
        const start = box.got;
        const c0 = cpuUsage();
        const t0 = performance.now();
        while (performance.now() < t0 + ROUND_MS) {
          for (let i = 0; i < burst; i++) a.send(f);
          await new Promise((done) => setImmediate(done));
        }
        await new Promise((done) => setTimeout(done, 20));
        const got = box.got - start;
        const c = cpuUsage(c0);
        if (r === 0) continue; // warm-up
        res[k].wall.push(got / ((performance.now() - t0) / 1000));
        res[k].cpu.push(got / ((c.user + c.system) / 1e6));
      }
    }
    for (const k of ['A', 'B'] as const) {
      await links[k].a.close();
      await links[k].b.close();
    }
    const k = (x: number) => `${(x / 1000).toFixed(1)}k`;
    const [wa, wb, ca, cb] = [median(res.A.wall), median(res.B.wall), median(res.A.cpu), median(res.B.cpu)];
    console.log(
      `vxlan native ${rxMode} mtu ${mtu}: frames/s A ${k(wa)} B ${k(wb)} (B/A ${(wb / wa).toFixed(3)}); ` +
        `frames per CPU-s A ${k(ca)} B ${k(cb)} (B/A ${(cb / ca).toFixed(3)})`,
    );
  }
}
// The pairs are closed; nothing else keeps the process alive.
