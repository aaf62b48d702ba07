/**
 * Reading a TCP handle into a Buffer. A read goes straight into a 64 KiB buffer; when
 * it fills at least half of it, that buffer is handed out as is (no second copy) and a
 * fresh one takes its place, else the bytes are copied out at their exact size and the
 * buffer is reused. So a chunk never holds more than twice its size, and an idle
 * connection holds no read memory however many sessions are open (the read buffer is
 * shared by every reader on the thread: socket calls are synchronous).
 */
import type { Handle } from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';

const READ_BYTES = 65536;
let buf = Buffer.allocUnsafeSlow(READ_BYTES);

/** The bytes read, or tcpRecv's own result when there were none (0, EOF, -SocketError). */
export function recvChunk(host: SocketHost, h: Handle): Buffer | number {
  const n = host.tcpRecv(h, buf);
  if (n <= 0) return n;
  if (n >= READ_BYTES / 2) {
    const out = n === READ_BYTES ? buf : buf.subarray(0, n);
    buf = Buffer.allocUnsafeSlow(READ_BYTES);
    return out;
  }
  const out = Buffer.allocUnsafe(n);
  buf.copy(out, 0, 0, n);
  return out;
}
