import { BrowserStack } from '@tapstack/browser';

// The daemon: tapstackd --websocket 127.0.0.1:8765 --serve-http 80 --serve-echo 7
const stack = await BrowserStack.connect('ws://127.0.0.1:8765/');
console.log('my addresses', stack.addresses); // from the server's hello: 198.51.100.2/24, 2001:db8:77::2/64

const res = await stack.fetch('http://[2001:db8:77::1]/');
console.log(res.status, res.text());

const c = await stack.connect({ host: '198.51.100.1', port: 7 });
await c.write('hello');
console.log(await c.read()); // Uint8Array, or null at the peer's FIN
c.end();
await stack.close();
