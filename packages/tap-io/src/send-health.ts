/**
 * Whether a UDP link's datagrams can still get out (issue 14: a VXLAN or WireGuard socket
 * that fails is logged once and shown in `/healthz`, as a deleted TAP device is). A send
 * that fails for lack of a path — no route, the bound address gone, the socket closed —
 * counts; any send that gets out resets the count. `down` after DOWN_AFTER such failures
 * in a row, so one dead peer among live ones does not flap the link (their successes
 * come between its failures). Errors of one datagram (EMSGSIZE) or of a moment (EAGAIN,
 * ENOBUFS) do not count either way.
 */
import { constants } from 'node:os';

const E = constants.errno;

/** errnos meaning the socket cannot reach anywhere from where it is bound. */
export const PATH_ERRNOS: ReadonlySet<number> = new Set(
  [E.EBADF, E.ENOTSOCK, E.EINVAL, E.EADDRNOTAVAIL, E.ENETDOWN, E.ENETUNREACH, E.ENODEV, E.EPERM].filter(
    (n): n is number => n !== undefined,
  ),
);

/** Path failures in a row that make the link `down`. */
export const DOWN_AFTER = 3;

export class SendHealth {
  /** Path failures since the last datagram that got out. */
  failing = 0;
  /** errno of the last failed send (any kind), 0 before one. */
  lastErrno = 0;

  /** `n` datagrams got out. */
  sent(n = 1): void {
    if (n > 0) this.failing = 0;
  }

  /** `n` datagrams failed with `errno` (a positive Linux errno). */
  failed(errno: number, n = 1): void {
    this.lastErrno = errno;
    if (PATH_ERRNOS.has(errno)) this.failing += n;
  }

  /** A node:dgram send callback's error (its `code` names the errno). */
  failedWith(err: NodeJS.ErrnoException): void {
    this.failed((err.code && (E as Record<string, number>)[err.code]) || Math.abs(err.errno ?? 0));
  }

  get down(): 0 | 1 {
    return this.failing >= DOWN_AFTER ? 1 : 0;
  }
}
