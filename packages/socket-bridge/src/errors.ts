/**
 * Node-style socket errors: every error the bridge raises carries `code`, `errno`
 * (negative, as libuv reports it) and `syscall`, so code written for `net` can match
 * on `err.code`. Every code is listed in docs/errors.md.
 */
import { constants } from 'node:os';
import { type SocketError, socketErrorName } from '@tapstack/stack-core';

const brand = Symbol.for('tapstack.socket-bridge.SocketBridgeError');

const messages: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'broken pipe',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  ENOTFOUND: 'host name not found',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable',
  ENOTCONN: 'socket is not connected',
  EINVAL: 'invalid argument',
  EMSGSIZE: 'message too long',
  EISCONN: 'socket is already connected',
  EBADF: 'bad socket handle',
  ENOBUFS: 'no buffer space available',
  EACCES: 'permission denied',
  EPROTO: 'protocol error',
  ESHUTDOWN: 'bridge is shutting down',
  EPERM: 'operation not permitted',
  ENOTSOCK: 'not a socket',
};

export interface SocketBridgeError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
  hostname?: string;
}

/** The errno Node would report for `code` (libuv's negative errno; ENOTFOUND is getaddrinfo's -3008). */
export function errnoFor(code: string): number {
  if (code === 'ENOTFOUND') return -3008;
  if (code === 'ESHUTDOWN') return -108; // Linux; libuv has no name for it
  const n = (constants.errno as Record<string, number | undefined>)[code];
  return n === undefined ? -4094 /* UV_UNKNOWN */ : -n;
}

/** A short human message for a code ("connection refused"). */
export function messageFor(code: string): string {
  return messages[code] ?? 'socket error';
}

/**
 * Builds an error shaped like Node's: `connect ECONNREFUSED 192.0.2.2:80`, with
 * code/errno/syscall (and address/port when given).
 */
export function socketError(
  code: string,
  syscall: string,
  where?: { address?: string; port?: number; hostname?: string },
): SocketBridgeError {
  let detail = '';
  if (where?.hostname !== undefined && where.address === undefined) detail = ` ${where.hostname}`;
  else if (where?.address !== undefined)
    detail = where.port !== undefined ? ` ${where.address}:${where.port}` : ` ${where.address}`;
  const err = new Error(`${syscall} ${code}${detail}`) as SocketBridgeError;
  err.code = code;
  err.errno = errnoFor(code);
  err.syscall = syscall;
  if (where?.address !== undefined) err.address = where.address;
  if (where?.port !== undefined) err.port = where.port;
  if (where?.hostname !== undefined) err.hostname = where.hostname;
  Object.defineProperty(err, brand, { value: true });
  return err;
}

/** The same, from a stack-core SocketError number. */
export function fromStackError(
  e: SocketError,
  syscall: string,
  where?: { address?: string; port?: number; hostname?: string },
): SocketBridgeError {
  return socketError(socketErrorName(e), syscall, where);
}

/** True for errors made by this package (works across copies of the package). */
export function isSocketBridgeError(e: unknown): e is SocketBridgeError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}
