/**
 * A binary min-heap of deadlines, each with an item (the TCP layer's sockets): parallel
 * arrays, no allocation per entry. Entries are never updated in place: the owner pushes
 * a new deadline and skips stale ones when they surface (lazy deletion), as the TCP
 * layer does by comparing against the socket's `scheduledAt`.
 */
export class TimerHeap<T> {
  private readonly at: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.at.length;
  }

  /** The earliest deadline; Infinity when empty. */
  get nextAt(): number {
    return this.at.length > 0 ? this.at[0]! : Number.POSITIVE_INFINITY;
  }

  /** The item of the earliest deadline (undefined when empty). */
  get next(): T | undefined {
    return this.items[0];
  }

  push(at: number, item: T): void {
    const a = this.at;
    const b = this.items;
    let i = a.length;
    a.push(at);
    b.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= at) break;
      a[i] = a[p]!;
      b[i] = b[p]!;
      i = p;
    }
    a[i] = at;
    b[i] = item;
  }

  /** Removes the earliest entry. */
  pop(): void {
    const a = this.at;
    const b = this.items;
    const lastAt = a.pop()!;
    const lastItem = b.pop()!;
    const n = a.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]! < a[l]! ? r : l;
      if (a[c]! >= lastAt) break;
      a[i] = a[c]!;
      b[i] = b[c]!;
      i = c;
    }
    a[i] = lastAt;
    b[i] = lastItem;
  }
}
