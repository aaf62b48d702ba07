/**
 * A SOCKS5 front (RFC 1928, with RFC 1929 username/password) so unmodified programs
 * (`curl --socks5-hostname`) reach the virtual network: CONNECT to IPv4, IPv6 and
 * domain names (resolved with host.lookup), and UDP ASSOCIATE. It listens on
 * loopback by default; BIND is answered with "command not supported".
 */
import { type Socket as UdpRelay, createSocket as createUdpRelay } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { type Server, type Socket, createServer, isIP } from 'node:net';
import {
  type Handle,
  type IpAddress,
  SocketEvent,
  SocketError,
  type TcpSocketOptions,
  parseIpAddress,
  socketErrorName,
} from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';
import { resolveOne } from './address.js';
import { isLoopbackAddress, loopbackPeerOwners, peerKey } from './peer-owner.js';
import type { SocketBridgeError } from './errors.js';
import { HandlePump } from './pump.js';
import {
  Command,
  Method,
  Reply,
  type SocksAddress,
  type SocksRequest,
  encodeReply,
  encodeUdpDatagram,
  parseGreeting,
  parseRequest,
  parseUdpDatagram,
  parseUserPass,
  replyForCode,
} from './socks5-codec.js';

export interface Socks5Options {
  /** Require RFC 1929 username/password; either fixed credentials or a check function. */
  auth?: { username: string; password: string } | ((username: string, password: string) => boolean);
  /** Milliseconds to finish the handshake [10000]. */
  handshakeTimeout?: number;
  /**
   * Open SOCKS5 connections at most [1024]; one more is closed at once (counted in
   * `refused`). Each holds a file descriptor (a UDP ASSOCIATE two): keep it below the
   * process's open-file limit so other listeners can still accept.
   */
  maxSessions?: number;
  /**
   * Open connections from one client at most [256]; counted in `refusedPerClient`. A
   * client on loopback is the local user that owns its socket (Linux: /proc/net/tcp; any
   * local user can connect from any of 127.0.0.0/8, so the address tells nothing), any
   * other client its address.
   */
  maxSessionsPerClient?: number;
  /**
   * Options for the stack sockets opened for clients. `noDelay` defaults to true: the
   * client's writes arrive already batched, and small requests should not wait for ACKs.
   */
  tcp?: TcpSocketOptions;
}

export class Socks5Server extends EventEmitter {
  readonly host: SocketHost;
  private readonly opts: Socks5Options;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly handles = new Set<Handle>();
  private readonly perClient = new Map<string, number>();
  /** Each open session's client (`clientKey`), or undefined while nobody needed to know. */
  private readonly clientOf = new Map<Socket, string | undefined>();
  /** Connections waiting to learn who their client is (one lookup for all of them). */
  private waiting: Socket[] = [];
  private identifying = false;
  private listenPort = 0;
  /** Connections closed at once because `maxSessions` were open. */
  refused = 0;
  /** Connections closed at once because their address had `maxSessionsPerClient` open. */
  refusedPerClient = 0;
  /** UDP ASSOCIATE datagrams dropped: not from the client's address and port (RFC 1928 §7). */
  udpForeignDropped = 0;
  /** UDP ASSOCIATE datagrams to a multicast or limited-broadcast address: dropped, not sent. */
  udpDestRefused = 0;
  /** UDP ASSOCIATE datagrams the stack refused (a subnet broadcast, no route, queue full). */
  udpSendFailed = 0;

  constructor(host: SocketHost, options: Socks5Options = {}) {
    super();
    this.host = host;
    this.opts = options;
  }

  get sessions(): number {
    return this.sockets.size;
  }
  get openHandles(): number {
    return this.handles.size;
  }

  /** Listens on loopback (127.0.0.1) unless told otherwise; resolves with the bound port. */
  listen(port = 1080, address = '127.0.0.1'): Promise<{ address: string; port: number }> {
    const server = createServer({ allowHalfOpen: true }, (s) => this.onConnection(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        server.on('error', (e) => this.emit('error', e));
        const a = server.address();
        if (typeof a === 'object' && a) this.listenPort = a.port;
        resolve(typeof a === 'object' && a ? { address: a.address, port: a.port } : { address, port });
      });
    });
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  private onConnection(sock: Socket): void {
    if (this.sockets.size >= (this.opts.maxSessions ?? 1024)) {
      this.refused++;
      sock.destroy();
      return;
    }
    this.sockets.add(sock);
    this.clientOf.set(sock, undefined);
    sock.on('error', () => {});
    sock.on('close', () => {
      this.sockets.delete(sock);
      const client = this.clientOf.get(sock);
      this.clientOf.delete(sock);
      if (client === undefined) return;
      const n = (this.perClient.get(client) ?? 1) - 1;
      if (n > 0) this.perClient.set(client, n);
      else this.perClient.delete(client);
    });
    // While no more sessions are open than one client may hold, nobody is over the
    // limit and nobody's client needs to be known (no lookup per connection).
    if (this.sockets.size <= (this.opts.maxSessionsPerClient ?? 256)) {
      this.session(sock);
      return;
    }
    this.waiting.push(sock);
    if (!this.identifying) {
      this.identifying = true;
      setImmediate(() => void this.identify());
    }
  }

  /** The client of a connection: its local user on loopback (when known), else its address. */
  private clientKey(sock: Socket, owners: Map<string, number>): string {
    const address = (sock.remoteAddress ?? '').replace(/^::ffff:/i, '');
    if (isLoopbackAddress(address) && sock.remotePort !== undefined) {
      const uid = owners.get(peerKey(address, sock.remotePort));
      if (uid !== undefined) return `uid ${uid}`;
    }
    return address;
  }

  /**
   * Learns the clients of the waiting connections (and of open sessions not yet known)
   * with one read, then lets each waiting one in or closes it if its client is at its
   * limit.
   */
  private async identify(): Promise<void> {
    let owners = new Map<string, number>();
    try {
      owners = await loopbackPeerOwners(this.listenPort);
    } catch {
      // No /proc/net: clients are told apart by address only.
    }
    this.identifying = false;
    const waiting = this.waiting;
    this.waiting = [];
    const isWaiting = new Set(waiting);
    const count = (client: string) => this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    for (const [sock, client] of this.clientOf) {
      if (client !== undefined || isWaiting.has(sock)) continue;
      const c = this.clientKey(sock, owners);
      this.clientOf.set(sock, c);
      count(c);
    }
    for (const sock of waiting) {
      if (sock.destroyed) continue;
      const c = this.clientKey(sock, owners);
      if ((this.perClient.get(c) ?? 0) >= (this.opts.maxSessionsPerClient ?? 256)) {
        this.refusedPerClient++;
        sock.destroy();
        continue;
      }
      this.clientOf.set(sock, c);
      count(c);
      this.session(sock);
    }
  }

  /** Runs the SOCKS5 handshake and then the request on an admitted connection. */
  private session(sock: Socket): void {
    sock.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' | 'done' = 'greeting';
    const timer = setTimeout(() => sock.destroy(), this.opts.handshakeTimeout ?? 10_000);
    sock.on('close', () => clearTimeout(timer));
    // EOF before the handshake finished: the client is gone, its slot is freed now
    // (also when the EOF came while the connection waited to learn its client).
    if (sock.readableEnded) {
      sock.destroy();
      return;
    }
    sock.once('end', () => {
      if (stage !== 'done') sock.destroy();
    });
    const finishHandshake = () => {
      clearTimeout(timer);
      stage = 'done';
      sock.off('data', onData);
      sock.pause();
      if (buf.length) sock.unshift(buf);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (;;) {
        if (stage === 'greeting') {
          const g = parseGreeting(buf);
          if (!g) return;
          if ('error' in g) return void sock.destroy();
          buf = buf.subarray(g.length);
          const want = this.opts.auth ? Method.UserPass : Method.NoAuth;
          if (!g.value.includes(want)) return void sock.end(Buffer.from([5, Method.NoAcceptable]));
          sock.write(Buffer.from([5, want]));
          stage = want === Method.UserPass ? 'auth' : 'request';
        } else if (stage === 'auth') {
          const a = parseUserPass(buf);
          if (!a) return;
          if ('error' in a) return void sock.destroy();
          buf = buf.subarray(a.length);
          const auth = this.opts.auth!;
          const ok =
            typeof auth === 'function'
              ? auth(a.value.username, a.value.password)
              : a.value.username === auth.username && a.value.password === auth.password;
          // RFC 1929: a non-zero status must close the connection.
          if (!ok) return void sock.end(Buffer.from([1, 1]));
          sock.write(Buffer.from([1, 0]));
          stage = 'request';
        } else if (stage === 'request') {
          const r = parseRequest(buf);
          if (!r) return;
          if ('error' in r) return void sock.end(encodeReply(Reply.AddressTypeNotSupported));
          buf = buf.subarray(r.length);
          finishHandshake();
          this.dispatch(sock, r.value);
          return;
        } else return;
      }
    };
    sock.on('data', onData);
  }

  private dispatch(sock: Socket, r: SocksRequest): void {
    if (r.command === Command.Connect) this.connect(sock, r.address, r.port);
    else if (r.command === Command.UdpAssociate) this.udpAssociate(sock, r.address, r.port);
    else sock.end(encodeReply(Reply.CommandNotSupported));
  }

  private resolve(a: SocksAddress): Promise<IpAddress> {
    return a.type === 'ip' ? Promise.resolve(a.address) : resolveOne(this.host, a.name);
  }

  private connect(sock: Socket, target: SocksAddress, port: number): void {
    this.resolve(target).then(
      (addr) => {
        if (sock.destroyed) return;
        const h = this.host.tcpOpen({ noDelay: true, ...this.opts.tcp });
        this.handles.add(h);
        const abandon = () => {
          this.host.unwatch(h);
          this.host.tcpAbort(h);
          this.handles.delete(h);
        };
        sock.once('close', abandon);
        const failed = (e: SocketError) => {
          sock.off('close', abandon);
          this.host.unwatch(h);
          this.host.tcpClose(h);
          this.handles.delete(h);
          sock.end(encodeReply(replyForCode(socketErrorName(e))));
        };
        this.host.watch(h, (m) => {
          if (m & SocketEvent.Connected) {
            sock.off('close', abandon);
            const info = this.host.tcpInfo(h);
            sock.write(encodeReply(Reply.Succeeded, info?.localAddress, info?.localPort ?? 0));
            new HandlePump(this.host, h, sock, () => this.handles.delete(h));
            sock.resume();
          } else if (m & (SocketEvent.Error | SocketEvent.Closed))
            failed(this.host.socketError(h) || SocketError.ECONNREFUSED);
        });
        const e = this.host.tcpConnect(h, addr, port, this.host.now());
        if (e) failed(e);
      },
      (err: SocketBridgeError) => sock.end(encodeReply(replyForCode(err.code))),
    );
  }

  /**
   * RFC 1928 section 7: a UDP relay on the same loopback address as the control
   * connection; it lives until the control connection closes. Datagrams are accepted
   * only from the client's IP and port: the port the request named, or else the port of
   * the first datagram from the client's IP. Others are dropped (`udpForeignDropped`),
   * so replies never follow a second sender.
   */
  private udpAssociate(sock: Socket, hint: SocksAddress, hintPort: number): void {
    const localIp = sock.localAddress ?? '127.0.0.1';
    const clientIp = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
    const relay: UdpRelay = createUdpRelay(isIP(localIp) === 6 ? 'udp6' : 'udp4');
    const h = this.host.udpOpen();
    this.handles.add(h);
    this.host.udpBind(h, undefined, 0);
    let client: { address: string; port: number } | undefined;
    const wantPort = hint.type === 'ip' && !hint.address.isUnspecified() ? hintPort : 0;
    relay.on('error', () => sock.destroy());
    relay.on('message', (msg, rinfo) => {
      if (
        rinfo.address.replace(/^::ffff:/, '') !== clientIp ||
        (wantPort && rinfo.port !== wantPort) ||
        (client && rinfo.port !== client.port)
      ) {
        this.udpForeignDropped++;
        return;
      }
      client ??= { address: rinfo.address, port: rinfo.port };
      const d = parseUdpDatagram(msg);
      // Fragment reassembly (FRAG != 0) is optional in RFC 1928 and not implemented: drop.
      if (d?.frag !== 0) return;
      this.resolve(d.address).then(
        (dst) => {
          if (sock.destroyed) return;
          // A relay for local clients sends only to unicast hosts (issue 14): one client's
          // datagram must not become a broadcast or multicast on the virtual network.
          if (dst.isMulticast() || (dst.version === 4 && dst.isBroadcast())) {
            this.udpDestRefused++;
            return;
          }
          // A subnet broadcast is refused by the stack (no SO_BROADCAST), like any send error.
          if (this.host.udpSend(h, d.data, dst, d.port) < 0) this.udpSendFailed++;
        },
        () => {},
      );
    });
    this.host.watch(h, (m) => {
      if (!(m & SocketEvent.Readable)) return;
      for (;;) {
        const d = this.host.udpRecv(h);
        if (!d) return;
        if (client) relay.send(encodeUdpDatagram(d.address, d.port, d.data), client.port, client.address);
      }
    });
    relay.bind(0, localIp, () => {
      if (sock.destroyed) return;
      const a = relay.address();
      sock.write(encodeReply(Reply.Succeeded, parseIpAddress(a.address), a.port));
      sock.resume();
    });
    sock.on('data', () => {});
    sock.on('end', () => sock.end());
    sock.on('close', () => {
      this.host.unwatch(h);
      this.host.udpClose(h);
      this.handles.delete(h);
      try {
        relay.close();
      } catch {
        /* already closed */
      }
    });
  }
}
