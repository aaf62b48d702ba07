/**
 * Two tapstackd processes for the example client's tests, joined by VXLAN over UDP on
 * loopback (like the demo). The client only ever sees their bridge sockets. Started
 * from the daemon's binary (not imported: this app depends on socket-bridge only).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeUdpPort } from '@tapstack/testkit';

const daemonBin = join(import.meta.dirname, '../../daemon/bin/tapstackd.mjs');

function startDaemon(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [daemonBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('"ready":true')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`tapstackd exited ${code}: ${err}`)));
  });
}

export interface Daemons {
  dir: string;
  /** Bridge socket of daemon A (192.0.2.1, 2001:db8::1). */
  bridgeA: string;
  /** Bridge socket of daemon B (192.0.2.2, 2001:db8::2): echo on 7 (TCP and UDP), HTTP page on 80. */
  bridgeB: string;
  stop(): Promise<void>;
}

export async function startDaemons(): Promise<Daemons> {
  const dir = mkdtempSync(join(tmpdir(), 'tapstack-example-test-'));
  const common = ['--link', 'vxlan', '--log-level', 'warn', '--drain-timeout', '200'];
  const start = async (pa: number, pb: number) => {
    const started = await Promise.allSettled([
      startDaemon([
        ...common,
        ...['--name', 'a', '--vxlan-port', String(pa), '--peer', `127.0.0.1:${pb}`],
        ...['--address', '192.0.2.1/24', '--address', '2001:db8::1/64', '--bridge', join(dir, 'a.sock')],
      ]),
      startDaemon([
        ...common,
        ...['--name', 'b', '--vxlan-port', String(pb), '--peer', `127.0.0.1:${pa}`],
        ...['--address', '192.0.2.2/24', '--address', '2001:db8::2/64', '--bridge', join(dir, 'b.sock')],
        ...['--serve-echo', '7', '--serve-http', '80', '--serve-udp-echo', '7'],
      ]),
    ]);
    const failed = started.find((r) => r.status === 'rejected');
    if (!failed) return started.map((r) => (r as PromiseFulfilledResult<ChildProcess>).value);
    for (const r of started) if (r.status === 'fulfilled') process.kill(r.value.pid!, 'SIGKILL');
    throw failed.reason;
  };
  let children: ChildProcess[] | undefined;
  // A port found free may be taken before the daemon binds it: retry on EADDRINUSE.
  for (let attempt = 1; !children; attempt++) {
    try {
      children = await start(await freeUdpPort(), await freeUdpPort());
    } catch (e) {
      if (attempt < 3 && /EADDRINUSE/.test((e as Error).message)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }
  const all = children;
  return {
    dir,
    bridgeA: join(dir, 'a.sock'),
    bridgeB: join(dir, 'b.sock'),
    async stop() {
      await Promise.all(
        all.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null) return resolve();
              c.once('exit', () => resolve());
              process.kill(c.pid!, 'SIGTERM');
              setTimeout(() => {
                if (c.exitCode === null) process.kill(c.pid!, 'SIGKILL');
              }, 3000);
            }),
        ),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
