/**
 * The protocol's constants, named as in the WireGuard paper (section 6) and wireguard-go's
 * device/constants.go. Times are milliseconds.
 */

export const REKEY_AFTER_MESSAGES = 2 ** 60;
/**
 * The paper's REJECT_AFTER_MESSAGES is 2^64 - 2^13 - 1. Counters here are exact JS numbers, so
 * the largest counter we accept or send is 2^53 - 1: no real peer gets near it (keys rotate
 * every two minutes), and a counter above it is counted and dropped.
 */
export const REJECT_AFTER_MESSAGES = Number.MAX_SAFE_INTEGER;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
export const REKEY_TIMEOUT_JITTER_MAX = 334;
export const KEEPALIVE_TIMEOUT = 10_000;
export const COOKIE_REFRESH_TIME = 120_000;
/** At most one handshake initiation per peer is consumed per this interval (flood guard). */
export const HANDSHAKE_INITIATION_RATE = 20;
export const PADDING_MULTIPLE = 16;

export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;

export const MESSAGE_INITIATION_SIZE = 148;
export const MESSAGE_RESPONSE_SIZE = 92;
export const MESSAGE_COOKIE_REPLY_SIZE = 64;
export const MESSAGE_TRANSPORT_HEADER_SIZE = 16;
export const MESSAGE_TRANSPORT_MIN_SIZE = MESSAGE_TRANSPORT_HEADER_SIZE + 16;
export const MESSAGE_MAX_SIZE = 65535;

/** Tunables that tests shorten; defaults are the paper's values. */
export interface Limits {
  rekeyAfterMessages: number;
  rejectAfterMessages: number;
  rekeyAfterTime: number;
  rejectAfterTime: number;
  rekeyAttemptTime: number;
  rekeyTimeout: number;
  keepaliveTimeout: number;
}

export const DEFAULT_LIMITS: Limits = {
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  rejectAfterMessages: REJECT_AFTER_MESSAGES,
  rekeyAfterTime: REKEY_AFTER_TIME,
  rejectAfterTime: REJECT_AFTER_TIME,
  rekeyAttemptTime: REKEY_ATTEMPT_TIME,
  rekeyTimeout: REKEY_TIMEOUT,
  keepaliveTimeout: KEEPALIVE_TIMEOUT,
};
