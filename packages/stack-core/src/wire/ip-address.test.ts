import { describe, expect, it } from 'vitest';
import { Ipv4Address, Ipv6Address, parseCidr, parseIpAddress } from './ip-address.js';

describe('Ipv4Address', () => {
  it('parses and prints dotted quads', () => {
    const a = Ipv4Address.parse('192.0.2.1');
    expect(a.value).toBe(0xc0000201);
    expect(a.toString()).toBe('192.0.2.1');
  });
  it('rejects bad text with the input in the message', () => {
    expect(() => Ipv4Address.parse('192.0.2.256')).toThrow(/192\.0\.2\.256/);
    expect(() => Ipv4Address.parse('1.2.3')).toThrow(TypeError);
  });
});

describe('Ipv6Address', () => {
  it('round-trips RFC 5952 text', () => {
    for (const t of ['2001:db8::1', '::', '::1', 'fe80::1:2:3:4', '2001:db8:0:1:1:1:1:1', 'ff02::1:ff00:1']) {
      expect(Ipv6Address.parse(t).toString()).toBe(t);
    }
  });
  it('parses embedded IPv4 and compresses the longest zero run', () => {
    expect(Ipv6Address.parse('::ffff:192.0.2.1').toString()).toBe('::ffff:c000:201');
    expect(Ipv6Address.parse('2001:0db8:0:0:1:0:0:1').toString()).toBe('2001:db8::1:0:0:1');
  });
  it('rejects malformed text', () => {
    expect(() => Ipv6Address.parse('1::2::3')).toThrow(TypeError);
    expect(() => Ipv6Address.parse('12345::')).toThrow(TypeError);
  });
  it('parseCidr checks the prefix', () => {
    expect(parseCidr('2001:db8::/32').prefixLength).toBe(32);
    expect(() => parseCidr('192.0.2.0/33')).toThrow(/prefix/);
    expect(parseIpAddress('198.51.100.7').version).toBe(4);
  });
});
