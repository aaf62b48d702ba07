/**
 * Small built-in TCP services on virtual ports, so a daemon can be tested and demoed
 * with nothing else attached: echo (RFC 862), discard (RFC 863, counts what it
 * swallows), and an HTTP page that names the daemon and the client.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from './log.js';
import type { SessionTable } from './sessions.js';
import { hardClose } from './relay.js';

/** The part of socket-bridge's TapNet that services and forwards use. */
export interface VirtualNet {
  createServer(options: { allowHalfOpen?: boolean }, listener?: (s: VirtualSocket) => void): VirtualServer;
  createConnection(options: { host: string; port: number; allowHalfOpen?: boolean }): VirtualSocket;
}
export interface VirtualSocket extends Duplex {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
}
export interface VirtualServer {
  listen(options: { port: number; host?: string; backlog?: number }, cb?: () => void): unknown;
  close(cb?: (err?: Error) => void): unknown;
  on(event: 'error', cb: (e: Error) => void): unknown;
  on(event: 'connection', cb: (s: VirtualSocket) => void): unknown;
  address(): { address: string; port: number } | null;
}

export interface ServiceConfig {
  echo: number;
  discard: number;
  http: number;
  udpEcho: number;
}

/** The part of socket-bridge's dgram look-alike the UDP echo uses. */
export interface VirtualDgram {
  createSocket(type: 'udp4' | 'udp6'): VirtualUdpSocket;
}
export interface VirtualUdpSocket {
  bind(port: number, cb?: () => void): unknown;
  send(msg: Uint8Array, port: number, address: string): void;
  close(cb?: () => void): unknown;
  on(event: 'message', cb: (msg: Buffer, rinfo: { address: string; port: number }) => void): unknown;
  on(event: 'error', cb: (e: Error) => void): unknown;
}

export interface RunningService {
  name: string;
  port: number;
  close(): Promise<void>;
}

function listen(server: VirtualServer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen({ port }, () => resolve());
  });
}

export function demoPage(daemonName: string, local: string, remote: string, path: string): string {
  return [
    '<!doctype html>',
    `<title>tapstack ${daemonName}</title>`,
    `<h1>Hello from tapstack node ${daemonName}</h1>`,
    `<p>This page was served by a userspace TCP/IP stack at ${local}, to ${remote}, for ${path}.</p>`,
    '',
  ].join('\n');
}

export async function startServices(
  net: VirtualNet,
  dgram: VirtualDgram,
  cfg: ServiceConfig,
  opts: { name: string; log: Logger; sessions: SessionTable },
): Promise<RunningService[]> {
  const running: RunningService[] = [];
  const { log, sessions } = opts;
  const track = (s: VirtualSocket) => {
    sessions.add('service', s, () => hardClose(s));
    s.on('error', (e) => log.debug({ err: e }, 'service connection error'));
  };
  const closeServer = (server: VirtualServer) =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
    });
  if (cfg.echo) {
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      track(s);
      s.on('data', (d: Buffer) => sessions.countBytes('service', 'out', d.length));
      s.pipe(s);
    });
    await listen(server, cfg.echo);
    running.push({ name: 'echo', port: cfg.echo, close: () => closeServer(server) });
  }
  if (cfg.discard) {
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      track(s);
      s.on('data', (d: Buffer) => sessions.countBytes('service', 'out', d.length));
      s.on('end', () => s.end());
    });
    await listen(server, cfg.discard);
    running.push({ name: 'discard', port: cfg.discard, close: () => closeServer(server) });
  }
  if (cfg.http) {
    const http: HttpServer = createHttpServer((req, res) => {
      const s = req.socket as VirtualSocket;
      const body = demoPage(
        opts.name,
        `${s.localAddress}:${s.localPort}`,
        `${s.remoteAddress}:${s.remotePort}`,
        req.url ?? '/',
      );
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      sessions.countBytes('service', 'in', Buffer.byteLength(body));
    });
    http.keepAliveTimeout = 5000;
    const server = net.createServer({}, (s) => {
      track(s);
      // node:http serves any Duplex handed to it as a connection. It also sets
      // `socket.server` to itself, where StackSocket expects its StackServer (to report
      // the connection closed): forward that call to the StackServer.
      http.emit('connection', s);
    });
    (http as unknown as { connectionClosed: () => void }).connectionClosed = () =>
      (server as unknown as { connectionClosed?: () => void }).connectionClosed?.();
    await listen(server, cfg.http);
    running.push({
      name: 'http',
      port: cfg.http,
      close: async () => {
        http.closeIdleConnections();
        await closeServer(server);
      },
    });
  }
  if (cfg.udpEcho) {
    const sockets: VirtualUdpSocket[] = [];
    // An IPv6 socket on [::] may take IPv4 too (dual stack): then the IPv4 bind finds
    // the port in use and one socket serves both.
    for (const type of ['udp6', 'udp4'] as const) {
      const u = dgram.createSocket(type);
      u.on('message', (msg, rinfo) => {
        sessions.countBytes('service', 'out', msg.length);
        u.send(msg, rinfo.port, rinfo.address);
      });
      try {
        await new Promise<void>((resolve, reject) => {
          u.on('error', reject);
          u.bind(cfg.udpEcho, () => resolve());
        });
      } catch (e) {
        u.close();
        if (type === 'udp4' && (e as { code?: string }).code === 'EADDRINUSE') break;
        throw e;
      }
      sockets.push(u);
    }
    running.push({
      name: 'udp-echo',
      port: cfg.udpEcho,
      close: async () => {
        for (const u of sockets) u.close();
      },
    });
  }
  return running;
}
