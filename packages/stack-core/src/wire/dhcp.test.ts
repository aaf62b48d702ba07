import { describe, expect, it } from 'vitest';
import {
  DhcpMessageType,
  DhcpOption,
  dhcpReadAddrs as readAddrs,
  encodeDhcp,
  maskToPrefix,
  parseDhcpMessage,
} from './dhcp.js';
import { Ipv4Address } from './ip-address.js';

describe('DHCP messages (RFC 2131 §2, RFC 2132)', () => {
  const mac = Uint8Array.of(2, 0, 0, 0, 0, 9);
  const chaddr = new Uint8Array(16);
  chaddr.set(mac);

  it('encodes the BOOTP header, magic cookie and options, padded to 300 bytes', () => {
    const b = encodeDhcp({
      op: 1,
      xid: 0xdeadbeef,
      secs: 3,
      broadcast: true,
      ciaddr: Ipv4Address.UNSPECIFIED,
      yiaddr: Ipv4Address.UNSPECIFIED,
      siaddr: Ipv4Address.UNSPECIFIED,
      giaddr: Ipv4Address.UNSPECIFIED,
      chaddr,
      options: new Map([[DhcpOption.MessageType, Uint8Array.of(DhcpMessageType.Discover)]]),
    });
    expect(b.length).toBe(300);
    expect([...b.subarray(0, 12)]).toEqual([1, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef, 0, 3, 0x80, 0]);
    expect([...b.subarray(28, 34)]).toEqual([...mac]);
    expect([...b.subarray(236, 240)]).toEqual([99, 130, 83, 99]);
    expect([...b.subarray(240, 244)]).toEqual([53, 1, 1, 255]);
  });

  it('round-trips a reply with addresses and concatenates repeated options (RFC 3396)', () => {
    const b = encodeDhcp({
      op: 2,
      xid: 5,
      secs: 0,
      broadcast: false,
      ciaddr: Ipv4Address.UNSPECIFIED,
      yiaddr: Ipv4Address.parse('192.0.2.50'),
      siaddr: Ipv4Address.parse('192.0.2.1'),
      giaddr: Ipv4Address.UNSPECIFIED,
      chaddr,
      options: new Map([
        [DhcpOption.MessageType, Uint8Array.of(DhcpMessageType.Offer)],
        [DhcpOption.DnsServers, Uint8Array.of(192, 0, 2, 1)],
      ]),
    });
    // Append a second DNS option after the first (overwrite the END marker).
    const end = b.indexOf(255, 240);
    const more = new Uint8Array(b.length + 6);
    more.set(b);
    more.set([6, 4, 198, 51, 100, 53, 255], end);
    const m = parseDhcpMessage(more);
    if (typeof m === 'string') throw new Error(m);
    expect(m.op).toBe(2);
    expect(m.yiaddr.toString()).toBe('192.0.2.50');
    expect(m.siaddr.toString()).toBe('192.0.2.1');
    expect(readAddrs(m.options.get(DhcpOption.DnsServers)).map(String)).toEqual([
      '192.0.2.1',
      '198.51.100.53',
    ]);
  });

  it('returns errors for short messages, a missing cookie and options past the end', () => {
    expect(parseDhcpMessage(new Uint8Array(200))).toBe('truncated');
    expect(parseDhcpMessage(new Uint8Array(300))).toBe('malformed');
    const b = new Uint8Array(243);
    b.set([99, 130, 83, 99], 236);
    b.set([51, 4, 0], 240);
    expect(parseDhcpMessage(b)).toBe('malformed');
  });

  it('turns netmasks into prefix lengths and refuses masks with holes', () => {
    expect(maskToPrefix(0xffffff00)).toBe(24);
    expect(maskToPrefix(0)).toBe(0);
    expect(maskToPrefix(0xffffffff)).toBe(32);
    expect(maskToPrefix(0xff00ff00)).toBeUndefined();
  });
});
