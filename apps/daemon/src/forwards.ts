/**
 * Port forwards both ways: a host TCP port on loopback to a virtual address:port
 * (hostToVirtual), and a virtual port to a host address:port (virtualToHost). Each
 * accepted connection opens the other side, and socket-bridge's forward plumbing joins
 * the host socket straight to the stack's TCP handle (a HandlePump: reads sized to the
 * free send space, pooled receive buffers, 1 MiB windows), not two Duplex streams piped.
 */
import { createConnection as hostConnect, createServer as hostServer, type Server } from 'node:net';
import { forwardToStack, StackAcceptor } from '@tapstack/socket-bridge';
import type { SocketHost } from '@tapstack/stack-driver';
import type { HostPort } from './config.js';
import type { Logger } from './log.js';
import type { SessionTable } from './sessions.js';

export interface RunningForward {
  description: string;
  /** The bound listen address (port resolved when 0 was asked for). */
  listening: HostPort;
  close(): Promise<void>;
}

const fmt = (hp: HostPort) => (hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`);

export async function startHostToVirtual(
  host: SocketHost,
  fw: { listen: HostPort; connect: HostPort },
  opts: { log: Logger; sessions: SessionTable },
): Promise<RunningForward> {
  const description = `host ${fmt(fw.listen)} -> virtual ${fmt(fw.connect)}`;
  const server: Server = hostServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const session = forwardToStack(host, client, fw.connect, {
      onBytes: (dir, n) => opts.sessions.countBytes('forward', dir === 'up' ? 'out' : 'in', n),
      onEnd: (how, err) => opts.log.debug({ forward: description, how, err }, 'forwarded connection closed'),
    });
    opts.sessions.add('forward', client, () => session.abort());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(fw.listen.port, fw.listen.host, () => resolve());
  });
  server.on('error', (e) => opts.log.error({ err: e, forward: description }, 'forward listener error'));
  const a = server.address();
  const listening = typeof a === 'object' && a ? { host: a.address, port: a.port } : fw.listen;
  return {
    description,
    listening,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export async function startVirtualToHost(
  host: SocketHost,
  fw: { listen: HostPort; connect: HostPort },
  opts: { log: Logger; sessions: SessionTable },
): Promise<RunningForward> {
  const description = `virtual ${fmt(fw.listen)} -> host ${fmt(fw.connect)}`;
  const acceptor = new StackAcceptor(host, (c) => {
    const local = hostConnect({ host: fw.connect.host, port: fw.connect.port, allowHalfOpen: true });
    let session: { abort(): void } | undefined;
    opts.sessions.add('forward', local, () => {
      if (session) session.abort();
      else {
        c.reset();
        local.destroy();
      }
    });
    const failed = (err: Error) => {
      // The host side refused or failed before the join: the virtual peer gets a RST.
      c.reset();
      opts.log.debug({ forward: description, err }, 'forwarded connection closed');
    };
    local.once('error', failed);
    local.once('connect', () => {
      local.off('error', failed);
      session = c.join(local, {
        onBytes: (dir, n) => opts.sessions.countBytes('forward', dir === 'up' ? 'out' : 'in', n),
        onEnd: (how, err) =>
          opts.log.debug({ forward: description, how, err }, 'forwarded connection closed'),
      });
    });
  });
  const vhost = fw.listen.host === '0.0.0.0' || fw.listen.host === '::' ? undefined : fw.listen.host;
  const bound = acceptor.listen(fw.listen.port, vhost);
  return {
    description,
    listening: { host: bound.address, port: bound.port },
    close: async () => acceptor.close(),
  };
}
