/**
 * The synchronous call channel between the main thread and the stack thread: one
 * SharedArrayBuffer with a small header and a data area. The caller writes a request
 * and blocks in Atomics.wait; the stack thread (Atomics.waitAsync in its event loop)
 * runs the call on its StackDriver and writes the reply. One call at a time.
 */
import { SOCKET_CALLS, type SocketCall } from '@tapstack/stack-core';

/** Int32 word indexes in the header. */
export const R = {
  /** 0 idle, 1 request pending, 2 reply ready. */
  STATE: 0,
  OP: 1,
  A0: 2,
  A1: 3,
  A2: 4,
  /** Result (number; -1 for "undefined" where a handle is expected). */
  RESULT: 5,
  /** Bytes used in the data area by the request or the reply. */
  LEN: 6,
  /** Second length (udpSend/udpRecv: the address text before the payload). */
  LEN2: 7,
} as const;

export const HEADER_BYTES = 64;
export const IDLE = 0;
export const REQUEST = 1;
export const REPLY = 2;

/** The socket calls (stack-core's SocketCalls) by their place in SOCKET_CALLS, from 1. */
const socketOps = Object.fromEntries(SOCKET_CALLS.map((name, i) => [name, i + 1])) as {
  readonly [K in SocketCall]: number;
};
const N = SOCKET_CALLS.length;

/** Operation codes: every socket call, then the host's own. */
export const Op = {
  ...socketOps,
  watch: N + 1,
  unwatch: N + 2,
  stats: N + 3,
  addresses: N + 4,
  linkStatus: N + 5,
} as const;

export interface StackChannel {
  sab: SharedArrayBuffer;
  i32: Int32Array;
  data: Uint8Array;
}

export function createChannel(dataBytes: number): StackChannel {
  const sab = new SharedArrayBuffer(HEADER_BYTES + dataBytes);
  return attachChannel(sab);
}

export function attachChannel(sab: SharedArrayBuffer): StackChannel {
  return { sab, i32: new Int32Array(sab, 0, HEADER_BYTES / 4), data: new Uint8Array(sab, HEADER_BYTES) };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Writes text at `off` in the data area; returns its byte length. */
export function putText(ch: StackChannel, text: string, off = 0): number {
  return enc.encodeInto(text, ch.data.subarray(off)).written;
}

export function getText(ch: StackChannel, off: number, len: number): string {
  // TextDecoder cannot read a shared buffer directly: copy out first.
  return dec.decode(ch.data.slice(off, off + len));
}
