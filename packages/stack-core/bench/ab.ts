/// <reference types="node" />
/**
 * Same-process A/B of two checkouts of the repository, for changes whose effect is
 * below a loaded machine's run-to-run noise (the `pnpm bench` rows can swing 2-3x
 * between runs when other work shares the cores): both `Stack`s are loaded into one
 * process and their rounds alternate (ABAB..., then BABA...), so load drifts hit both
 * alike. Reports medians of wall-clock Gbit/s and of work per CPU-second.
 *
 *   node --conditions=development --import tsx bench/ab.ts <repoA> <repoB> [rounds]
 *
 * AB_ROWS=tcp-mtu9000 (comma-separated name parts) runs only those rows.
 *
 * Run both orders (swap the arguments): on the loaded 2-core machine the checkout in
 * second place measured ~1 % faster per CPU-second and 8–10 % faster wall-clock than the
 * same code in first place (mtu9000, 60 rounds each way), so one order alone can show a
 * difference that is only the position.
 *
 * Rows: stack-to-stack TCP bulk at MTU 1500 and 9000 (as `bench/ip.ts`), and 1514-byte
 * UDP frames through `receive()`. Each checkout needs its own `pnpm install`.
 */
import { sipHash24 } from '@tapstack/testkit/prf';

const [dirA, dirB, roundsArg] = process.argv.slice(2);
if (!dirA || !dirB) throw new Error('usage: bench/ab.ts <repoA> <repoB> [rounds]');
const rounds = Number(roundsArg ?? 20);

// biome-ignore lint/suspicious/noExplicitAny: modules loaded from two checkouts by path
type Mod = any;
interface Checkout {
  Stack: Mod;
  eth: Mod;
  ip: Mod;
  v4: Mod;
  udp: Mod;
}
async function load(dir: string): Promise<Checkout> {
  const src = `${dir}/packages/stack-core/src`;
  return {
    Stack: (await import(`${src}/stack.ts`)).Stack,
    eth: await import(`${src}/wire/ethernet.ts`),
    ip: await import(`${src}/wire/ip-address.ts`),
    v4: await import(`${src}/wire/ipv4.ts`),
    udp: await import(`${src}/wire/udp.ts`),
  };
}

/** One round: [wall value, value per CPU-second]. */
type Round = () => [number, number];

function tcpBulk(c: Checkout, mtu: number): Round {
  const pool: Uint8Array[] = [];
  const wire: { to: number; frame: Uint8Array }[] = [];
  const take = (f: Uint8Array) => {
    const b = pool.pop() ?? new Uint8Array(mtu + 14);
    b.set(f);
    return b.subarray(0, f.length);
  };
  const a = new c.Stack({ random: (b: Uint8Array) => b.fill(1), keyedPrf: sipHash24 });
  const b = new c.Stack({ random: (b: Uint8Array) => b.fill(2), keyedPrf: sipHash24 });
  const mac = (n: number) => new Uint8Array([2, 0, 0, 0, 0, n]);
  const ia = a.addInterface({
    name: 'a',
    mac: mac(10),
    mtu,
    transmit: (f: Uint8Array) => void wire.push({ to: 1, frame: take(f) }),
  });
  const ib = b.addInterface({
    name: 'b',
    mac: mac(11),
    mtu,
    transmit: (f: Uint8Array) => void wire.push({ to: 0, frame: take(f) }),
  });
  a.addAddress(ia, '192.0.2.1/24');
  b.addAddress(ib, '192.0.2.2/24');
  const l = b.tcpOpen({ recvBufferSize: 1 << 20 });
  b.tcpBind(l, undefined, 5001);
  b.tcpListen(l, 1);
  const cl = a.tcpOpen({ sendBufferSize: 1 << 20 });
  let now = 0;
  const pump = () => {
    for (const s of [a, b]) if (s.pollAt() <= now) s.poll(now);
    for (const { to, frame } of wire) {
      (to === 0 ? a : b).receive(to === 0 ? ia : ib, frame, now);
      pool.push(new Uint8Array(frame.buffer));
    }
    wire.length = 0;
  };
  a.tcpConnect(cl, c.ip.Ipv4Address.parse('192.0.2.2'), 5001, now);
  for (let k = 0; k < 20; k++) pump();
  const srv = b.tcpAccept(l);
  const chunk = new Uint8Array(256 * 1024).fill(7);
  const sink = new Uint8Array(256 * 1024);
  const bytes = 128 << 20;
  return () => {
    let got = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    while (got < bytes) {
      a.tcpSend(cl, chunk);
      pump();
      for (let n = b.tcpRecv(srv, sink); n > 0; n = b.tcpRecv(srv, sink)) got += n;
      now = performance.now() - t0 + now;
    }
    const cu = process.cpuUsage(c0);
    const bits = got * 8;
    return [bits / ((performance.now() - t0) / 1000) / 1e9, bits / ((cu.user + cu.system) / 1e6) / 1e9];
  };
}

function udpReceive(c: Checkout): Round {
  const mac = c.eth.parseMac('02:00:00:00:00:0b');
  const stack = new c.Stack({ random: (b: Uint8Array) => b.fill(7), keyedPrf: sipHash24 });
  const i = stack.addInterface({ name: 'eth0', mac, mtu: 1500, transmit: () => {} });
  stack.addAddress(i, '192.0.2.2/24');
  const h = stack.udpOpen({ recvQueueBytes: 1 << 24 });
  stack.udpBind(h, undefined, 9000);
  const payload = new Uint8Array(1472).map((_, k) => k & 0xff);
  const src = c.ip.Ipv4Address.parse('192.0.2.1');
  const dst = c.ip.Ipv4Address.parse('192.0.2.2');
  const frame = new Uint8Array(1514);
  c.eth.emitEthernetHeader(frame, 0, mac, c.eth.parseMac('02:00:00:00:00:0a'), 0x0800);
  c.v4.emitIpv4Header(frame, 14, src.value, dst.value, 17, 1480, 64, 1, 0x4000);
  c.udp.emitUdp(frame, 34, 40000, 9000, payload, src, dst);
  const frames = 300_000;
  return () => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let n = 0; n < frames; n++) {
      stack.receive(i, frame, 0);
      if ((n & 63) === 63) while (stack.udpRecv(h) !== undefined) {}
    }
    while (stack.udpRecv(h) !== undefined) {}
    const cu = process.cpuUsage(c0);
    return [frames / ((performance.now() - t0) / 1000) / 1e6, frames / ((cu.user + cu.system) / 1e6) / 1e6];
  };
}

const median = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1]!;
const A = await load(dirA);
const B = await load(dirB);
const rows: [string, string, (c: Checkout) => Round][] = [
  ['stack-to-stack/tcp-mtu1500', 'Gbit/s', (c) => tcpBulk(c, 1500)],
  ['stack-to-stack/tcp-mtu9000', 'Gbit/s', (c) => tcpBulk(c, 9000)],
  ['udp/1514B/rx', 'M frames/s', udpReceive],
];
// AB_ROWS=tcp-mtu9000,udp: only the rows whose name contains one of these.
const only = process.env.AB_ROWS?.split(',').filter(Boolean);
for (const [name, unit, make] of rows) {
  if (only && !only.some((o) => name.includes(o))) continue;
  const ra = make(A);
  const rb = make(B);
  ra();
  rb(); // warm-up
  const res = { A: [[], []] as number[][], B: [[], []] as number[][] };
  for (let i = 0; i < rounds; i++) {
    const order: ['A' | 'B', Round][] =
      i < rounds / 2
        ? [
            ['A', ra],
            ['B', rb],
          ]
        : [
            ['B', rb],
            ['A', ra],
          ];
    for (const [k, f] of order) {
      const [w, c] = f();
      res[k][0]!.push(w);
      res[k][1]!.push(c);
    }
  }
  const [wa, ca] = [median(res.A[0]!), median(res.A[1]!)];
  const [wb, cb] = [median(res.B[0]!), median(res.B[1]!)];
  console.log(
    `${name}: A ${wa.toFixed(2)} / B ${wb.toFixed(2)} ${unit} wall (B/A ${(wb / wa).toFixed(3)}); per CPU-second A ${ca.toFixed(2)} / B ${cb.toFixed(2)} (B/A ${(cb / ca).toFixed(3)})`,
  );
}

export {};
