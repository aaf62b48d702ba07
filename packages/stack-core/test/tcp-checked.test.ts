/**
 * Untrusted segments go through the checked TCP view (wire/index.ts's rule): a header
 * shorter than 20 bytes, a data offset under 5 words or past the segment, an option
 * running past the header, or a port of 0 (reserved, RFC 6335 §6; smoltcp refuses it)
 * is counted and dropped — no SYN,ACK, no RST, no connection.
 */
import { describe, expect, it } from 'vitest';
import { fillTcpChecksum } from '../src/wire/tcp.js';
import { craft, F, Harness } from './tcp-helpers.js';

function listening(): Harness {
  const t = new Harness();
  const l = t.tcp.tcpOpen();
  expect(t.tcp.tcpBind(l, undefined, 80)).toBe(0);
  expect(t.tcp.tcpListen(l, 8)).toBe(0);
  return t;
}

/** A SYN from the peer to port 80, then `mutate` applied and the checksum filled again. */
function syn(t: Harness, mutate: (b: Uint8Array) => Uint8Array, srcPort = 40000): Uint8Array {
  const b = craft(t.peer, t.local, { srcPort, dstPort: 80, seq: 1000, flags: F.SYN, mss: 1460 });
  const m = mutate(b);
  if (m.length >= 18) {
    m[16] = 0;
    m[17] = 0;
    fillTcpChecksum(t.peer, t.local, m);
  }
  return m;
}

const cases: [string, (b: Uint8Array) => Uint8Array, string, number?][] = [
  ['19 bytes', (b) => b.slice(0, 19), 'tcp.truncated'],
  [
    'data offset 4 words',
    (b) => {
      b[12] = 0x40;
      return b;
    },
    'tcp.malformed',
  ],
  [
    'data offset past the segment',
    (b) => {
      b[12] = 0xf0;
      return b;
    },
    'tcp.truncated',
  ],
  [
    'an option running past the header',
    (b) => {
      b[21] = 8; // MSS option claims 8 bytes, the header has 4
      return b;
    },
    'tcp.malformed',
  ],
  ['source port 0', (b) => b, 'tcp.malformed', 0],
  [
    'destination port 0',
    (b) => {
      b[2] = 0;
      b[3] = 0;
      return b;
    },
    'tcp.malformed',
  ],
];

describe('malformed TCP headers (checked view)', () => {
  it.each(cases)('%s: dropped and counted, nothing answered', (_name, mutate, counter, srcPort) => {
    const t = listening();
    const seg = syn(t, mutate, srcPort);
    t.tcp.input(t.peer, t.local, seg, t.now);
    expect(t.flush()).toEqual([]);
    expect(t.host.counters.get(counter)).toBe(1);
    expect(t.host.counters.get('tcp.noSocket')).toBeUndefined();
  });

  it('the well-formed SYN they were made from is answered', () => {
    const t = listening();
    t.tcp.input(
      t.peer,
      t.local,
      syn(t, (b) => b),
      t.now,
    );
    const out = t.flush();
    expect(out.length).toBe(1);
    expect(out[0]!.repr.flags).toBe(F.SYN | F.ACK);
  });
});
