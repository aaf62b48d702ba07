/**
 * Sliding-window anti-replay filter for transport counters (RFC 6479's bitmap ring, as in
 * wireguard-go's replay package). Counters are JS numbers (exact below 2^53).
 */
const BLOCK_BITS = 32;
const RING_BLOCKS = 128;
const MASK = RING_BLOCKS - 1;
/** How far behind the highest counter seen a counter may be and still be accepted. */
export const REPLAY_WINDOW = (RING_BLOCKS - 1) * BLOCK_BITS;

export class ReplayFilter {
  #last = 0;
  readonly #ring = new Uint32Array(RING_BLOCKS);

  reset(): void {
    this.#last = 0;
    this.#ring.fill(0);
  }

  /** Accept `counter` once (true) or report it replayed, too old or at/over `limit` (false). */
  validate(counter: number, limit: number): boolean {
    if (!(counter >= 0 && counter < limit && Number.isSafeInteger(counter))) return false;
    const block = Math.floor(counter / BLOCK_BITS);
    if (counter > this.#last) {
      const current = Math.floor(this.#last / BLOCK_BITS);
      const diff = Math.min(block - current, RING_BLOCKS);
      for (let i = 1; i <= diff; i++) this.#ring[(current + i) & MASK] = 0;
      this.#last = counter;
    } else if (this.#last - counter > REPLAY_WINDOW) {
      return false;
    }
    const idx = block & MASK;
    const bit = 1 << (counter % BLOCK_BITS);
    const word = this.#ring[idx] as number;
    if ((word & bit) !== 0) return false;
    this.#ring[idx] = word | bit;
    return true;
  }
}
