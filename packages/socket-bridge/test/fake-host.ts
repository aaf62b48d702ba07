/**
 * A deliberately small in-memory SocketHost for unit tests of the bridge's own logic
 * (stream semantics, backpressure, protocol handling) without a TCP stack. Connections
 * are local pairs with bounded send/receive buffers; events are delivered from a
 * coalesced poll, as the real driver does. End-to-end tests use real StackDrivers.
 */
import {
  EOF,
  type Handle,
  type IpAddress,
  Ipv4Address,
  SocketError,
  SocketEvent,
  type TcpInfo,
  type TcpSocketOptions,
  parseIpAddress,
} from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';

interface Conn {
  h: Handle;
  kind: 'tcp' | 'udp';
  state: TcpInfo['state'];
  local?: IpAddress;
  lport: number;
  remote?: IpAddress;
  rport: number;
  peer?: Conn;
  send: Uint8Array[];
  sendLen: number;
  sendCap: number;
  recv: Uint8Array[];
  recvLen: number;
  recvCap: number;
  finQueued: boolean;
  finDelivered: boolean;
  peerFin: boolean;
  err: number;
  backlog: number;
  acceptQ: Conn[];
  wasFull: boolean;
  udpQ: { data: Uint8Array; address: IpAddress; port: number }[];
}

export class FakeHost implements SocketHost {
  readonly address: IpAddress;
  private conns = new Map<Handle, Conn>();
  private watchers = new Map<Handle, (m: number) => void>();
  private pending = new Map<Handle, number>();
  private next = 1;
  private nextPort = 49152;
  private scheduled = false;
  names = new Map<string, IpAddress>();
  /** Number of live handles (tests check for leaks). */
  get openHandles(): number {
    return this.conns.size;
  }

  constructor(
    address = '192.0.2.1',
    private bufSize = 65536,
  ) {
    this.address = parseIpAddress(address);
  }

  private mk(kind: 'tcp' | 'udp', opts?: TcpSocketOptions): Conn {
    const c: Conn = {
      h: this.next++,
      kind,
      state: 'CLOSED',
      lport: 0,
      rport: 0,
      send: [],
      sendLen: 0,
      sendCap: opts?.sendBufferSize ?? this.bufSize,
      recv: [],
      recvLen: 0,
      recvCap: opts?.recvBufferSize ?? this.bufSize,
      finQueued: false,
      finDelivered: false,
      peerFin: false,
      err: 0,
      backlog: 0,
      acceptQ: [],
      wasFull: false,
      udpQ: [],
    };
    this.conns.set(c.h, c);
    return c;
  }
  private emit(h: Handle, m: number): void {
    this.pending.set(h, (this.pending.get(h) ?? 0) | m);
    this.kick();
  }
  kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.poll();
    });
  }
  private poll(): void {
    for (const c of this.conns.values()) {
      const p = c.peer;
      if (c.kind !== 'tcp' || !p) continue;
      while (c.sendLen > 0 && p.recvLen < p.recvCap && !p.err) {
        const first = c.send[0]!;
        const n = Math.min(first.length, p.recvCap - p.recvLen);
        p.recv.push(first.slice(0, n));
        p.recvLen += n;
        c.sendLen -= n;
        if (n === first.length) c.send.shift();
        else c.send[0] = first.subarray(n);
        this.emit(p.h, SocketEvent.Readable);
      }
      if (c.wasFull && c.sendLen < c.sendCap) {
        c.wasFull = false;
        this.emit(c.h, SocketEvent.Writable);
      }
      if (c.finQueued && !c.finDelivered && c.sendLen === 0) {
        c.finDelivered = true;
        p.peerFin = true;
        this.emit(p.h, SocketEvent.Readable | SocketEvent.PeerClosed);
      }
    }
    const batch = [...this.pending];
    this.pending.clear();
    for (const [h, m] of batch) this.watchers.get(h)?.(m);
  }

  watch(h: Handle, l: (m: number) => void): void {
    this.watchers.set(h, l);
  }
  unwatch(h: Handle): void {
    this.watchers.delete(h);
  }
  async lookup(name: string): Promise<IpAddress[]> {
    const a = this.names.get(name);
    return a ? [a] : [];
  }
  now(): number {
    return performance.now();
  }

  tcpOpen(options?: TcpSocketOptions): Handle {
    return this.mk('tcp', options).h;
  }
  tcpBind(h: Handle, _address: IpAddress | undefined, port: number): 0 | SocketError {
    const c = this.conns.get(h);
    if (!c) return SocketError.EBADF;
    if (port !== 0) {
      for (const o of this.conns.values())
        if (o.kind === c.kind && o.lport === port && o.state === 'LISTEN') return SocketError.EADDRINUSE;
    }
    c.lport = port || this.nextPort++;
    c.local = this.address;
    return 0;
  }
  tcpConnect(h: Handle, address: IpAddress, port: number): 0 | SocketError {
    const c = this.conns.get(h);
    if (!c) return SocketError.EBADF;
    if (!c.lport) this.tcpBind(h, undefined, 0);
    c.remote = address;
    c.rport = port;
    c.state = 'SYN-SENT';
    const l = [...this.conns.values()].find(
      (o) => o.kind === 'tcp' && o.state === 'LISTEN' && o.lport === port && address.equals(this.address),
    );
    if (!l || l.acceptQ.length >= l.backlog) {
      c.err = SocketError.ECONNREFUSED;
      c.state = 'CLOSED';
      this.emit(h, SocketEvent.Error | SocketEvent.Closed);
      return 0;
    }
    const s = this.mk('tcp');
    s.local = this.address;
    s.lport = port;
    s.remote = this.address;
    s.rport = c.lport;
    s.state = c.state = 'ESTABLISHED';
    s.peer = c;
    c.peer = s;
    l.acceptQ.push(s);
    this.emit(l.h, SocketEvent.Acceptable);
    this.emit(h, SocketEvent.Connected | SocketEvent.Writable);
    return 0;
  }
  tcpListen(h: Handle, backlog: number): 0 | SocketError {
    const c = this.conns.get(h);
    if (!c) return SocketError.EBADF;
    c.state = 'LISTEN';
    c.backlog = backlog;
    return 0;
  }
  tcpAccept(h: Handle): Handle | undefined {
    return this.conns.get(h)?.acceptQ.shift()?.h;
  }
  tcpSend(h: Handle, data: Uint8Array): number {
    const c = this.conns.get(h);
    if (!c) return -SocketError.EBADF;
    if (c.err) return -c.err;
    if (c.finQueued || !c.peer) return -SocketError.EPIPE;
    const n = Math.min(data.length, c.sendCap - c.sendLen);
    if (n > 0) {
      c.send.push(data.slice(0, n));
      c.sendLen += n;
      this.kick();
    }
    if (c.sendLen >= c.sendCap) c.wasFull = true;
    return n;
  }
  tcpSendSpace(h: Handle): number {
    const c = this.conns.get(h);
    return c ? c.sendCap - c.sendLen : 0;
  }
  tcpRecv(h: Handle, into: Uint8Array): number {
    const c = this.conns.get(h);
    if (!c) return -SocketError.EBADF;
    if (c.err) return -c.err;
    if (c.recvLen === 0) return c.peerFin ? EOF : 0;
    let off = 0;
    while (off < into.length && c.recv.length) {
      const f = c.recv[0]!;
      const n = Math.min(f.length, into.length - off);
      into.set(f.subarray(0, n), off);
      off += n;
      if (n === f.length) c.recv.shift();
      else c.recv[0] = f.subarray(n);
    }
    c.recvLen -= off;
    this.kick();
    return off;
  }
  tcpShutdown(h: Handle): 0 | SocketError {
    const c = this.conns.get(h);
    if (!c) return SocketError.EBADF;
    c.finQueued = true;
    this.kick();
    return 0;
  }
  tcpClose(h: Handle): void {
    const c = this.conns.get(h);
    if (!c) return;
    c.finQueued = true;
    // The fake finishes the close at once after the data drained (no TIME-WAIT).
    const p = c.peer;
    if (p && c.sendLen > 0) {
      // Keep the handle until the data is delivered.
      const drain = () => {
        if (c.sendLen === 0 || p.err) {
          this.conns.delete(h);
          this.poll();
        } else setTimeout(drain, 1);
      };
      setTimeout(drain, 1);
    } else this.conns.delete(h);
    if (p && !c.finDelivered) {
      c.finDelivered = c.sendLen === 0;
      if (c.finDelivered) {
        p.peerFin = true;
        this.emit(p.h, SocketEvent.Readable | SocketEvent.PeerClosed);
      }
    }
    for (const a of c.acceptQ) this.tcpAbort(a.h);
    this.watchers.delete(h);
  }
  tcpAbort(h: Handle): void {
    const c = this.conns.get(h);
    if (!c) return;
    this.conns.delete(h);
    this.watchers.delete(h);
    const p = c.peer;
    if (p && this.conns.has(p.h)) {
      p.err = SocketError.ECONNRESET;
      p.peer = undefined;
      this.emit(p.h, SocketEvent.Error | SocketEvent.Closed);
    }
  }
  tcpSetNoDelay(_h: Handle, _on: boolean): void {}
  tcpSetKeepAlive(_h: Handle, _idleMs: number): void {}
  tcpInfo(h: Handle): TcpInfo | undefined {
    const c = this.conns.get(h);
    if (!c) return undefined;
    return {
      state: c.state,
      localAddress: c.local,
      localPort: c.lport,
      remoteAddress: c.remote,
      remotePort: c.rport,
      sendQueued: c.sendLen,
      recvQueued: c.recvLen,
      srtt: 0,
      rto: 0,
      cwnd: 0,
      ssthresh: 0,
      mss: 1460,
      sendWindow: 0,
      retransmits: 0,
    };
  }
  udpOpen(): Handle {
    return this.mk('udp').h;
  }
  udpBind(h: Handle, _a: IpAddress | undefined, port: number): 0 | SocketError {
    const c = this.conns.get(h);
    if (!c) return SocketError.EBADF;
    if (port && [...this.conns.values()].some((o) => o.kind === 'udp' && o.lport === port))
      return SocketError.EADDRINUSE;
    c.lport = port || this.nextPort++;
    c.local = Ipv4Address.UNSPECIFIED;
    return 0;
  }
  udpSend(h: Handle, data: Uint8Array, address: IpAddress, port: number): number {
    const c = this.conns.get(h);
    if (!c) return -SocketError.EBADF;
    if (!c.lport) this.udpBind(h, undefined, 0);
    const d = [...this.conns.values()].find((o) => o.kind === 'udp' && o.lport === port);
    if (d && address.equals(this.address)) {
      d.udpQ.push({ data: data.slice(), address: this.address, port: c.lport });
      this.emit(d.h, SocketEvent.Readable);
    }
    return data.length;
  }
  udpRecv(h: Handle): { data: Uint8Array; address: IpAddress; port: number } | undefined {
    return this.conns.get(h)?.udpQ.shift();
  }
  udpLocal(h: Handle): { address: IpAddress | undefined; port: number } | undefined {
    const c = this.conns.get(h);
    return c ? { address: c.local, port: c.lport } : undefined;
  }
  udpClose(h: Handle): void {
    this.conns.delete(h);
    this.watchers.delete(h);
  }
  socketError(h: Handle): 0 | SocketError {
    const c = this.conns.get(h);
    if (!c) return 0;
    const e = c.err as 0 | SocketError;
    return e;
  }
}
