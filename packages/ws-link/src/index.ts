/**
 * @tapstack/ws-link — a link that carries Ethernet frames as binary WebSocket messages.
 * This entry is the browser-safe client (web-standard JS, no `node:` imports); the
 * Node server that puts each connection on a switch port is `@tapstack/ws-link/server`.
 */
export {
  type WebSocketConstructor,
  type WebSocketLike,
  WebSocketLink,
  WebSocketLinkError,
  type WebSocketLinkOptions,
  type WebSocketLinkStats,
} from './client.js';
export { CloseCode, type Hello, macBytes, macString, PROTOCOL_VERSION, parseHello } from './protocol.js';
