import { Ipv4Address, Ipv6Address } from '@tapstack/stack-core';
import { describe, expect, it } from 'vitest';
import {
  Reply,
  encodeReply,
  encodeUdpDatagram,
  parseGreeting,
  parseRequest,
  parseUdpDatagram,
  parseUserPass,
  replyForCode,
} from './socks5-codec.js';

describe('SOCKS5 codec (RFC 1928 / RFC 1929)', () => {
  it('parses the greeting incrementally (section 3)', () => {
    const g = Uint8Array.from([5, 2, 0, 2]);
    expect(parseGreeting(g.subarray(0, 1))).toBeUndefined();
    expect(parseGreeting(g.subarray(0, 3))).toBeUndefined();
    expect(parseGreeting(g)).toEqual({ value: [0, 2], length: 4 });
    expect(parseGreeting(Uint8Array.from([4, 1, 0]))).toHaveProperty('error');
  });

  it('parses username/password (RFC 1929 section 2)', () => {
    const b = Uint8Array.from([1, 3, ...Buffer.from('bob'), 2, ...Buffer.from('pw')]);
    expect(parseUserPass(b.subarray(0, 5))).toBeUndefined();
    expect(parseUserPass(b)).toEqual({ value: { username: 'bob', password: 'pw' }, length: b.length });
  });

  it('parses CONNECT requests for each address type (section 4)', () => {
    const v4 = Uint8Array.from([5, 1, 0, 1, 192, 0, 2, 2, 0, 80]);
    expect(parseRequest(v4)).toMatchObject({ value: { command: 1, port: 80 }, length: 10 });
    const r4 = parseRequest(v4);
    if (!r4 || 'error' in r4 || r4.value.address.type !== 'ip') throw new Error('bad');
    expect(r4.value.address.address.toString()).toBe('192.0.2.2');
    const v6 = Uint8Array.from([5, 1, 0, 4, ...Ipv6Address.parse('2001:db8::2').bytes, 1, 187]);
    const r6 = parseRequest(v6);
    if (!r6 || 'error' in r6 || r6.value.address.type !== 'ip') throw new Error('bad');
    expect(r6.value.address.address.toString()).toBe('2001:db8::2');
    expect(r6.value.port).toBe(443);
    const dn = Uint8Array.from([5, 1, 0, 3, 8, ...Buffer.from('web.test'), 0x1f, 0x90]);
    expect(parseRequest(dn)).toEqual({
      value: { command: 1, address: { type: 'domain', name: 'web.test' }, port: 8080 },
      length: dn.length,
    });
    for (let i = 0; i < dn.length; i++) expect(parseRequest(dn.subarray(0, i))).toBeUndefined();
    expect(parseRequest(Uint8Array.from([5, 1, 0, 9, 0, 0]))).toHaveProperty('error');
  });

  it('encodes replies and UDP headers (sections 6 and 7)', () => {
    expect([...encodeReply(Reply.Succeeded, Ipv4Address.parse('192.0.2.1'), 49152)]).toEqual([
      5, 0, 0, 1, 192, 0, 2, 1, 0xc0, 0x00,
    ]);
    expect([...encodeReply(Reply.ConnectionRefused)]).toEqual([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    const u = encodeUdpDatagram(Ipv4Address.parse('198.51.100.7'), 53, Buffer.from('q'));
    expect([...u]).toEqual([0, 0, 0, 1, 198, 51, 100, 7, 0, 53, 113]);
    const d = parseUdpDatagram(u);
    expect(d?.frag).toBe(0);
    expect(d?.port).toBe(53);
    expect(Buffer.from(d!.data).toString()).toBe('q');
  });

  it('maps error codes to reply codes', () => {
    expect(replyForCode('ECONNREFUSED')).toBe(5);
    expect(replyForCode('ENOTFOUND')).toBe(4);
    expect(replyForCode('ECONNRESET')).toBe(1);
  });
});
