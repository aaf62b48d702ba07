/**
 * @tapstack/stack-core — a userspace TCP/IP stack that never reads a clock or a
 * random source: the caller passes `now` into every call and the random source in
 * the config. See README.md for the tour.
 */
export * from './registration.js';
export * from './wire/checksum.js';
export * from './wire/ip-address.js';
export * from './wire/wire-error.js';
export * from './wire/ethernet.js';
export * from './wire/arp.js';
export * from './wire/ipv4.js';
export * from './wire/ipv6.js';
export * from './wire/icmpv4.js';
export * from './wire/icmpv6.js';
export * from './wire/udp.js';
export * from './wire/dhcp.js';
export * from './wire/dns.js';
export { NeighborCache, NeighborState, type NeighborConfig, defaultNeighborConfig } from './neighbor.js';
export { Reassembler, type ReassemblyConfig, defaultReassemblyConfig } from './reassembly.js';
export { Stack, DROP_COUNTERS, type DropCounter, defaultIpConfig } from './stack.js';
