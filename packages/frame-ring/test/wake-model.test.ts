// Exhaustive interleaving check of the ring's sleep/wake handshakes (LAYOUT.md, "Sleeping
// and waking"). A small model of the shared words — WRITE, READ, CONSUMER_SLEEPING,
// PRODUCER_SLEEPING — and of each thread's steps, one shared-memory access per step, is
// explored over every interleaving of the producer, the consumer and (for a native
// producer) the JS relay thread. Atomics.wait is modelled exactly: it blocks only if the
// word still holds the expected value, and only a notify on that word ends it (no
// timeouts, no spurious wakeups: a protocol must not need them). A reachable state where
// no thread can run and the transfer is not finished is a lost wakeup.
//
// The buggy variants below are protocols that were written (or are easy to write) and
// lose a wakeup; the checker must find each, which is what shows it can fail.
import { describe, expect, it } from 'vitest';

interface State {
  // shared words
  W: number; // frames published
  R: number; // frames released
  CS: number; // CONSUMER_SLEEPING
  PS: number; // PRODUCER_SLEEPING
  // producer
  pc: string;
  sent: number;
  tmp: number;
  // consumer
  cc: string;
  got: number;
  ctmp: number;
  // relay thread (native producer's wake): pending threadsafe calls
  relays: number;
  // which word a thread blocks on in Atomics.wait (-1: running)
  pBlocked: number;
  cBlocked: number;
}

const WORD_W = 0;
const WORD_R = 1;

interface Options {
  frames: number;
  capacity: number;
  /** The producer publishes WRITE, then checks the flag (false: checks the flag first). */
  publishBeforeCheck: boolean;
  /** The sleep compares the word with the value last seen, as Atomics.wait does (false: blocks unconditionally, like a bare condition variable). */
  waitComparesValue: boolean;
  /** The producer's wake goes through a relay thread (native producer, LAYOUT.md). */
  relay: boolean;
  /** The relay notifies even when the flag is already 0 (false: only if its own CAS wins). */
  relayNotifiesAlways: boolean;
  /**
   * The flag is a ticket (the value the sleeper waits on, | 1) and a waker skips a ticket
   * equal to the value it just published. false: the flag is 1 and every waker that sees
   * it clears it — the protocol up to layout version 2, which lost wakeups.
   */
  tickets: boolean;
}

const SAFE: Options = {
  frames: 3,
  capacity: 1,
  publishBeforeCheck: true,
  waitComparesValue: true,
  relay: false,
  relayNotifiesAlways: true,
  tickets: true,
};

type Step = (s: State, o: Options) => void;

function notify(s: State, word: number): void {
  if (s.pBlocked === word) s.pBlocked = -1;
  if (s.cBlocked === word) s.cBlocked = -1;
}

// Producer: push (with 'full') then waitForSpace when the ring is full.
const producer: Record<string, Step> = {
  push: (s, o) => {
    if (s.sent === o.frames) s.pc = 'done';
    else if (s.W - s.R < o.capacity) s.pc = o.publishBeforeCheck ? 'publish' : 'checkFirst';
    else s.pc = 'ws.check';
  },
  // the safe order: store WRITE (seq-cst), then load the flag
  publish: (s) => {
    s.W++;
    s.sent++;
    s.pc = 'loadFlag';
  },
  loadFlag: (s, o) => {
    s.tmp = s.CS;
    s.pc = s.CS !== 0 && !(o.tickets && s.CS === s.W + 1) ? 'cas' : 'push';
  },
  cas: (s, o) => {
    if (s.CS !== 0 && s.CS === s.tmp) {
      s.CS = 0;
      s.pc = o.relay ? 'relay' : 'notify';
    } else s.pc = 'push';
  },
  notify: (s) => {
    notify(s, WORD_W);
    s.pc = 'push';
  },
  relay: (s) => {
    s.relays++; // napi_call_threadsafe_function: non-blocking
    s.pc = 'push';
  },
  // the buggy order: load the flag, then publish
  checkFirst: (s) => {
    s.tmp = s.CS;
    s.pc = 'publishLate';
  },
  publishLate: (s) => {
    s.W++;
    s.sent++;
    s.pc = s.tmp !== 0 ? 'cas' : 'push';
  },
  // waitForSpace
  'ws.check': (s, o) => {
    s.pc = s.W - s.R < o.capacity ? 'push' : 'ws.announce';
  },
  'ws.announce': (s, o) => {
    s.tmp = s.R; // the READ value this sleep waits on
    s.PS = o.tickets ? s.R + 1 : 1;
    s.pc = 'ws.reload';
  },
  'ws.reload': (s, o) => {
    if (!o.tickets) s.tmp = s.R; // the old code waited on the re-loaded value
    s.pc = s.R !== s.tmp || s.W - s.R < o.capacity ? 'ws.clear' : 'ws.wait';
  },
  'ws.wait': (s, o) => {
    if (!o.waitComparesValue || s.R === s.tmp) s.pBlocked = WORD_R; // Atomics.wait(READ, r2)
    s.pc = 'ws.clear';
  },
  'ws.clear': (s) => {
    s.PS = 0;
    s.pc = 'push';
  },
};

// Consumer: drain one, release (store READ, then load the producer's flag), or sleep.
const consumer: Record<string, Step> = {
  take: (s, o) => {
    if (s.got === o.frames) s.cc = 'done';
    else if (s.W !== s.R) {
      s.got++;
      s.cc = 'release';
    } else s.cc = 'w.announce';
  },
  release: (s) => {
    s.R++;
    s.cc = 'release.flag';
  },
  'release.flag': (s, o) => {
    s.ctmp = s.PS;
    s.cc = s.PS !== 0 && !(o.tickets && s.PS === s.R + 1) ? 'release.cas' : 'take';
  },
  'release.cas': (s) => {
    if (s.PS !== 0 && s.PS === s.ctmp) {
      s.PS = 0;
      s.cc = 'release.notify';
    } else s.cc = 'take';
  },
  'release.notify': (s) => {
    notify(s, WORD_R);
    s.cc = 'take';
  },
  // wait(): w was loaded in 'take' (equal to R)
  'w.announce': (s, o) => {
    s.ctmp = s.R; // W === R here: the WRITE value this sleep waits on
    s.CS = o.tickets ? s.R + 1 : 1;
    s.cc = 'w.reload';
  },
  'w.reload': (s) => {
    s.cc = s.W !== s.ctmp ? 'w.clear' : 'w.wait';
  },
  'w.wait': (s, o) => {
    if (!o.waitComparesValue || s.W === s.ctmp) s.cBlocked = WORD_W; // Atomics.wait(WRITE, w)
    s.cc = 'w.clear';
  },
  'w.clear': (s) => {
    s.CS = 0;
    s.cc = 'take';
  },
};

// Relay thread: runs ring.notifyConsumer() once per threadsafe call.
function relayStep(s: State, o: Options): void {
  s.relays--;
  if (o.relayNotifiesAlways)
    notify(s, WORD_W); // notifyConsumer(): never touches the flag
  else if (s.CS !== 0) {
    s.CS = 0; // the old notifyConsumer(): CAS the flag, notify only if that won
    notify(s, WORD_W);
  }
}

interface Result {
  states: number;
  lostWakeup?: State;
}

/** Explores every interleaving; returns the first stuck state (a lost wakeup), if any. */
function explore(o: Options): Result {
  const init: State = {
    W: 0,
    R: 0,
    CS: 0,
    PS: 0,
    pc: 'push',
    sent: 0,
    tmp: 0,
    cc: 'take',
    got: 0,
    ctmp: 0,
    relays: 0,
    pBlocked: -1,
    cBlocked: -1,
  };
  const seen = new Set<string>();
  const stack = [init];
  while (stack.length > 0) {
    const s = stack.pop()!;
    const key = JSON.stringify(s);
    if (seen.has(key)) continue;
    seen.add(key);
    const next: State[] = [];
    if (s.pc !== 'done' && s.pBlocked < 0) {
      const t = { ...s };
      producer[s.pc]!(t, o);
      next.push(t);
    }
    if (s.cc !== 'done' && s.cBlocked < 0) {
      const t = { ...s };
      consumer[s.cc]!(t, o);
      next.push(t);
    }
    if (s.relays > 0) {
      const t = { ...s };
      relayStep(t, o);
      next.push(t);
    }
    if (next.length === 0 && !(s.pc === 'done' && s.cc === 'done'))
      return { states: seen.size, lostWakeup: s };
    if (s.W - s.R > o.capacity || s.got > s.W) throw new Error(`model broke an invariant: ${key}`);
    stack.push(...next);
  }
  return { states: seen.size };
}

describe('sleep/wake handshake, every interleaving (LAYOUT.md state tables)', () => {
  for (const capacity of [1, 2]) {
    it(`JS producer ⇄ JS consumer, capacity ${capacity}: no reachable state sleeps with work pending`, () => {
      const r = explore({ ...SAFE, capacity });
      expect(r.lostWakeup).toBeUndefined();
      expect(r.states).toBeGreaterThan(100);
    });
  }

  it('native producer waking through a relay thread: no lost wakeup', () => {
    const r = explore({ ...SAFE, relay: true });
    expect(r.lostWakeup).toBeUndefined();
  });

  it('finds the lost wakeup of the layout-2 protocol: a late waker clears the flag of a newer sleep', () => {
    // Producer publishes W=k, consumer takes it, announces a sleep on k and blocks; the
    // producer's flag check for W=k runs now, clears the flag and notifies (the consumer
    // is not woken: WRITE still equals k, or the notify came first). Its next publish
    // finds the flag 0 and wakes nobody: the consumer sleeps with a frame waiting.
    for (const relay of [false, true]) {
      const r = explore({ ...SAFE, tickets: false, relay, relayNotifiesAlways: !relay });
      expect(r.lostWakeup).toBeDefined();
    }
  });

  it('finds the lost wakeup when the producer loads the flag before it publishes', () => {
    const r = explore({ ...SAFE, publishBeforeCheck: false });
    expect(r.lostWakeup).toBeDefined();
    expect(r.lostWakeup!.cBlocked).toBe(WORD_W); // the consumer sleeps on a WRITE that moved on
  });

  it('finds the lost wakeup when the sleep does not compare the word (a native condition variable without a predicate)', () => {
    const r = explore({ ...SAFE, waitComparesValue: false });
    expect(r.lostWakeup).toBeDefined();
  });

  it('finds the lost wakeup when the relay notifies only if its own CAS wins (the flag was already cleared natively)', () => {
    const r = explore({ ...SAFE, tickets: false, relay: true, relayNotifiesAlways: false });
    expect(r.lostWakeup).toBeDefined();
    expect(r.lostWakeup!.cBlocked).toBe(WORD_W);
  });
});
