/**
 * @tapstack/stack-driver — runs a tapstack stack on a link: the poll loop and its one
 * timer, address configuration (static, SLAAC, DHCPv4), a DNS stub resolver, stats,
 * and the `SocketHost` that socket-bridge builds on.
 */
export * from './socket-host.js';
export * from './link.js';
export * from './loop.js';
export * from './driver.js';
export * from './dns.js';
export * from './dns-message.js';
export * from './dhcp.js';
export * from './dhcp-message.js';
export * from './threaded-link.js';
export type { IoWorkerData, WorkerLinkSpec } from './io-worker.js';
export * from './stack-thread.js';
