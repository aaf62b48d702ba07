/**
 * Fuzzing the untrusted-input parsers the driver's DHCP client and DNS resolver use
 * (stack-core's wire/dhcp.ts and wire/dns.ts; ARCHITECTURE.md test layer 4): random and
 * mutated messages. They never throw: a message parses, or comes back as a WireError.
 */
import {
  DnsType,
  encodeDhcp,
  encodeDnsMessage,
  Ipv4Address,
  parseDhcpMessage,
  parseDnsMessage,
} from '@tapstack/stack-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const WIRE_ERRORS = ['truncated', 'malformed', 'unsupported', 'badChecksum'];

/** The parser returns an object or one of the WireErrors, and never throws. */
function neverThrows(parse: () => unknown): void {
  const r = parse();
  if (typeof r === 'string') expect(WIRE_ERRORS).toContain(r);
  else expect(typeof r).toBe('object');
}

const dnsReply = encodeDnsMessage({
  id: 1,
  response: true,
  questions: [{ name: 'www.example.test', type: DnsType.A, class: 1 }],
  answers: [
    { name: 'www.example.test', type: DnsType.A, class: 1, ttl: 60, data: Uint8Array.of(192, 0, 2, 1) },
    { name: 'www.example.test', type: DnsType.AAAA, class: 1, ttl: 60, data: new Uint8Array(16) },
  ],
});

const dhcpOffer = encodeDhcp({
  op: 2,
  xid: 9,
  secs: 0,
  broadcast: true,
  ciaddr: Ipv4Address.UNSPECIFIED,
  yiaddr: Ipv4Address.parse('192.0.2.9'),
  siaddr: Ipv4Address.UNSPECIFIED,
  giaddr: Ipv4Address.UNSPECIFIED,
  chaddr: new Uint8Array(16),
  options: new Map([
    [53, Uint8Array.of(2)],
    [51, Uint8Array.of(0, 0, 14, 16)],
  ]),
});

const mutations = (base: Uint8Array) =>
  fc
    .tuple(
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.nat(base.length),
    )
    .map(([flips, cut]) => {
      const b = base.slice(0, Math.max(cut, 1));
      for (const [i, v] of flips) if (i < b.length) b[i] = v;
      return b;
    });

describe('parsers never throw', () => {
  it('DNS: random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => neverThrows(() => parseDnsMessage(b))),
      { numRuns: 2000 },
    );
  });
  it('DNS: mutated and truncated replies', () => {
    fc.assert(
      fc.property(mutations(dnsReply), (b) => neverThrows(() => parseDnsMessage(b))),
      { numRuns: 2000 },
    );
  });
  it('DHCP: random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 236, maxLength: 700 }), (b) => {
        b.set([99, 130, 83, 99], 236 < b.length - 4 ? 236 : 0);
        neverThrows(() => parseDhcpMessage(b));
      }),
      { numRuns: 2000 },
    );
  });
  it('DHCP: mutated and truncated offers', () => {
    fc.assert(
      fc.property(mutations(dhcpOffer), (b) => neverThrows(() => parseDhcpMessage(b))),
      { numRuns: 2000 },
    );
  });
});
