/**
 * Reading a TCP handle into a Buffer. One scratch buffer is shared by every reader on
 * the thread (socket calls are synchronous), and each read is copied out at its exact
 * size, so an idle connection holds no read memory however many sessions are open.
 */
import type { Handle } from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';

const scratch = Buffer.allocUnsafe(65536);

/** The bytes read, or tcpRecv's own result when there were none (0, EOF, -SocketError). */
export function recvChunk(host: SocketHost, h: Handle): Buffer | number {
  const n = host.tcpRecv(h, scratch);
  if (n <= 0) return n;
  const out = Buffer.allocUnsafe(n);
  scratch.copy(out, 0, 0, n);
  return out;
}
