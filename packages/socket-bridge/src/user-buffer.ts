/**
 * Reading an accepted socket into one reused buffer. Node gives client sockets this as
 * the public `onread` option (every read lands in the caller's buffer and goes to a
 * callback: no Buffer allocated per read), but not sockets that a `net.Server` accepts,
 * and those are what the bridge and the SOCKS5 front read. Without it every 64 KiB
 * read is a fresh ArrayBuffer, and that external memory was what made V8 run a full
 * GC every few milliseconds at bridge speeds (a quarter of the bridge's CPU time).
 *
 * This switches an accepted socket to the same machinery `onread` uses: the handle's
 * `useUserBuffer()` and the socket's `kBuffer`/`kBufferCb` slots, which Node's own
 * read path then honours (`resume()`/`pause()` and 'end' behave as with `onread`). They
 * are Node internals, so this is feature-detected: when they are not there, it returns
 * false and the caller keeps reading 'data' events. A test checks that the fast path
 * is taken on the Node we run, so an upgrade that loses it is noticed.
 */
import type { Socket } from 'node:net';

type OnRead = (nread: number, buf: Buffer) => boolean;

function slot(sock: Socket, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(sock).find((s) => s.description === description);
}

/**
 * From now on, reads of `sock` go into `buf` and to `onRead(n, buf)` (bytes valid only
 * during the call) instead of 'data' events; returning false pauses the socket until
 * `resume()`. Call it while the socket is paused and its readable buffer is empty.
 * `buf` may be a function (as `onread.buffer` may): it gives the first buffer and, after
 * each `onRead`, the one the next read goes into — so a reader can size its reads
 * (to the free space where the bytes go). Returns false (nothing changed) when this Node
 * does not allow it.
 */
export function readIntoUserBuffer(sock: Socket, buf: Buffer | (() => Buffer), onRead: OnRead): boolean {
  const handle = (sock as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } })._handle;
  const kBuffer = slot(sock, 'kBuffer');
  const kBufferCb = slot(sock, 'kBufferCb');
  const kBufferGen = slot(sock, 'kBufferGen');
  if (typeof handle?.useUserBuffer !== 'function' || !kBuffer || !kBufferCb || !kBufferGen) return false;
  const s = sock as unknown as Record<symbol, unknown>;
  if (s[kBuffer] !== null || sock.readableLength > 0) return false;
  const first = typeof buf === 'function' ? buf() : buf;
  handle.useUserBuffer(first);
  s[kBuffer] = first;
  s[kBufferCb] = onRead;
  s[kBufferGen] = typeof buf === 'function' ? buf : null;
  return true;
}
