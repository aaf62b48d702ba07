/** Fuzzing the untrusted-input parsers (ARCHITECTURE.md test layer 4): random and mutated messages. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DhcpFormatError, encodeDhcp, parseDhcp } from '../src/dhcp-message.js';
import { DnsFormatError, DnsType, encodeMessage, parseMessage } from '../src/dns-message.js';
import { Ipv4Address } from '@tapstack/stack-core';

function onlyFormatErrors(parse: () => unknown, Err: new (...a: never[]) => Error): void {
  try {
    parse();
  } catch (e) {
    expect(e).toBeInstanceOf(Err);
  }
}

const dnsReply = encodeMessage({
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

describe('parsers never throw anything but their format error', () => {
  it('DNS: random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) =>
        onlyFormatErrors(() => parseMessage(b), DnsFormatError),
      ),
      { numRuns: 2000 },
    );
  });
  it('DNS: mutated and truncated replies', () => {
    fc.assert(
      fc.property(mutations(dnsReply), (b) => onlyFormatErrors(() => parseMessage(b), DnsFormatError)),
      { numRuns: 2000 },
    );
  });
  it('DHCP: random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 236, maxLength: 700 }), (b) => {
        b.set([99, 130, 83, 99], 236 < b.length - 4 ? 236 : 0);
        onlyFormatErrors(() => parseDhcp(b), DhcpFormatError);
      }),
      { numRuns: 2000 },
    );
  });
  it('DHCP: mutated and truncated offers', () => {
    fc.assert(
      fc.property(mutations(dhcpOffer), (b) => onlyFormatErrors(() => parseDhcp(b), DhcpFormatError)),
      { numRuns: 2000 },
    );
  });
});
