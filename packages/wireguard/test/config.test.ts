import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  encodeKey,
  formatConfig,
  formatPrefix,
  genkey,
  parseConfig,
  pubkey,
} from '../src/index.js';
import { seededRandom } from './harness.js';

const priv = genkey(seededRandom(1));
const peer1 = pubkey(genkey(seededRandom(2)));
const peer2 = pubkey(genkey(seededRandom(3)));
const psk = encodeKey(new Uint8Array(32).fill(5));

const text = `
# a comment
[Interface]
PrivateKey = ${priv}
ListenPort = 51820
Address = 192.0.2.1/24, 2001:db8::1/64
MTU = 1420
DNS = 192.0.2.53
PostUp = iptables -A FORWARD # wg-quick only, ignored

[Peer]
PublicKey = ${peer1}
PresharedKey = ${psk}
AllowedIPs = 192.0.2.2/32, 2001:db8::2/128
Endpoint = 203.0.113.2:51820
PersistentKeepalive = 25

[peer]
publickey = ${peer2}
allowedips = 198.51.100.0/24
endpoint = [2001:db8::9]:4000
`;

describe('wg config files', () => {
  it('parses every standard key and formats back to an equivalent file', () => {
    const c = parseConfig(text);
    expect(encodeKey(c.privateKey)).toBe(priv);
    expect(c.listenPort).toBe(51820);
    expect(c.addresses.map(formatPrefix)).toEqual(['192.0.2.1/24', '2001:db8::1/64']);
    expect(c.mtu).toBe(1420);
    expect(c.dns).toEqual(['192.0.2.53']);
    expect(c.peers).toHaveLength(2);
    expect(encodeKey(c.peers[0]?.presharedKey as Uint8Array)).toBe(psk);
    expect(c.peers[0]?.endpoint).toEqual({ host: '203.0.113.2', port: 51820 });
    expect(c.peers[0]?.persistentKeepalive).toBe(25);
    expect(c.peers[1]?.endpoint).toEqual({ host: '2001:db8::9', port: 4000 });
    expect(parseConfig(formatConfig(c))).toEqual(c);
  });

  const bad: [string, string, RegExp][] = [
    ['bad private key', `[Interface]\nPrivateKey = nope`, /line 2: PrivateKey/],
    ['missing private key', `[Interface]\nListenPort = 1`, /PrivateKey: missing/],
    [
      'bad public key',
      `[Interface]\nPrivateKey = ${priv}\n[Peer]\nPublicKey = ${priv.slice(1)}`,
      /line 4: PublicKey/,
    ],
    [
      'bad AllowedIPs',
      `[Interface]\nPrivateKey = ${priv}\n[Peer]\nPublicKey = ${peer1}\nAllowedIPs = 192.0.2.0/33`,
      /AllowedIPs: bad prefix/,
    ],
    [
      'the same prefix on two peers',
      `[Interface]\nPrivateKey = ${priv}\n[Peer]\nPublicKey = ${peer1}\nAllowedIPs = 192.0.2.0/24\n[Peer]\nPublicKey = ${peer2}\nAllowedIPs = 192.0.2.7/24`,
      /AllowedIPs: 192.0.2.0\/24 is also given to the \[Peer\] at line 3/,
    ],
    [
      'bad endpoint',
      `[Interface]\nPrivateKey = ${priv}\n[Peer]\nPublicKey = ${peer1}\nEndpoint = nohost`,
      /Endpoint/,
    ],
    ['bad port', `[Interface]\nPrivateKey = ${priv}\nListenPort = 70000`, /ListenPort: bad port/],
    ['unknown key', `[Interface]\nPrivateKey = ${priv}\nColour = blue`, /Colour: unknown key/],
    [
      'duplicate peer',
      `[Interface]\nPrivateKey = ${priv}\n[Peer]\nPublicKey = ${peer1}\n[Peer]\nPublicKey = ${peer1}`,
      /PublicKey: same peer/,
    ],
  ];
  for (const [name, t, re] of bad) {
    it(`rejects ${name} with an error naming the field`, () => {
      expect(() => parseConfig(t)).toThrow(ConfigError);
      expect(() => parseConfig(t)).toThrow(re);
    });
  }
});
