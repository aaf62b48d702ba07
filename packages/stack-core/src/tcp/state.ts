/** TCP connection states (RFC 9293 §3.3.2) as small integers, with their names. */
import type { TcpStateName } from '../registration.js';

export const CLOSED = 0;
export const LISTEN = 1;
export const SYN_SENT = 2;
export const SYN_RECEIVED = 3;
export const ESTABLISHED = 4;
export const FIN_WAIT_1 = 5;
export const FIN_WAIT_2 = 6;
export const CLOSING = 7;
export const TIME_WAIT = 8;
export const CLOSE_WAIT = 9;
export const LAST_ACK = 10;

export const stateNames: readonly TcpStateName[] = [
  'CLOSED',
  'LISTEN',
  'SYN-SENT',
  'SYN-RECEIVED',
  'ESTABLISHED',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'CLOSING',
  'TIME-WAIT',
  'CLOSE-WAIT',
  'LAST-ACK',
];
