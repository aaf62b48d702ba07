/**
 * UDP port forwards both ways. UDP has no connections, so each forward keeps a flow
 * per client address: the first datagram from a client opens a socket on the other
 * side (an ephemeral port), replies to it go back to that client, and a flow that has
 * been quiet for `idleTimeoutMs` is closed. The flow table is capped (`maxFlows`): a
 * datagram that would open one more flow is dropped and counted.
 *
 * - host → virtual: a loopback UDP port on the host to a virtual address:port;
 * - virtual → host: a virtual UDP port to a host address:port.
 */
import { createSocket as hostSocket, type Socket as HostUdpSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { HostPort } from './config.js';
import type { Logger } from './log.js';
import type { VirtualDgram, VirtualUdpSocket } from './services.js';
import type { SessionTable } from './sessions.js';

export interface UdpForwardStats {
  /** Flows open now. */
  flows: number;
  flowsOpened: number;
  /** Closed after `idleTimeoutMs` without a datagram either way. */
  flowsExpired: number;
  /** Datagrams dropped because the flow table was full. */
  flowsRefused: number;
  datagramsIn: number;
  datagramsOut: number;
}

export interface RunningUdpForward {
  description: string;
  listening: HostPort;
  stats(): UdpForwardStats;
  close(): Promise<void>;
}

export interface UdpForwardOptions {
  log: Logger;
  sessions: SessionTable;
  idleTimeoutMs: number;
  maxFlows: number;
}

/** What both directions need from a datagram socket. */
interface Dgram {
  send(msg: Uint8Array, port: number, address: string): void;
  close(): void;
}

interface Flow {
  peer: { address: string; port: number };
  /** The socket on the other side that this client's datagrams go out of. */
  out: Dgram;
  last: number;
}

const fmt = (hp: HostPort) => (hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`);
const familyOf = (host: string): 'udp4' | 'udp6' => (isIP(host) === 6 ? 'udp6' : 'udp4');

/** The flow table with its cap, idle sweep and counters; `open` makes the other side's socket. */
class FlowTable {
  readonly flows = new Map<string, Flow>();
  readonly counters = { flowsOpened: 0, flowsExpired: 0, flowsRefused: 0, datagramsIn: 0, datagramsOut: 0 };
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly opts: UdpForwardOptions,
    private readonly description: string,
  ) {
    this.timer = setInterval(() => this.sweep(), Math.max(50, Math.min(5000, opts.idleTimeoutMs / 2)));
    this.timer.unref();
  }

  /** The flow of `peer`, opened with `open` when new; undefined when the table is full. */
  get(
    peer: { address: string; port: number },
    open: (reply: (msg: Buffer) => void) => Dgram,
    reply: (msg: Buffer) => void,
  ) {
    const key = `${peer.address}|${peer.port}`;
    let f = this.flows.get(key);
    if (!f) {
      if (this.flows.size >= this.opts.maxFlows) {
        if (this.counters.flowsRefused++ === 0)
          this.opts.log.warn(
            { forward: this.description, maxFlows: this.opts.maxFlows },
            'UDP flow table full: dropping',
          );
        return undefined;
      }
      f = { peer: { ...peer }, out: open(reply), last: Date.now() };
      this.flows.set(key, f);
      this.counters.flowsOpened++;
    }
    f.last = Date.now();
    return f;
  }

  private sweep(): void {
    const limit = Date.now() - this.opts.idleTimeoutMs;
    for (const [k, f] of this.flows) {
      if (f.last > limit) continue;
      this.flows.delete(k);
      this.counters.flowsExpired++;
      f.out.close();
    }
  }

  stats(): UdpForwardStats {
    return { flows: this.flows.size, ...this.counters };
  }

  close(): void {
    clearInterval(this.timer);
    for (const f of this.flows.values()) f.out.close();
    this.flows.clear();
  }
}

function bindHost(s: HostUdpSocket, port: number, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, host, () => {
      s.off('error', reject);
      resolve();
    });
  });
}

function bindVirtual(s: VirtualUdpSocket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    s.on('error', reject);
    s.bind(port, () => resolve());
  });
}

/** A host loopback UDP port → a virtual address:port; replies go back to each client. */
export async function startUdpHostToVirtual(
  dgram: VirtualDgram,
  fw: { listen: HostPort; connect: HostPort },
  opts: UdpForwardOptions,
): Promise<RunningUdpForward> {
  const description = `udp host ${fmt(fw.listen)} -> virtual ${fmt(fw.connect)}`;
  const table = new FlowTable(opts, description);
  const listener = hostSocket({ type: familyOf(fw.listen.host) });
  await bindHost(listener, fw.listen.port, fw.listen.host);
  listener.on('error', (e) => opts.log.error({ err: e, forward: description }, 'UDP forward error'));
  listener.on('message', (msg, rinfo) => {
    const f = table.get(
      rinfo,
      (reply) => {
        const v = dgram.createSocket(familyOf(fw.connect.host));
        v.on('message', (m) => reply(m));
        v.on('error', (e) => opts.log.debug({ err: e, forward: description }, 'UDP flow error'));
        v.bind(0);
        return v;
      },
      (m) => {
        table.counters.datagramsIn++;
        opts.sessions.countBytes('forward', 'in', m.length);
        const fl = table.flows.get(`${rinfo.address}|${rinfo.port}`);
        if (fl) fl.last = Date.now();
        listener.send(m, rinfo.port, rinfo.address);
      },
    );
    if (!f) return;
    table.counters.datagramsOut++;
    opts.sessions.countBytes('forward', 'out', msg.length);
    f.out.send(msg, fw.connect.port, fw.connect.host);
  });
  const a = listener.address();
  return {
    description,
    listening: { host: a.address, port: a.port },
    stats: () => table.stats(),
    close: async () => {
      table.close();
      await new Promise<void>((r) => listener.close(() => r()));
    },
  };
}

/** A virtual UDP port → a host address:port; replies go back to each virtual client. */
export async function startUdpVirtualToHost(
  dgram: VirtualDgram,
  fw: { listen: HostPort; connect: HostPort },
  opts: UdpForwardOptions,
): Promise<RunningUdpForward> {
  const description = `udp virtual ${fmt(fw.listen)} -> host ${fmt(fw.connect)}`;
  const table = new FlowTable(opts, description);
  // The wildcard listens on both families: an IPv6 socket on [::] may take IPv4 too
  // (then the IPv4 bind finds the port in use and one socket serves both).
  const wildcard = fw.listen.host === '0.0.0.0' || fw.listen.host === '::';
  const types: ('udp4' | 'udp6')[] = wildcard ? ['udp6', 'udp4'] : [familyOf(fw.listen.host)];
  const listeners: VirtualUdpSocket[] = [];
  for (const type of types) {
    const v = dgram.createSocket(type);
    try {
      await bindVirtual(v, fw.listen.port);
    } catch (e) {
      v.close();
      if (type === 'udp4' && listeners.length > 0 && (e as { code?: string }).code === 'EADDRINUSE') break;
      table.close();
      for (const l of listeners) l.close();
      throw e;
    }
    listeners.push(v);
    v.on('message', (msg, rinfo) => {
      const key = `${rinfo.address}|${rinfo.port}`;
      const f = table.get(
        rinfo,
        (reply) => {
          const h = hostSocket({ type: familyOf(fw.connect.host) });
          h.on('message', (m) => reply(m));
          h.on('error', (e) => opts.log.debug({ err: e, forward: description }, 'UDP flow error'));
          return { send: (m, port, address) => h.send(m, port, address), close: () => h.close() };
        },
        (m) => {
          table.counters.datagramsIn++;
          opts.sessions.countBytes('forward', 'out', m.length);
          const fl = table.flows.get(key);
          if (fl) fl.last = Date.now();
          v.send(m, rinfo.port, rinfo.address);
        },
      );
      if (!f) return;
      table.counters.datagramsOut++;
      opts.sessions.countBytes('forward', 'in', msg.length);
      f.out.send(msg, fw.connect.port, fw.connect.host);
    });
  }
  return {
    description,
    listening: { host: fw.listen.host, port: fw.listen.port },
    stats: () => table.stats(),
    close: async () => {
      table.close();
      for (const l of listeners) l.close();
    },
  };
}
