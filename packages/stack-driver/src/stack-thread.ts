/**
 * `StackThread`: the whole stack on a worker thread (stack-worker.ts), with the same
 * synchronous `SocketHost` on this thread. Every socket call is one blocking round
 * trip over a shared-memory channel (stack-rpc.ts); socket events arrive by message.
 * Links are opened on the stack thread from serializable specs.
 */
import type { Worker } from 'node:worker_threads';
import {
  type Handle,
  type Instant,
  type IpAddress,
  parseIpAddress,
  SocketError,
  type SocketEventMask,
  type TcpInfo,
  type TcpSocketOptions,
} from '@tapstack/stack-core';
import { DnsError } from './dns.js';
import type { LinkConfig, PingResult, StackDriverOptions } from './driver.js';
import type { WorkerLinkSpec } from './io-worker.js';
import type { SocketHost } from './socket-host.js';
import {
  createChannel,
  getText,
  IDLE,
  Op,
  putText,
  R,
  REPLY,
  REQUEST,
  type StackChannel,
} from './stack-rpc.js';
import { startWorker } from './worker-boot.js';

export interface StackThreadLinkConfig extends Omit<LinkConfig, 'link' | 'worker' | 'mac' | 'threading'> {
  /** How the stack thread opens the link (e.g. tap-io's `openTap` with `{ name }`). */
  spec: WorkerLinkSpec;
  /** Put frame I/O on a further worker, joined to the stack thread by two rings [false]. */
  ioThread?: boolean;
  mac?: string;
}

export interface StackThreadOptions extends Omit<StackDriverOptions, 'links' | 'createStack' | 'random'> {
  links: StackThreadLinkConfig[];
}

export interface StackThreadData {
  options: StackThreadOptions;
  channel: SharedArrayBuffer;
}

interface Reply {
  type: string;
  id?: number;
  error?: { message: string; code?: string; hostname?: string };
  [k: string]: unknown;
}

export class StackThread {
  /** The socket API, on this thread; calls block briefly while the stack thread runs them. */
  readonly sockets: SocketHost;
  readonly macs: Uint8Array[];
  private readonly worker: Worker;
  private readonly ch: StackChannel;
  private readonly listeners = new Map<Handle, (ev: SocketEventMask) => void>();
  private readonly pending = new Map<number, (r: Reply) => void>();
  private nextId = 1;
  private closed = false;
  /** Why the stack thread died, if it did (socket calls then throw with it as the cause). */
  failure: Error | undefined;
  /** Round trips made (one per socket call). */
  calls = 0;
  /** Longest a socket call may block waiting for the stack thread [30000]. */
  callTimeoutMs = 30_000;

  private constructor(worker: Worker, ch: StackChannel, macs: Uint8Array[]) {
    this.worker = worker;
    this.ch = ch;
    this.macs = macs;
    this.sockets = this.makeHost();
    worker.on('exit', () => {
      this.closed = true;
    });
    worker.on('error', (e) => {
      this.failure = e;
      this.closed = true;
    });
    worker.on('message', (m: Reply & { events?: number[] }) => {
      if (m.type === 'events' && m.events) {
        const e = m.events;
        for (let i = 0; i < e.length; i += 2) this.listeners.get(e[i]!)?.(e[i + 1]!);
      } else if (m.type === 'reply' && m.id !== undefined) {
        const cb = this.pending.get(m.id);
        this.pending.delete(m.id);
        cb?.(m);
      }
    });
  }

  /** Starts the stack thread, which opens the links and configures addresses. */
  static async start(options: StackThreadOptions, { channelBytes = 256 * 1024 } = {}): Promise<StackThread> {
    const ch = createChannel(channelBytes);
    const data: StackThreadData = { options, channel: ch.sab };
    const worker = startWorker(import.meta.url, 'stack-worker', data);
    const macs = await new Promise<Uint8Array[]>((resolve, reject) => {
      const onMsg = (m: { type: string; macs?: number[][]; message?: string; code?: string }) => {
        if (m.type === 'ready') {
          worker.off('message', onMsg);
          resolve(m.macs!.map((x) => Uint8Array.from(x)));
        } else if (m.type === 'error') {
          worker.off('message', onMsg);
          void worker.terminate();
          reject(Object.assign(new Error(`stack thread: ${m.message}`), { code: m.code }));
        }
      };
      worker.on('message', onMsg);
      worker.once('error', reject);
    });
    return new StackThread(worker, ch, macs);
  }

  /** One blocking call: request in the channel, Atomics.wait for the reply. */
  private rpc(op: number, a0 = 0, a1 = 0, len = 0, len2 = 0): number {
    if (this.closed) {
      throw Object.assign(new Error('stack thread closed', { cause: this.failure }), {
        code: 'ERR_STACK_CLOSED',
      });
    }
    const i32 = this.ch.i32;
    this.calls++;
    i32[R.OP] = op;
    i32[R.A0] = a0;
    i32[R.A1] = a1;
    i32[R.LEN] = len;
    i32[R.LEN2] = len2;
    Atomics.store(i32, R.STATE, REQUEST);
    Atomics.notify(i32, R.STATE);
    // A stack thread that died or hangs must not hang this thread forever.
    const deadline = Date.now() + this.callTimeoutMs;
    while (Atomics.load(i32, R.STATE) !== REPLY) {
      if (Atomics.wait(i32, R.STATE, REQUEST, 1000) === 'timed-out' && Date.now() > deadline) {
        this.closed = true;
        void this.worker.terminate();
        throw Object.assign(new Error(`stack thread did not answer within ${this.callTimeoutMs} ms`), {
          code: 'ETIMEDOUT',
        });
      }
    }
    const r = i32[R.RESULT]!;
    Atomics.store(i32, R.STATE, IDLE);
    if (r === -1001) throw new Error(`stack thread: ${getText(this.ch, 0, i32[R.LEN]!)}`);
    return r;
  }

  private text(text: string | undefined): number {
    return text === undefined ? 0 : putText(this.ch, text);
  }

  private json<T>(): T {
    return JSON.parse(getText(this.ch, 0, this.ch.i32[R.LEN]!)) as T;
  }

  private message(body: Record<string, unknown>): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (r) => {
        if (r.error) reject(Object.assign(new Error(r.error.message), r.error));
        else resolve(r);
      });
      this.worker.postMessage({ ...body, id });
    });
  }

  private makeHost(): SocketHost {
    const ch = this.ch;
    const rpc = this.rpc.bind(this);
    const text = this.text.bind(this);
    const max = ch.data.length;
    return {
      tcpOpen: (o?: TcpSocketOptions) => rpc(Op.tcpOpen, 0, 0, o ? text(JSON.stringify(o)) : 0),
      tcpBind: (h, a, p) => rpc(Op.tcpBind, h, p, text(a?.toString())) as 0 | SocketError,
      tcpConnect: (h, a, p, _now: Instant) => rpc(Op.tcpConnect, h, p, text(a.toString())) as 0 | SocketError,
      tcpListen: (h, b) => rpc(Op.tcpListen, h, b) as 0 | SocketError,
      tcpAccept: (h) => {
        const r = rpc(Op.tcpAccept, h);
        return r < 0 ? undefined : r;
      },
      tcpSend: (h, d) => {
        const n = Math.min(d.length, max);
        ch.data.set(d.subarray(0, n));
        return rpc(Op.tcpSend, h, 0, n);
      },
      tcpSendSpace: (h) => rpc(Op.tcpSendSpace, h),
      tcpRecv: (h, into) => {
        const r = rpc(Op.tcpRecv, h, Math.min(into.length, max));
        if (r > 0) into.set(ch.data.subarray(0, r));
        return r;
      },
      tcpShutdown: (h) => rpc(Op.tcpShutdown, h) as 0 | SocketError,
      tcpClose: (h) => void rpc(Op.tcpClose, h),
      tcpAbort: (h) => void rpc(Op.tcpAbort, h),
      tcpSetNoDelay: (h, on) => void rpc(Op.tcpSetNoDelay, h, on ? 1 : 0),
      tcpSetKeepAlive: (h, ms) => void rpc(Op.tcpSetKeepAlive, h, ms),
      tcpInfo: (h) => {
        if (rpc(Op.tcpInfo, h) !== 1) return undefined;
        const i = this.json<
          Omit<TcpInfo, 'localAddress' | 'remoteAddress'> & { localAddress?: string; remoteAddress?: string }
        >();
        return {
          ...i,
          localAddress: i.localAddress ? parseIpAddress(i.localAddress) : undefined,
          remoteAddress: i.remoteAddress ? parseIpAddress(i.remoteAddress) : undefined,
        };
      },
      udpOpen: (o) => rpc(Op.udpOpen, 0, 0, o ? text(JSON.stringify(o)) : 0),
      udpBind: (h, a, p) => rpc(Op.udpBind, h, p, text(a?.toString())) as 0 | SocketError,
      udpSend: (h, d, a, p) => {
        const alen = text(a.toString());
        if (d.length > max - alen) return -SocketError.EMSGSIZE;
        ch.data.set(d, alen);
        return rpc(Op.udpSend, h, p, d.length, alen);
      },
      udpRecv: (h) => {
        const port = rpc(Op.udpRecv, h);
        if (port < 0) return undefined;
        const len = ch.i32[R.LEN]!;
        const alen = ch.i32[R.LEN2]!;
        return { data: ch.data.slice(alen, alen + len), address: parseIpAddress(getText(ch, 0, alen)), port };
      },
      udpLocal: (h) => {
        if (rpc(Op.udpLocal, h) !== 1) return undefined;
        const l = this.json<{ address?: string; port: number }>();
        return { address: l.address ? parseIpAddress(l.address) : undefined, port: l.port };
      },
      udpClose: (h) => void rpc(Op.udpClose, h),
      socketError: (h) => rpc(Op.socketError, h) as 0 | SocketError,
      watch: (h, listener) => {
        this.listeners.set(h, listener);
        rpc(Op.watch, h);
      },
      unwatch: (h) => {
        this.listeners.delete(h);
        if (!this.closed) rpc(Op.unwatch, h);
      },
      // Every call already polls on the stack thread.
      kick: () => {},
      lookup: (name, family = 0) => this.lookup(name, family),
      now: () => performance.now(),
    };
  }

  async lookup(name: string, family: 0 | 4 | 6 = 0): Promise<IpAddress[]> {
    try {
      const r = await this.message({ type: 'lookup', name, family });
      return (r.addresses as string[]).map(parseIpAddress);
    } catch (e) {
      const err = e as Error & { code?: string; hostname?: string };
      throw err.code ? new DnsError(err.code, err.hostname ?? name) : err;
    }
  }

  async ping(address: string, { timeoutMs = 2000 } = {}): Promise<PingResult> {
    return (await this.message({ type: 'ping', address, timeoutMs })).result as PingResult;
  }

  async lease(
    link = 0,
    timeoutMs = 30_000,
  ): Promise<{ address: string; prefixLength: number; router?: string; dnsServers: string[] }> {
    return (await this.message({ type: 'lease', link, timeoutMs })).lease as never;
  }

  /** The addresses of interface `iface` (as `Stack.addresses`, with text addresses). */
  addresses(iface = 0): { address: string; prefixLength: number; origin: string; tentative: boolean }[] {
    this.rpc(Op.addresses, iface);
    return this.json();
  }

  /**
   * What link `index` (opened on the stack thread) reports of itself through its optional
   * `status()` (plain data, e.g. a WireGuard link's peers); undefined when it has none.
   */
  linkStatus<T = unknown>(index: number): T | undefined {
    if (this.closed || this.rpc(Op.linkStatus, index) !== 1) return undefined;
    return this.json<T>();
  }

  /** The stack thread's stats snapshot (the same keys as StackDriver.stats()). */
  stats(): Record<string, number> {
    this.rpc(Op.stats);
    return { ...this.json<Record<string, number>>(), 'stackThread.calls': this.calls };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.message({ type: 'close' }).catch(() => {});
    this.closed = true;
    await this.worker.terminate();
  }
}
