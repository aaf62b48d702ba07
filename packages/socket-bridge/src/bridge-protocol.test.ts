import { Ipv4Address, Ipv6Address } from '@tapstack/stack-core';
import { describe, expect, it } from 'vitest';
import {
  DatagramDecoder,
  encodeDatagram,
  formatErr,
  formatOk,
  formatRequest,
  parseReply,
  parseRequest,
} from './bridge-protocol.js';

describe('bridge request lines', () => {
  it('parses CONNECT with IPv4, IPv6 in brackets and names', () => {
    expect(parseRequest('TAPSTACK/1 CONNECT 192.0.2.2:80')).toEqual({
      ok: true,
      request: { verb: 'CONNECT', host: '192.0.2.2', port: 80 },
    });
    expect(parseRequest('TAPSTACK/1 CONNECT [2001:db8::2]:443\r')).toEqual({
      ok: true,
      request: { verb: 'CONNECT', host: '2001:db8::2', port: 443 },
    });
    expect(parseRequest('TAPSTACK/1 connect web.test:8080')).toMatchObject({
      ok: true,
      request: { host: 'web.test' },
    });
  });

  it('parses LISTEN, ACCEPT and UDP', () => {
    expect(parseRequest('TAPSTACK/1 LISTEN 8080')).toEqual({
      ok: true,
      request: { verb: 'LISTEN', address: undefined, port: 8080, backlog: 128 },
    });
    expect(parseRequest('TAPSTACK/1 LISTEN 192.0.2.1:0 5')).toMatchObject({
      request: { address: '192.0.2.1', port: 0, backlog: 5 },
    });
    expect(parseRequest('TAPSTACK/1 ACCEPT 7')).toEqual({ ok: true, request: { verb: 'ACCEPT', id: 7 } });
    expect(parseRequest('TAPSTACK/1 UDP')).toMatchObject({ request: { verb: 'UDP', port: 0 } });
    expect(parseRequest('TAPSTACK/1 UDP 5353')).toMatchObject({ request: { verb: 'UDP', port: 5353 } });
  });

  it('rejects garbage with EPROTO and other versions with EPROTONOSUPPORT', () => {
    for (const bad of [
      '',
      'GET / HTTP/1.1',
      'TAPSTACK/1',
      'TAPSTACK/1 CONNECT 192.0.2.2',
      'TAPSTACK/1 CONNECT 192.0.2.2:99999',
      'TAPSTACK/1 CONNECT 192.0.2.2:0',
      'TAPSTACK/1 CONNECT 2001:db8::1:80',
      'TAPSTACK/1 LISTEN x',
      'TAPSTACK/1 LISTEN 80 0',
      'TAPSTACK/1 ACCEPT -1',
      'TAPSTACK/1 FLY 1',
    ]) {
      expect(parseRequest(bad), bad).toMatchObject({ ok: false, code: 'EPROTO' });
    }
    expect(parseRequest('TAPSTACK/2 CONNECT a:1')).toMatchObject({ ok: false, code: 'EPROTONOSUPPORT' });
  });

  it('round-trips requests through formatRequest', () => {
    for (const line of [
      'TAPSTACK/1 CONNECT [2001:db8::2]:443',
      'TAPSTACK/1 LISTEN 192.0.2.1:80 9',
      'TAPSTACK/1 ACCEPT 3',
      'TAPSTACK/1 UDP 53',
    ]) {
      const p = parseRequest(line);
      if (!p.ok) throw new Error(line);
      expect(formatRequest(p.request)).toBe(`${line}\n`);
    }
  });

  it('formats and parses replies', () => {
    expect(formatOk('192.0.2.1:49152', '192.0.2.2:80')).toBe('OK 192.0.2.1:49152 192.0.2.2:80\n');
    expect(parseReply('OK 1 0.0.0.0:80')).toEqual({ ok: true, fields: ['1', '0.0.0.0:80'] });
    expect(parseReply(formatErr('ECONNREFUSED', 'connection\nrefused').trimEnd())).toEqual({
      ok: false,
      code: 'ECONNREFUSED',
      message: 'connection refused',
    });
    expect(parseReply('HTTP/1.1 200 OK')).toBeUndefined();
  });
});

describe('bridge UDP framing', () => {
  it('encodes and decodes datagrams split at every byte boundary', () => {
    const a = encodeDatagram(Ipv4Address.parse('192.0.2.9'), 53, Buffer.from('hello'));
    const b = encodeDatagram(Ipv6Address.parse('2001:db8::9'), 5353, Buffer.alloc(0));
    const all = Buffer.concat([a, b]);
    expect(a.readUInt16BE(0)).toBe(1 + 4 + 2 + 5);
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new DatagramDecoder();
      const got = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      expect(got.map((g) => [g.address.toString(), g.port, g.payload.toString()])).toEqual([
        ['192.0.2.9', 53, 'hello'],
        ['2001:db8::9', 5353, ''],
      ]);
      expect(d.buffered).toBe(0);
    }
  });

  it('throws on a bad family', () => {
    const f = Buffer.from([0, 3, 9, 0, 0]);
    expect(() => new DatagramDecoder().push(f)).toThrow(RangeError);
  });
});
