import { genkey, parseConfig, pubkey, UdpWireGuard } from '@tapstack/wireguard';

// Two WireGuard peers on loopback, each configured by standard wg config text
// (from a file: parseConfig(readFileSync('wg0.conf', 'utf8'))).
const [keyA, keyB] = [genkey(), genkey()];
const config = (key: string, peerKey: string, allowed: string, endpoint = '') =>
  parseConfig(
    `[Interface]\nPrivateKey = ${key}\n[Peer]\nPublicKey = ${pubkey(peerKey)}\nAllowedIPs = ${allowed}\n${endpoint}`,
  );

let delivered!: (text: string) => void;
const got = new Promise<string>((resolve) => (delivered = resolve));
// B has no Endpoint for A: it learns it from A's authenticated handshake.
const b = await UdpWireGuard.open({
  config: config(keyB, keyA, '10.0.0.1/32'),
  host: '127.0.0.1',
  onPacket: (ip, from) =>
    delivered(`B got ${ip.length} bytes from ${ip.slice(12, 16).join('.')} (peer ${from.slice(0, 8)}…)`),
});
const a = await UdpWireGuard.open({
  config: config(keyA, keyB, '10.0.0.2/32', `Endpoint = 127.0.0.1:${b.port}`),
  host: '127.0.0.1',
  onPacket: () => {},
});

// An IPv4 packet (a bare header, UDP, no payload) from 10.0.0.1 to 10.0.0.2, as a stack
// would hand it over; it is routed to the peer whose AllowedIPs hold its destination.
a.send(
  new Uint8Array([
    0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 7, 0, 7, 0, 8, 0, 0,
  ]),
);
console.log(await got); // the first packet waits for the handshake, then goes
const [peer] = a.device.peers(); // endpoint, latest handshake, rx/tx bytes, like `wg show`
console.log(`A's peer ${peer?.endpoint?.address}:${peer?.endpoint?.port}: sent ${peer?.txBytes} bytes`);
a.close();
b.close();
