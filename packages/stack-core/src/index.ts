/**
 * @tapstack/stack-core — a userspace TCP/IP stack that never reads a clock or a
 * random source: the caller passes `now` into every call and the random source in
 * the config. See README.md for the tour.
 */
export * from './registration.js';
export * from './wire/index.js';
export { NeighborCache, NeighborState, type NeighborConfig, defaultNeighborConfig } from './neighbor.js';
export { Reassembler, type ReassemblyConfig, defaultReassemblyConfig } from './reassembly.js';
export { Stack, DROP_COUNTERS, type DropCounter, defaultIpConfig } from './stack.js';
