import http from 'node:http';
import { createNet } from '@tapstack/socket-bridge';
import { StackDriver } from '@tapstack/stack-driver';
import { MemorySwitch } from '@tapstack/tap-io';
import { WebSocketLink } from '@tapstack/ws-link';
import { WebSocketLinkServer } from '@tapstack/ws-link/server';
import { WebSocket } from 'ws';

// The server side, as `tapstackd --websocket` builds it: a switch, a stack on it that
// serves HTTP, and a WebSocket endpoint that makes each connection a port on the switch.
const sw = new MemorySwitch();
const addresses = ['198.51.100.1/24', '2001:db8:77::1/64'];
const server = await StackDriver.create({
  links: [{ link: sw.createPort({ name: 'srv', mac: '02:00:00:00:00:01' }), addresses }],
});
const page = http.createServer((req, res) => res.end(`hello ${req.socket.remoteAddress}\n`));
createNet(server.sockets)
  .createServer((s) => page.emit('connection', s))
  .listen(80);
const wss = await WebSocketLinkServer.listen({ createPort: (o) => sw.createPort(o), addresses });

// The client: a Node stack whose link is a WebSocket (a page uses @tapstack/browser).
const link = await WebSocketLink.connect(wss.url(), { WebSocket });
const driver = await StackDriver.create({ links: [{ link, addresses: link.hello.addresses }] });
console.log(`joined as ${link.hello.addresses.join(', ')}`);
const net = createNet(driver.sockets);
for (const host of link.hello.server) {
  const body = await new Promise<string>((resolve, reject) =>
    http
      .get({ host, path: '/', createConnection: net.createConnection as never }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d)).on('end', () => resolve(text));
      })
      .on('error', reject),
  );
  console.log(`${host}: ${body.trim()}`);
}

await Promise.all([driver.close(), wss.close(), server.close()]);
