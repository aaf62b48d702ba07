import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BridgeServer, bridgeConnect, createNet } from '@tapstack/socket-bridge';
import { StackDriver } from '@tapstack/stack-driver';
import { MemorySwitch } from '@tapstack/tap-io';

// Two stacks on an in-memory switch: A (192.0.2.1) and B (192.0.2.2).
const sw = new MemorySwitch();
const node = (n: number) =>
  StackDriver.create({
    links: [
      { link: sw.createPort({ name: `p${n}`, mac: `02:00:00:00:00:0${n}` }), addresses: [`192.0.2.${n}/24`] },
    ],
  });
const a = await node(1);
const b = await node(2);

// node:http serves on B's stack and fetches from A's: the stacks' `net` is a drop-in.
const server = http.createServer((req, res) =>
  res.end(`hello from B, you are ${req.socket.remoteAddress}\n`),
);
createNet(b.sockets)
  .createServer((s) => server.emit('connection', s))
  .listen(80);
const netA = createNet(a.sockets);
const body = await new Promise<string>((resolve, reject) => {
  const req = http.get(
    { host: '192.0.2.2', path: '/', createConnection: netA.createConnection as never },
    (res) => {
      let text = '';
      res.on('data', (d) => (text += d)).on('end', () => resolve(text));
    },
  );
  req.on('error', reject);
});
console.log(`http.get: ${body.trim()}`);

// The AF_UNIX bridge: any program (socat, another language) reaches B through A's stack.
const dir = mkdtempSync(join(tmpdir(), 'tapstack-example-')); // 0700, yours
const bridge = new BridgeServer(a.sockets, { path: join(dir, 'bridge.sock') });
await bridge.listen(); // now: printf 'TAPSTACK/1 CONNECT 192.0.2.2:80\n' | socat - UNIX-CONNECT:<dir>/bridge.sock
const s = await bridgeConnect({ path: join(dir, 'bridge.sock'), host: '192.0.2.2', port: 80 });
s.end('GET /bridge HTTP/1.0\r\n\r\n');
let reply = '';
for await (const d of s) reply += d;
console.log(`bridge: ${reply.split('\r\n')[0]} (${s.tapstack.local} -> ${s.tapstack.remote})`);

await bridge.close();
await Promise.all([a.close(), b.close()]);
rmSync(dir, { recursive: true });
