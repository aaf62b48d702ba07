/**
 * The wire layer: one module per header (after smoltcp's `wire/`). Each gives
 *
 * - a view over a `Uint8Array` (`EthernetFrame`, `Ipv4Packet`, `UdpPacket`, ...) whose
 *   field offsets live in one private `field` table;
 * - `newChecked(bytes)`, which verifies lengths and fixed fields and returns a
 *   `WireError` ('truncated', 'malformed', 'unsupported', 'badChecksum') instead of
 *   throwing, and `newUnchecked(bytes)`;
 * - where the stack needs one, a parsed form with `parse` / `emit` / a buffer length,
 *   or `emit...` functions for the hot path.
 *
 * The rule: **bytes from the network go through `newChecked` (or a `parse...`
 * function) first.** `newUnchecked` is only for buffers the stack built itself or has
 * already checked; reading past a checked view's length is a bug, not bad input.
 * Nothing here throws for bad input — the stack turns each error into one named drop
 * counter. Encoders may throw for caller mistakes (a DNS name that is not one, a DHCP
 * option over 255 bytes).
 *
 * `tcp.ts` (TCP header, options, checksums) is used by the TCP layer and not exported
 * from the package; it follows the same rule (`TcpPacket.newChecked`, and `check` for
 * the one view the TCP layer re-points at every received segment).
 */
export * from './arp.js';
export * from './checksum.js';
export * from './dhcp.js';
export * from './dns.js';
export * from './ethernet.js';
export * from './icmpv4.js';
export * from './icmpv6.js';
export * from './ip-address.js';
export * from './ipv4.js';
export * from './ipv6.js';
export * from './udp.js';
export * from './wire-error.js';
