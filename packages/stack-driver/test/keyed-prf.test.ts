/**
 * The driver's stack hashes ISNs and SYN cookies with SipHash-2-4 from a library
 * (issue 14: no hand-written crypto): the wrapper against the SipHash paper's vector, and
 * the driver handing it to the stack it builds.
 */
import { MemorySwitch } from '@tapstack/tap-io';
import { Stack, type StackConfig } from '@tapstack/stack-core';
import { describe, expect, it } from 'vitest';
import { StackDriver } from '../src/driver.js';
import { sipHash24 } from '../src/keyed-prf.js';

describe('keyed PRF', () => {
  it('is SipHash-2-4 (Aumasson and Bernstein, appendix A: key 00..0f, message 00..0e)', () => {
    const out = new Uint8Array(8);
    sipHash24(
      Uint8Array.from({ length: 15 }, (_, i) => i),
      Uint8Array.from({ length: 16 }, (_, i) => i),
      out,
    );
    expect(Buffer.from(out).toString('hex')).toBe('e545be4961ca29a1'); // 0xa129ca6149be45e5, little-endian
  });

  it('is what the driver gives its stack, unless the options bring their own', async () => {
    const seen: StackConfig[] = [];
    const sw = new MemorySwitch();
    const make = async (keyedPrf?: StackConfig['keyedPrf']) =>
      StackDriver.create({
        links: [
          {
            link: sw.createPort({ name: `p${seen.length}`, mac: `02:00:00:00:00:0${seen.length + 1}` }),
            addresses: [`192.0.2.${seen.length + 1}/24`],
          },
        ],
        createStack: (c) => {
          seen.push(c);
          return new Stack(c);
        },
        ...(keyedPrf ? { keyedPrf } : {}),
      });
    const a = await make();
    expect(seen[0]!.keyedPrf).toBe(sipHash24);
    const own = () => {};
    const b = await make(own);
    expect(seen[1]!.keyedPrf).toBe(own);
    await a.close();
    await b.close();
  });
});
