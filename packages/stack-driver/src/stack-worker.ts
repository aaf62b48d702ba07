/**
 * The stack thread: runs a whole StackDriver (stack, loop, timers, DHCP, DNS) on a
 * worker. Links are opened here (a TAP link's native reader thread does the receiving)
 * or, with `ioThread`, on a further frame I/O worker joined by two frame rings. The
 * main thread's socket calls arrive over the synchronous channel (stack-rpc.ts); socket
 * events go back by postMessage, one message per loop turn.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  type IpAddress,
  parseIpAddress,
  SOCKET_CALLS,
  type SocketCall,
  type TcpSocketOptions,
} from '@tapstack/stack-core';
import { StackDriver, type StackDriverOptions } from './driver.js';
import type { Link } from '@tapstack/frame-ring';
import { attachChannel, getText, Op, putText, R, REPLY, REQUEST } from './stack-rpc.js';
import type { StackThreadData } from './stack-thread.js';

const port = parentPort!;
const { options, channel } = workerData as StackThreadData;
const ch = attachChannel(channel);

function addr(off: number, len: number): IpAddress | undefined {
  return len === 0 ? undefined : parseIpAddress(getText(ch, off, len));
}

async function main(): Promise<void> {
  const links: StackDriverOptions['links'] = [];
  // The links opened on this thread, by index: linkStatus asks them (e.g. a WireGuard link's peers).
  const opened: Array<Link | undefined> = [];
  for (const l of options.links) {
    const { spec, ioThread, ...rest } = l;
    if (ioThread) {
      links.push({ ...rest, worker: spec });
      opened.push(undefined);
    } else {
      const mod = (await import(spec.module)) as Record<string, unknown>;
      const factory = mod[spec.export] as (...a: unknown[]) => Link | Promise<Link>;
      if (typeof factory !== 'function') throw new TypeError(`${spec.module} has no export ${spec.export}`);
      const link = await factory(...(spec.args ?? []));
      links.push({ ...rest, link });
      opened.push(link);
    }
  }
  const { links: _ignored, ...driverOptions } = options;
  const driver = await StackDriver.create({ ...driverOptions, links });
  const host = driver.sockets;

  // Socket events for the main thread, batched into one message per turn.
  let events: number[] = [];
  let flushQueued = false;
  const flush = () => {
    flushQueued = false;
    const e = events;
    events = [];
    port.postMessage({ type: 'events', events: e });
  };
  const forward = (h: number) => (ev: number) => {
    events.push(h, ev);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flush);
    }
  };

  const i32 = ch.i32;
  const data = ch.data;
  // One call's arguments and reply, shared by the handlers below.
  let a0 = 0;
  let a1 = 0;
  let len = 0;
  let result = 0;
  let outLen = 0;
  let outLen2 = 0;
  /** A handler per socket call (stack-core's SocketCalls): one missing here fails to compile. */
  const socketCall: { readonly [K in SocketCall]: () => void } = {
    tcpOpen: () => {
      result = host.tcpOpen(len ? (JSON.parse(getText(ch, 0, len)) as TcpSocketOptions) : undefined);
    },
    tcpBind: () => {
      result = host.tcpBind(a0, addr(0, len), a1);
    },
    tcpConnect: () => {
      // This thread's clock: performance.now() has a different origin on each thread.
      result = host.tcpConnect(a0, addr(0, len)!, a1, host.now());
    },
    tcpListen: () => {
      result = host.tcpListen(a0, a1);
    },
    tcpAccept: () => {
      result = host.tcpAccept(a0) ?? -1;
    },
    tcpSend: () => {
      result = host.tcpSend(a0, data.subarray(0, len));
    },
    tcpSendSpace: () => {
      result = host.tcpSendSpace(a0);
    },
    tcpRecv: () => {
      result = host.tcpRecv(a0, data.subarray(0, Math.min(a1, data.length)));
    },
    tcpShutdown: () => {
      result = host.tcpShutdown(a0);
    },
    tcpClose: () => {
      host.tcpClose(a0);
    },
    tcpAbort: () => {
      host.tcpAbort(a0);
    },
    tcpSetNoDelay: () => {
      host.tcpSetNoDelay(a0, a1 !== 0);
    },
    tcpSetKeepAlive: () => {
      host.tcpSetKeepAlive(a0, a1);
    },
    tcpInfo: () => {
      const info = host.tcpInfo(a0);
      if (info) {
        const json = JSON.stringify({
          ...info,
          localAddress: info.localAddress?.toString(),
          remoteAddress: info.remoteAddress?.toString(),
        });
        outLen = putText(ch, json);
        result = 1;
      }
    },
    udpOpen: () => {
      result = host.udpOpen(len ? JSON.parse(getText(ch, 0, len)) : undefined);
    },
    udpBind: () => {
      result = host.udpBind(a0, addr(0, len), a1);
    },
    udpSend: () => {
      const alen = i32[R.LEN2]!;
      result = host.udpSend(a0, data.subarray(alen, alen + len), addr(0, alen)!, a1);
    },
    udpRecv: () => {
      const d = host.udpRecv(a0);
      if (!d) {
        result = -1;
        return;
      }
      outLen2 = putText(ch, d.address.toString());
      data.set(d.data.subarray(0, data.length - outLen2), outLen2);
      outLen = Math.min(d.data.length, data.length - outLen2);
      result = d.port;
    },
    udpLocal: () => {
      const l = host.udpLocal(a0);
      if (l) {
        outLen = putText(ch, JSON.stringify({ address: l.address?.toString(), port: l.port }));
        result = 1;
      }
    },
    udpClose: () => {
      host.udpClose(a0);
    },
    socketError: () => {
      result = host.socketError(a0);
    },
  };
  const call = (): void => {
    const op = i32[R.OP]!;
    a0 = i32[R.A0]!;
    a1 = i32[R.A1]!;
    len = i32[R.LEN]!;
    result = 0;
    outLen = 0;
    outLen2 = 0;
    const name = SOCKET_CALLS[op - 1];
    if (name !== undefined) socketCall[name]();
    else
      switch (op) {
        case Op.watch:
          host.watch(a0, forward(a0));
          break;
        case Op.unwatch:
          host.unwatch(a0);
          break;
        case Op.addresses:
          outLen = putText(
            ch,
            JSON.stringify(driver.stack.addresses(a0).map((x) => ({ ...x, address: x.address.toString() }))),
          );
          break;
        case Op.stats:
          outLen = putText(ch, JSON.stringify(driver.stats()));
          break;
        case Op.linkStatus: {
          // A link's own status() (plain data), if it has one: WireGuard's peers and handshakes.
          const st = (opened[a0] as { status?: () => unknown } | undefined)?.status?.();
          if (st !== undefined) {
            outLen = putText(ch, JSON.stringify(st));
            result = 1;
          }
          break;
        }
        default:
          result = -1000;
      }
    i32[R.RESULT] = result;
    i32[R.LEN] = outLen;
    i32[R.LEN2] = outLen2;
  };

  let closing = false;
  const serve = async () => {
    const waitAsync = (
      Atomics as unknown as {
        waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string };
      }
    ).waitAsync;
    while (!closing) {
      const state = Atomics.load(i32, R.STATE);
      if (state !== REQUEST) {
        const w = waitAsync(i32, R.STATE, state);
        if (w.async) await w.value;
        continue;
      }
      try {
        call();
      } catch (e) {
        i32[R.RESULT] = -1001;
        i32[R.LEN] = putText(ch, String((e as Error)?.message ?? e));
      }
      Atomics.store(i32, R.STATE, REPLY);
      Atomics.notify(i32, R.STATE);
    }
  };
  void serve();

  port.on(
    'message',
    async (m: {
      type: string;
      id?: number;
      name?: string;
      family?: 0 | 4 | 6;
      address?: string;
      timeoutMs?: number;
      link?: number;
    }) => {
      const reply = (body: Record<string, unknown>) => port.postMessage({ type: 'reply', id: m.id, ...body });
      try {
        if (m.type === 'lookup') {
          const r = await driver.lookup(m.name!, m.family ?? 0);
          reply({ addresses: r.map(String) });
        } else if (m.type === 'ping') {
          reply({ result: await driver.ping(m.address!, m.timeoutMs ? { timeoutMs: m.timeoutMs } : {}) });
        } else if (m.type === 'lease') {
          const l = await driver.lease(m.link ?? 0, m.timeoutMs ?? 30_000);
          reply({
            lease: {
              address: `${l.address}`,
              prefixLength: l.prefixLength,
              router: l.router?.toString(),
              dnsServers: l.dnsServers.map(String),
            },
          });
        } else if (m.type === 'close') {
          await driver.close();
          closing = true;
          // Wake serve() so it sees `closing`.
          Atomics.notify(i32, R.STATE);
          reply({});
          port.close();
        }
      } catch (e) {
        const err = e as Error & { code?: string };
        reply({
          error: { message: err.message, code: err.code, hostname: (err as { hostname?: string }).hostname },
        });
      }
    },
  );
  port.postMessage({ type: 'ready', macs: options.links.map((_, i) => Array.from(driver.macOf(i) ?? [])) });
}

main().catch((e) => {
  port.postMessage({ type: 'error', message: String(e?.stack ?? e), code: e?.code });
});
