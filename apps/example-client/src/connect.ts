/**
 * How this program reaches the virtual network: only through the daemon's AF_UNIX
 * bridge, with socket-bridge's client library. Each connection is an ordinary
 * `net.Socket` once the daemon has said OK.
 */
import type { ClientRequestArgs } from 'node:http';
import type { Socket } from 'node:net';
import { type BridgeSocket, bridgeConnect } from '@tapstack/socket-bridge';

export interface Target {
  host: string;
  port: number;
}

/** "192.0.2.2:7", "[2001:db8::2]:7" or "name:7". */
export function parseTarget(text: string): Target {
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    host = text.slice(1, end);
    port = text.slice(end + 2);
    if (end < 0 || text[end + 1] !== ':') throw new Error(`expected [v6]:port, got "${text}"`);
  } else {
    const i = text.lastIndexOf(':');
    if (i <= 0) throw new Error(`expected host:port, got "${text}"`);
    host = text.slice(0, i);
    port = text.slice(i + 1);
  }
  const n = Number(port);
  if (!/^\d{1,5}$/.test(port) || n < 1 || n > 65535) throw new Error(`bad port in "${text}"`);
  return { host, port: n };
}

export function connectVirtual(bridge: string, target: Target): Promise<BridgeSocket> {
  return bridgeConnect({ path: bridge, host: target.host, port: target.port, timeout: 15_000 });
}

/**
 * A `createConnection` for node:http (ClientRequest accepts the callback form), so that
 * `http.request(url, { createConnection: viaBridge(path) })` goes through the daemon.
 */
export function viaBridge(bridge: string): NonNullable<ClientRequestArgs['createConnection']> {
  return (opts, oncreate) => {
    const host = String(opts.host ?? opts.hostname ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(opts.port ?? 80);
    connectVirtual(bridge, { host, port }).then(
      (s) => oncreate(null, s as Socket),
      (e: Error) => oncreate(e, undefined as unknown as Socket),
    );
    return undefined as unknown as Socket;
  };
}
