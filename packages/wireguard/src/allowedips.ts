/**
 * Cryptokey routing (paper section 2): a longest-prefix-match trie per address family that maps
 * an inner address to the peer allowed to use it. Outgoing packets go to the peer owning the
 * destination; incoming packets are accepted only from a peer owning their source. A prefix
 * belongs to one peer: inserting it for another peer moves it, as in wg(8).
 */
import type { Prefix } from './ip.js';

interface Node<T> {
  zero: Node<T> | undefined;
  one: Node<T> | undefined;
  value: T | undefined;
}

const newNode = <T>(): Node<T> => ({ zero: undefined, one: undefined, value: undefined });

function bitAt(a: Uint8Array, i: number): number {
  return ((a[i >> 3] as number) >> (7 - (i & 7))) & 1;
}

export class AllowedIps<T> {
  readonly #v4: Node<T> = newNode();
  readonly #v6: Node<T> = newNode();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  insert(prefix: Prefix, value: T): void {
    let n = prefix.address.length === 4 ? this.#v4 : this.#v6;
    for (let i = 0; i < prefix.bits; i++) {
      if (bitAt(prefix.address, i) === 0) n = n.zero ??= newNode();
      else n = n.one ??= newNode();
    }
    if (n.value === undefined) this.#size++;
    n.value = value;
  }

  /** The value of the longest prefix containing `address` (4 or 16 bytes). */
  lookup(address: Uint8Array): T | undefined {
    let n: Node<T> | undefined = address.length === 4 ? this.#v4 : this.#v6;
    let found = n.value;
    const max = address.length * 8;
    for (let i = 0; i < max && n !== undefined; i++) {
      n = bitAt(address, i) === 0 ? n.zero : n.one;
      if (n?.value !== undefined) found = n.value;
    }
    return found;
  }

  /** Remove every prefix of `value`. */
  removeValue(value: T): void {
    const prune = (n: Node<T>): boolean => {
      if (n.zero && prune(n.zero)) n.zero = undefined;
      if (n.one && prune(n.one)) n.one = undefined;
      if (n.value === value) {
        n.value = undefined;
        this.#size--;
      }
      return n.value === undefined && n.zero === undefined && n.one === undefined;
    };
    prune(this.#v4);
    prune(this.#v6);
  }

  /** Every prefix of `value`, with host bits cleared. */
  prefixesOf(value: T): Prefix[] {
    const out: Prefix[] = [];
    const walk = (n: Node<T>, bytes: Uint8Array, depth: number) => {
      if (n.value === value) out.push({ address: Uint8Array.from(bytes), bits: depth });
      if (n.zero) walk(n.zero, bytes, depth + 1);
      if (n.one) {
        bytes[depth >> 3] = (bytes[depth >> 3] as number) | (0x80 >> (depth & 7));
        walk(n.one, bytes, depth + 1);
        bytes[depth >> 3] = (bytes[depth >> 3] as number) & ~(0x80 >> (depth & 7));
      }
    };
    walk(this.#v4, new Uint8Array(4), 0);
    walk(this.#v6, new Uint8Array(16), 0);
    return out;
  }
}
