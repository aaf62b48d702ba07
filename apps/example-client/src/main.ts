/**
 * tapstack-example: a program that reaches a tapstack virtual network only through a
 * daemon's AF_UNIX bridge. Commands: fetch (HTTP GET with node:http), echo (a session
 * with an echo service), udp (datagrams to a UDP echo), throughput (bytes there and
 * back, checked), serve (an HTTP / echo server attached through the bridge), and tour
 * (fetch + echo + udp + throughput).
 */
import { defaultBridgePath } from '@tapstack/socket-bridge';
import { Command, CommanderError, Option } from 'commander';
import { parseTarget } from './connect.js';
import { echoSession } from './echo.js';
import { fetchVirtual } from './fetch.js';
import { quietOnClosedPipe } from './pipe.js';
import { createProgress } from './progress.js';
import { serve } from './serve.js';
import { throughput } from './throughput.js';
import { udpEcho } from './udp.js';

const MiB = 1048576;

/** "64MiB", "32M", "1048576", "512KiB" → bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|ki|kib|kb|m|mi|mib|mb|g|gi|gib|gb)?$/i.exec(text.trim());
  if (!m) throw new Error(`expected a size like 32MiB, got "${text}"`);
  const unit = (m[2] ?? '').toLowerCase()[0];
  const mult = unit === 'k' ? 1024 : unit === 'm' ? MiB : unit === 'g' ? 1024 * MiB : 1;
  return Math.round(Number(m[1]) * mult);
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function result(json: boolean, obj: unknown): void {
  if (json) out(`RESULT ${JSON.stringify(obj)}`);
}

export function buildProgram(): Command {
  const p = new Command('tapstack-example');
  p.description('Uses a tapstack daemon only through its AF_UNIX bridge.')
    .exitOverride()
    .addOption(
      new Option('-b, --bridge <path>', 'the daemon bridge socket')
        .env('TAPSTACK_BRIDGE')
        .default(defaultBridgePath()),
    )
    .option('--json', 'also print one machine-readable RESULT line', false);
  const g = () => p.opts() as { bridge: string; json: boolean };

  p.command('fetch')
    .description('HTTP GET a URL on the virtual network (node:http + the bridge)')
    .argument('<url>', 'e.g. http://192.0.2.2/')
    .action(async (url: string) => {
      const r = await fetchVirtual(g().bridge, url);
      out(
        `fetch ${url}: HTTP ${r.status}, ${Buffer.byteLength(r.body)} bytes in ${r.ms.toFixed(1)} ms (${r.path})`,
      );
      for (const line of r.body.trim().split('\n')) out(`  | ${line}`);
      result(g().json, {
        fetch: { url, status: r.status, bytes: Buffer.byteLength(r.body), ms: r.ms, path: r.path },
      });
      if (r.status !== 200) process.exitCode = 1;
    });

  p.command('echo')
    .description('an echo session: each message must come back byte for byte')
    .argument('<host:port>', 'echo service, e.g. 192.0.2.2:7 or [2001:db8::2]:7')
    .option('-n, --count <n>', 'messages', '5')
    .option('-s, --size <bytes>', 'pad each message to this size', '0')
    .action(async (target: string, o: { count: string; size: string }) => {
      const r = await echoSession(g().bridge, parseTarget(target), {
        count: Number(o.count),
        size: Number(o.size),
        onMessage: (i, text, ms) => out(`echo ${i}: "${text.slice(0, 60)}" came back in ${ms.toFixed(2)} ms`),
      });
      out(
        `echo ${target}: ${r.messages} messages, ${r.bytes} bytes, rtt min/avg/max ` +
          `${r.rttMs.min.toFixed(2)}/${r.rttMs.avg.toFixed(2)}/${r.rttMs.max.toFixed(2)} ms (${r.path})`,
      );
      result(g().json, { echo: { target, ...r } });
    });

  p.command('udp')
    .description('datagrams to a UDP echo service through the bridge (UDP verb)')
    .argument('<host:port>', 'UDP echo service, e.g. 192.0.2.2:7')
    .option('-n, --count <n>', 'datagrams', '3')
    .action(async (target: string, o: { count: string }) => {
      const r = await udpEcho(g().bridge, parseTarget(target), {
        count: Number(o.count),
        onReply: (i, ms) => out(`udp ${i}: came back in ${ms.toFixed(2)} ms`),
      });
      out(
        `udp ${target}: ${r.received}/${r.sent} datagrams came back` +
          (r.rttMs ? `, rtt avg ${r.rttMs.avg.toFixed(2)} ms` : '') +
          ` (from ${r.local})`,
      );
      result(g().json, { udp: { target, ...r } });
      if (r.received === 0) process.exitCode = 1;
    });

  p.command('throughput')
    .description('stream bytes to an echo service and back, check SHA-256, report MiB/s')
    .argument('<host:port>', 'echo service')
    .option('--bytes <size>', 'how much to send', '32MiB')
    .action(async (target: string, o: { bytes: string }) => {
      const r = await throughput(g().bridge, parseTarget(target), {
        bytes: parseSize(o.bytes),
        progress: createProgress(process.stdout),
      });
      out(
        `throughput ${target}: ${(r.bytes / MiB).toFixed(1)} MiB there and back in ${r.seconds.toFixed(2)} s = ` +
          `${r.mibPerSecond.toFixed(1)} MiB/s each way, sha256 ok (${r.sha256.slice(0, 16)}...) (${r.path})`,
      );
      result(g().json, { throughput: { target, ...r } });
    });

  p.command('serve')
    .description('serve HTTP and/or echo on virtual ports, attached through the bridge (LISTEN/ACCEPT)')
    .option('--http <port>', 'virtual port for the HTTP page')
    .option('--echo <port>', 'virtual port for echo')
    .option('--name <name>', 'name shown on the page', 'the example server')
    .action(async (o: { http?: string; echo?: string; name: string }) => {
      const s = await serve({
        bridge: g().bridge,
        ...(o.http ? { http: Number(o.http) } : {}),
        ...(o.echo ? { echo: Number(o.echo) } : {}),
        name: o.name,
      });
      out(`serving on ${s.listening.join(', ')} through ${g().bridge}`);
      result(g().json, { serve: { listening: s.listening, pid: process.pid } });
      await new Promise<void>((resolve) => {
        const stop = () => {
          s.close();
          out(`served ${s.served.http} HTTP requests, ${s.served.echo} echo sessions`);
          resolve();
          // Pending ACCEPTs hold bridge connections open; nothing else is left to finish.
          setImmediate(() => process.exit(0));
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  p.command('tour')
    .description('fetch a URL, run an echo session and a throughput test, one after the other')
    .requiredOption('--url <url>', 'page to fetch')
    .requiredOption('--echo <host:port>', 'echo service')
    .option('--udp <host:port>', 'UDP echo service (optional)')
    .option('--bytes <size>', 'throughput test size', '32MiB')
    .action(async (o: { url: string; echo: string; udp?: string; bytes: string }) => {
      const f = await fetchVirtual(g().bridge, o.url);
      out(
        `fetch ${o.url}: HTTP ${f.status}, ${Buffer.byteLength(f.body)} bytes in ${f.ms.toFixed(1)} ms (${f.path})`,
      );
      for (const line of f.body.trim().split('\n')) out(`  | ${line}`);
      if (f.status !== 200) throw new Error(`fetch: HTTP ${f.status}`);
      const target = parseTarget(o.echo);
      const e = await echoSession(g().bridge, target, {
        count: 3,
        onMessage: (i, text, ms) => out(`echo ${i}: "${text}" came back in ${ms.toFixed(2)} ms`),
      });
      out(`echo: ${e.messages} messages, rtt avg ${e.rttMs.avg.toFixed(2)} ms (${e.path})`);
      let u: Awaited<ReturnType<typeof udpEcho>> | undefined;
      if (o.udp) {
        u = await udpEcho(g().bridge, parseTarget(o.udp), { count: 3 });
        out(
          `udp: ${u.received}/${u.sent} datagrams came back from ${o.udp}` +
            (u.rttMs ? `, rtt avg ${u.rttMs.avg.toFixed(2)} ms` : ''),
        );
        if (u.received === 0) throw new Error(`udp: no datagram came back from ${o.udp}`);
      }
      const t = await throughput(g().bridge, target, {
        bytes: parseSize(o.bytes),
        progress: createProgress(process.stdout),
      });
      out(
        `throughput: ${(t.bytes / MiB).toFixed(1)} MiB there and back in ${t.seconds.toFixed(2)} s = ` +
          `${t.mibPerSecond.toFixed(1)} MiB/s each way, sha256 ok (${t.path})`,
      );
      result(g().json, {
        fetch: { status: f.status, bytes: Buffer.byteLength(f.body), ms: f.ms, path: f.path },
        echo: e,
        ...(u ? { udp: u } : {}),
        throughput: t,
      });
    });
  return p;
}

export async function main(argv: string[]): Promise<void> {
  quietOnClosedPipe();
  const p = buildProgram();
  try {
    await p.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    const err = e as Error & { code?: string };
    process.stderr.write(`tapstack-example: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
    process.exitCode = 1;
  }
}
