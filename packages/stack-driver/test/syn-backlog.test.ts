/**
 * The loop's SYN backlog on its own: newest first, the oldest shed when full, copies out of
 * a ring's buffer, and no allocation per SYN once a slot has handed out a view of that length.
 */
import { describe, expect, it } from 'vitest';
import { SynBacklog } from '../src/syn-backlog.js';

const frame = (tag: number, len = 54) =>
  Uint8Array.from({ length: len }, (_, i) => (i === len - 1 ? tag : i));

describe('SynBacklog', () => {
  it('hands SYNs newest first and sheds the oldest when full', () => {
    const q = new SynBacklog(3);
    const shed = [1, 2, 3, 4, 5].map((t) => q.push(0, frame(t)));
    expect(shed).toEqual([false, false, false, true, true]);
    const got: number[] = [];
    expect(q.take(10, (_iface, f) => got.push(f[f.length - 1]!))).toBe(3);
    expect(got).toEqual([5, 4, 3]);
    expect(q.size).toBe(0);
  });

  it('copies from inside a bigger buffer, keeps the interface, and reuses its views', () => {
    const q = new SynBacklog(2);
    const buf = new Uint8Array(200);
    buf.set(frame(7), 100);
    q.pushAt(3, buf, 100, 54);
    buf.fill(0); // the ring reuses its space: the backlog has its own copy
    const views: Uint8Array[] = [];
    q.take(1, (iface, f) => {
      expect(iface).toBe(3);
      expect([...f]).toEqual([...frame(7)]);
      views.push(f);
    });
    for (let round = 0; round < 3; round++) {
      q.push(1, frame(round));
      q.take(1, (_i, f) => views.push(f));
    }
    // One slot, one length: the same view every time.
    expect(new Set(views).size).toBe(1);
    q.push(1, frame(9, 74));
    q.take(1, (_i, f) => expect(f.length).toBe(74));
  });
});
