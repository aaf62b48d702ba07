import { describe, expect, it } from 'vitest';
import { type DnsMessage, DnsType, encodeDnsMessage, encodeDnsQuery, parseDnsMessage } from './dns.js';

/** Parses a message the test expects to be well formed. */
function parse(b: Uint8Array): DnsMessage {
  const m = parseDnsMessage(b);
  if (typeof m === 'string') throw new Error(`unexpected ${m}`);
  return m;
}

describe('DNS messages (RFC 1035 §4)', () => {
  it('returns an error for a header cut short', () => {
    expect(parseDnsMessage(new Uint8Array(11))).toBe('truncated');
  });

  it('encodes a query with RD set and one question (§4.1.1, §4.1.2)', () => {
    const q = encodeDnsQuery(0x1234, 'Example.COM.', DnsType.AAAA);
    expect([...q]).toEqual([
      0x12,
      0x34,
      0x01,
      0x00,
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      7,
      ...'example'.split('').map((c) => c.charCodeAt(0)),
      3,
      0x63,
      0x6f,
      0x6d,
      0,
      0,
      28,
      0,
      1,
    ]);
  });

  it('parses an answer that uses name compression (§4.1.4)', () => {
    // Header: id 0xbeef, QR|RD|RA, 1 question, 2 answers (CNAME then A).
    const name = [3, 0x77, 0x77, 0x77, 4, 0x74, 0x65, 0x73, 0x74, 0]; // www.test
    const bytes = Uint8Array.from([
      0xbe,
      0xef,
      0x81,
      0x80,
      0,
      1,
      0,
      2,
      0,
      0,
      0,
      0,
      ...name,
      0,
      1,
      0,
      1,
      // www.test CNAME web.test (pointer to "test" at offset 16)
      0xc0,
      12,
      0,
      5,
      0,
      1,
      0,
      0,
      0,
      60,
      0,
      6,
      3,
      0x77,
      0x65,
      0x62,
      0xc0,
      16,
      // web.test A 192.0.2.7 (name = "web" + pointer)
      3,
      0x77,
      0x65,
      0x62,
      0xc0,
      16,
      0,
      1,
      0,
      1,
      0,
      0,
      1,
      0,
      0,
      4,
      192,
      0,
      2,
      7,
    ]);
    const m = parse(bytes);
    expect(m.id).toBe(0xbeef);
    expect(m.response).toBe(true);
    expect(m.recursionAvailable).toBe(true);
    expect(m.questions).toEqual([{ name: 'www.test', type: 1, class: 1 }]);
    expect(m.answers[0]!.target).toBe('web.test');
    expect(m.answers[1]!.name).toBe('web.test');
    expect(m.answers[1]!.ttl).toBe(256);
    expect([...m.answers[1]!.data]).toEqual([192, 0, 2, 7]);
  });

  it('rejects a compression pointer loop instead of hanging', () => {
    const bytes = Uint8Array.from([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    expect(parseDnsMessage(bytes)).toBe('malformed');
  });

  it('rejects records that run past the end', () => {
    const full = encodeDnsMessage({
      id: 7,
      response: true,
      questions: [{ name: 'a.test', type: 1, class: 1 }],
      answers: [{ name: 'a.test', type: 1, class: 1, ttl: 5, data: Uint8Array.of(1, 2, 3, 4) }],
    });
    expect(parse(full).answers).toHaveLength(1);
    expect(parseDnsMessage(full.subarray(0, full.length - 2))).toBe('truncated');
  });

  it('reads the SOA minimum for negative caching (RFC 2308)', () => {
    const soa = Uint8Array.from([
      1, 0x61, 0, 1, 0x62, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 42,
    ]);
    const m = parse(
      encodeDnsMessage({
        id: 1,
        response: true,
        rcode: 3,
        authorities: [{ name: 'test', type: DnsType.SOA, class: 1, ttl: 300, data: soa }],
      }),
    );
    expect(m.rcode).toBe(3);
    expect(m.authorities[0]!.soaMinimum).toBe(42);
  });
});
