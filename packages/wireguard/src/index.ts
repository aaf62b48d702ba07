/**
 * @tapstack/wireguard: WireGuard in userspace for Node. A tour:
 * - crypto.ts: the primitives (node:crypto, @noble/hashes, @noble/ciphers), TAI64N.
 * - noise.ts: the Noise_IKpsk2 handshake messages and session keys.
 * - cookie.ts: MAC1/MAC2 and cookie replies.
 * - replay.ts, keypair.ts: transport counters and the anti-replay window.
 * - allowedips.ts: cryptokey routing.
 * - timers.ts: the paper's timer rules. peer.ts, device.ts: the send and receive paths.
 * - config.ts, keys.ts: wg config files and base64 keys. udp.ts: a device on a UDP socket.
 */
export { AllowedIps } from './allowedips.js';
export {
  type InterfaceConfig,
  type PeerConfig,
  ConfigError,
  formatConfig,
  maskPrefix,
  parseConfig,
  parseEndpoint,
} from './config.js';
export * from './constants.js';
export { PrivateKey, type RandomSource, cryptoRandom, tai64n } from './crypto.js';
export {
  type Bind,
  type Clock,
  type DeviceCounters,
  type DeviceOptions,
  type Endpoint,
  type PeerInfo,
  type PeerOptions,
  WireGuardDevice,
  systemClock,
} from './device.js';
export { type Prefix, formatIp, formatPrefix, parseIp, parsePrefix } from './ip.js';
export { decodeKey, encodeKey, genkey, genpsk, pubkey } from './keys.js';
export { REPLAY_WINDOW, ReplayFilter } from './replay.js';
export { type UdpIoStats, type UdpSocketHealth, UdpWireGuard, type UdpWireGuardOptions } from './udp.js';
export {
  openWireGuardLink,
  TUNNEL_GATEWAY_MAC,
  WireGuardLink,
  type WireGuardLinkOptions,
  type WireGuardLinkStats,
  type WireGuardLinkStatus,
} from './link.js';
export { type AeadBackend, transportAead } from './transport-aead.js';
