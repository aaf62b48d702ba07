/**
 * @tapstack/browser — tapstack in a web page: a stack-core `Stack` joined to a tapstack
 * daemon over a WebSocket link (`@tapstack/ws-link`), driven by the page's event loop,
 * with a small `net`-like TCP API (connect, listen, read, write, end, destroy) and an
 * HTTP/1.1 fetch helper. Web-standard JS only: a CI check bundles it for the browser
 * platform and fails on any `node:` import.
 */
export { BrowserStack, type BrowserStackOptions, type SocketDriver } from './browser-stack.js';
export { NetError } from './errors.js';
export { type FetchInit, type FetchResponse, httpFetch } from './http.js';
export { TcpConnection, TcpListener } from './tcp.js';
export {
  translateIncoming,
  translateOutgoing,
  type V86Bus,
  V86NetworkAdapter,
  type V86NetworkAdapterOptions,
} from './v86.js';
export { WebSocketLink, type WebSocketConstructor } from '@tapstack/ws-link';
