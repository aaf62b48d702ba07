/**
 * What a call on a TcpSocket asks of its layer. A socket never calls up into the layer:
 * it ORs these bits into its `answers` (and the events for its handle into `events`), and
 * the layer takes both after every call it makes (TcpLayer.settle) — as smoltcp's
 * process() returns its reply instead of sending it.
 */

/** Queue the socket for output in the next poll. */
export const ANS_OUTPUT = 1;
/** The socket reached CLOSED: forget it (tables, binding, handle; reset a listener's unaccepted children). */
export const ANS_CLOSED = 2;
/** The socket entered TIME-WAIT: its port binding is released (as with SO_REUSEADDR); the table is capped. */
export const ANS_TIME_WAIT = 4;
/** A passive child reached ESTABLISHED (its listener had room): move it to the accept queue. */
export const ANS_ESTABLISHED = 8;
/** Answer the segment being processed with <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.3, §3.10.7.4). */
export const ANS_REPLY_RST = 16;
/** Send a challenge ACK if the stack-wide limit allows one now (RFC 5961 §7). */
export const ANS_CHALLENGE_ACK = 32;
