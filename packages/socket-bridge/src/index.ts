/**
 * @tapstack/socket-bridge — what applications touch: a `net`-compatible API and a
 * `dgram`-like UDP socket over a stack (`createNet(host)`, `createDgram(host)`), the
 * AF_UNIX bridge (`BridgeServer` in the daemon, `bridgeConnect`/`bridgeListen`/
 * `bridgeUdp` in applications) and a SOCKS5 front (`Socks5Server`).
 */
export * from './errors.js';
export { formatHostPort, parseHostPort } from './address.js';
export * from './net.js';
export * from './dgram.js';
export { HandlePump, type PumpEnd, type PumpOptions } from './pump.js';
export * from './forward.js';
export * as bridgeProtocol from './bridge-protocol.js';
export { BRIDGE_VERSION } from './bridge-protocol.js';
export * from './bridge-server.js';
export * from './bridge-client.js';
export * from './local-path.js';
export * as socks5 from './socks5-codec.js';
export * from './socks5-server.js';
