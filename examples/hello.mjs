// hello.mjs: fetch a page from the virtual network, through tapstackd's AF_UNIX bridge.
import { bridgeConnect } from '@tapstack/socket-bridge';

const [path, host, port] = process.argv.slice(2);
const socket = await bridgeConnect({ path, host, port: Number(port) }); // a net.Socket
socket.end(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`);
let reply = '';
for await (const chunk of socket) reply += chunk;
console.log(`${socket.tapstack.local} -> ${socket.tapstack.remote}: ${reply.split('\r\n')[0]}`);
console.log(reply.slice(reply.indexOf('\r\n\r\n') + 4).trim());
