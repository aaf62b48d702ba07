/**
 * Port forwards both ways: a host TCP port on loopback to a virtual address:port
 * (hostToVirtual), and a virtual port to a host address:port (virtualToHost). Each
 * accepted connection opens the other side and relays bytes (relay.ts).
 */
import { createConnection as hostConnect, createServer as hostServer, type Server } from 'node:net';
import type { HostPort } from './config.js';
import type { Logger } from './log.js';
import { hardClose, relay } from './relay.js';
import type { VirtualNet, VirtualServer } from './services.js';
import type { SessionTable } from './sessions.js';

export interface RunningForward {
  description: string;
  /** The bound listen address (port resolved when 0 was asked for). */
  listening: HostPort;
  close(): Promise<void>;
}

const fmt = (hp: HostPort) => (hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`);

export async function startHostToVirtual(
  net: VirtualNet,
  fw: { listen: HostPort; connect: HostPort },
  opts: { log: Logger; sessions: SessionTable },
): Promise<RunningForward> {
  const description = `host ${fmt(fw.listen)} -> virtual ${fmt(fw.connect)}`;
  const server: Server = hostServer({ allowHalfOpen: true }, (client) => {
    const remote = net.createConnection({
      host: fw.connect.host,
      port: fw.connect.port,
      allowHalfOpen: true,
    });
    opts.sessions.add('forward', client, () => {
      hardClose(client);
      hardClose(remote);
    });
    relay(client, remote, {
      onBytes: (dir, n) => opts.sessions.countBytes('forward', dir === 'ab' ? 'out' : 'in', n),
      onClose: (err) => opts.log.debug({ forward: description, err }, 'forwarded connection closed'),
    });
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
  net: VirtualNet,
  fw: { listen: HostPort; connect: HostPort },
  opts: { log: Logger; sessions: SessionTable },
): Promise<RunningForward> {
  const description = `virtual ${fmt(fw.listen)} -> host ${fmt(fw.connect)}`;
  const server: VirtualServer = net.createServer({ allowHalfOpen: true }, (vsock) => {
    const local = hostConnect({ host: fw.connect.host, port: fw.connect.port, allowHalfOpen: true });
    opts.sessions.add('forward', vsock, () => {
      hardClose(vsock);
      hardClose(local);
    });
    relay(vsock, local, {
      onBytes: (dir, n) => opts.sessions.countBytes('forward', dir === 'ab' ? 'in' : 'out', n),
      onClose: (err) => opts.log.debug({ forward: description, err }, 'forwarded connection closed'),
    });
  });
  const host = fw.listen.host === '0.0.0.0' || fw.listen.host === '::' ? undefined : fw.listen.host;
  await new Promise<void>((resolve, reject) => {
    server.on('error', reject);
    server.listen({ port: fw.listen.port, host }, () => resolve());
  });
  const a = server.address();
  return {
    description,
    listening: a ? { host: a.address, port: a.port } : fw.listen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
