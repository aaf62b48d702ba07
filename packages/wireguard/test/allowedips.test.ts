import { describe, expect, it } from 'vitest';
import { AllowedIps, type Prefix, maskPrefix, parsePrefix } from '../src/index.js';
import { seededRandom } from './harness.js';

/** Brute-force reference: the longest matching prefix wins; later inserts replace equal ones. */
class Reference<T> {
  entries: { p: Prefix; v: T }[] = [];
  insert(p: Prefix, v: T) {
    const m = maskPrefix(p);
    this.entries = this.entries.filter((e) => !(e.p.bits === m.bits && sameBytes(e.p.address, m.address)));
    this.entries.push({ p: m, v });
  }
  remove(v: T) {
    this.entries = this.entries.filter((e) => e.v !== v);
  }
  lookup(a: Uint8Array): T | undefined {
    let best: { p: Prefix; v: T } | undefined;
    for (const e of this.entries) {
      if (e.p.address.length !== a.length) continue;
      if (matches(e.p, a) && (!best || e.p.bits > best.p.bits)) best = e;
    }
    return best?.v;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function matches(p: Prefix, a: Uint8Array): boolean {
  for (let i = 0; i < p.bits; i++) {
    const bit = (x: Uint8Array) => ((x[i >> 3] as number) >> (7 - (i & 7))) & 1;
    if (bit(p.address) !== bit(a)) return false;
  }
  return true;
}

describe('AllowedIps', () => {
  it('longest prefix match on fixed cases', () => {
    const t = new AllowedIps<string>();
    t.insert(parsePrefix('0.0.0.0/0') as Prefix, 'default');
    t.insert(parsePrefix('192.0.2.0/24') as Prefix, 'net');
    t.insert(parsePrefix('192.0.2.128/25') as Prefix, 'half');
    t.insert(parsePrefix('192.0.2.200') as Prefix, 'host');
    t.insert(parsePrefix('2001:db8::/32') as Prefix, 'v6');
    const l = (s: string) => t.lookup((parsePrefix(s) as Prefix).address);
    expect(l('192.0.2.1')).toBe('net');
    expect(l('192.0.2.129')).toBe('half');
    expect(l('192.0.2.200')).toBe('host');
    expect(l('198.51.100.1')).toBe('default');
    expect(l('2001:db8::1')).toBe('v6');
    expect(l('2001:db9::1')).toBeUndefined();
    t.removeValue('half');
    expect(l('192.0.2.129')).toBe('net');
    expect(t.prefixesOf('host').map((p) => p.bits)).toEqual([32]);
  });

  it('matches a brute-force reference on random prefixes, inserts and removals', () => {
    const rnd = seededRandom(77);
    const b = new Uint8Array(17);
    for (const len of [4, 16]) {
      const trie = new AllowedIps<number>();
      const ref = new Reference<number>();
      for (let i = 0; i < 600; i++) {
        rnd(b);
        // Few distinct high bits so prefixes overlap a lot.
        const address = b.slice(0, len);
        address[0] = (address[0] as number) & 0x83;
        const bits = (b[16] as number) % (len * 8 + 1);
        const peer = i % 13;
        trie.insert({ address, bits }, peer);
        ref.insert({ address, bits }, peer);
        if (i % 97 === 96) {
          trie.removeValue(i % 5);
          ref.remove(i % 5);
        }
      }
      for (let i = 0; i < 3000; i++) {
        rnd(b);
        const a = b.slice(0, len);
        a[0] = (a[0] as number) & 0x83;
        expect(trie.lookup(a)).toBe(ref.lookup(a));
      }
      expect(trie.size).toBe(ref.entries.length);
    }
  });
});
