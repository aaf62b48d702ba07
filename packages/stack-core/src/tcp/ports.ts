/**
 * Local ports held by bind() and listen(), and the listeners on them: bind conflicts and
 * the listener a SYN reaches (an exact local address before the wildcard). Connections
 * are demultiplexed by the layer's 4-tuple table, not here.
 */
import type { IpAddress } from '../wire/ip-address.js';
import type { TcpSocket } from './socket.js';

export class PortTable {
  private readonly bindings = new Map<number, TcpSocket[]>();
  private readonly listeners = new Map<number, TcpSocket[]>();

  /** Is the port held by a bind()? */
  isBound(port: number): boolean {
    return this.bindings.has(port);
  }

  /** Would binding (addr, port) collide with a socket that holds it (no SO_REUSEPORT)? */
  conflict(addr: IpAddress | undefined, port: number): boolean {
    const list = this.bindings.get(port);
    if (list === undefined) return false;
    for (const b of list) {
      if (b.localAddr === undefined || addr === undefined || b.localAddr.equals(addr)) return true;
    }
    return false;
  }

  bind(s: TcpSocket): void {
    let list = this.bindings.get(s.localPort);
    if (list === undefined) this.bindings.set(s.localPort, (list = []));
    list.push(s);
    s.bound = true;
  }

  listen(s: TcpSocket): void {
    let ls = this.listeners.get(s.localPort);
    if (ls === undefined) this.listeners.set(s.localPort, (ls = []));
    ls.push(s);
  }

  /** Gives the socket's port back (closing, or entering TIME-WAIT). */
  unbind(s: TcpSocket): void {
    const list = this.bindings.get(s.localPort);
    if (list) {
      removeFrom(list, s);
      if (list.length === 0) this.bindings.delete(s.localPort);
    }
    const ls = this.listeners.get(s.localPort);
    if (ls) {
      removeFrom(ls, s);
      if (ls.length === 0) this.listeners.delete(s.localPort);
    }
    s.bound = false;
  }

  /** The listener for a segment to (dst, port): one bound to dst, else a wildcard one. */
  findListener(dst: IpAddress, port: number): TcpSocket | undefined {
    const list = this.listeners.get(port);
    if (list === undefined) return undefined;
    let wild: TcpSocket | undefined;
    for (const l of list) {
      if (l.localAddr === undefined) wild = l;
      else if (l.localAddr.equals(dst)) return l;
    }
    return wild;
  }
}

export function removeFrom<T>(list: T[], x: T): void {
  const i = list.indexOf(x);
  if (i >= 0) list.splice(i, 1);
}
