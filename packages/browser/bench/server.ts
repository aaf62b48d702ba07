/**
 * The bench's server process: what `tapstackd --websocket --serve-echo 7` runs (a
 * WebSocketLinkServer whose segment holds a StackDriver stack with a TCP echo service),
 * plus a plain WebSocket echo server in the same process, the ceiling. Prints one JSON
 * line with both URLs; exits when stdin closes.
 */
import { createNet } from '@tapstack/socket-bridge';
import { StackDriver } from '@tapstack/stack-driver';
import { MemorySwitch } from '@tapstack/tap-io';
import { WebSocketLinkServer } from '@tapstack/ws-link/server';
import { WebSocketServer } from 'ws';

const mtu = Number(process.argv[2] ?? 9000);
const sw = new MemorySwitch();
const server = await WebSocketLinkServer.listen({
  createPort: (o) => sw.createPort(o),
  addresses: ['198.51.100.1/24', '2001:db8:77::1/64'],
  mtu,
});
const driver = await StackDriver.create({
  links: [
    {
      link: sw.createPort({ name: 'ws0', mac: '02:00:00:00:00:01', mtu }),
      addresses: ['198.51.100.1/24', '2001:db8:77::1/64'],
    },
  ],
});
const net = createNet(driver.sockets);
const echo = net.createServer({ allowHalfOpen: true }, (s) => {
  s.on('error', () => {}); // a client's reset ends its session
  s.pipe(s);
});
await new Promise<void>((r) => echo.listen({ port: 7 }, () => r()));

const plain = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
plain.on('connection', (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
await new Promise<void>((r) => plain.once('listening', () => r()));
const port = (plain.address() as { port: number }).port;
process.stdout.write(`${JSON.stringify({ link: server.url(), plain: `ws://127.0.0.1:${port}/` })}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  if (process.env.BENCH_SERVER_STATS)
    process.stderr.write(
      `${JSON.stringify({ ws: server.stats(), stack: Object.fromEntries(Object.entries(driver.stats()).filter(([k, v]) => v && /drop|retrans|rto|tlp|zero|queue|Dropped/i.test(k))) })}\n`,
    );
  for (const c of plain.clients) c.terminate();
  plain.close();
  await server.close();
  await driver.close();
  process.exit(0);
});
