/**
 * `SocketHost`: what socket-bridge needs from a running stack. The stack-driver's
 * single-threaded driver implements it directly over a `Stack`; any other mode
 * (threaded) must offer the same synchronous shape on the main thread.
 */
import type { Handle, IpAddress, SocketCalls, SocketEventMask } from '@tapstack/stack-core';

/** The socket API (declared once, in stack-core). */
export type { SocketCalls };

export interface SocketHost extends SocketCalls {
  /**
   * Routes a socket's events to `listener` (one listener per handle; a new call
   * replaces it). Events arrive from inside the driver's poll, never re-entrantly
   * from a socket call. Events that happened before watch() (e.g. data that arrived
   * with an accepted connection) are delivered, OR-ed together, on the next turn.
   */
  watch(handle: Handle, listener: (events: SocketEventMask) => void): void;
  /** Stops routing events for a handle (call after close/abort). */
  unwatch(handle: Handle): void;
  /**
   * Schedules a poll of the stack soon (coalesced; a microtask), so that data queued
   * by socket calls goes out. Every socket call made through the host does this for you.
   */
  kick(): void;
  /** Resolves a host name (or literal address) to addresses via the driver's DNS resolver. */
  lookup(hostname: string, family?: 0 | 4 | 6): Promise<IpAddress[]>;
  /** The driver's clock in ms (monotonic). */
  now(): number;
}
