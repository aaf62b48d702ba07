/**
 * `tapstackd status`: asks a running daemon over its metrics endpoint (GET /status) for
 * its links, addresses, peers, sessions and counters, and prints them as a table (or the
 * JSON with --json). The endpoint comes from --metrics, or from the config file (-c).
 */
import { request } from 'node:http';
import { Command, CommanderError } from 'commander';
import { ConfigError, readConfigFile, validateConfig } from './config.js';
import type { DaemonStatus } from './daemon.js';

type Listen = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export function fetchStatus(listen: Listen, timeoutMs = 5000): Promise<DaemonStatus> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...(listen.kind === 'unix' ? { socketPath: listen.path } : { host: listen.host, port: listen.port }),
        path: '/status',
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`GET /status: HTTP ${res.statusCode}: ${body.trim()}`));
            return;
          }
          try {
            resolve(JSON.parse(body) as DaemonStatus);
          } catch (e) {
            reject(e);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The human-readable form. */
export function formatStatus(s: DaemonStatus): string {
  const out: string[] = [];
  out.push(
    `${s.name} (pid ${s.pid}), up ${s.uptimeSeconds} s${s.draining ? ', DRAINING' : ''}` +
      `\nbridge ${s.bridge ?? 'off'}   socks ${s.socks ?? 'off'}   metrics ${s.metrics ?? 'off'}`,
  );
  out.push('');
  out.push(
    table([
      ['LINK', 'TYPE', 'MAC', 'MTU', 'ADDRESSES', 'PEERS', 'RX FRAMES', 'TX FRAMES', 'DROPS'],
      ...s.links.map((l) => [
        l.name,
        l.type,
        l.mac,
        l.mtu === undefined ? '-' : String(l.mtu),
        l.addresses.join(' ') || '-',
        l.peers.join(' ') || (l.udp ? `(udp ${l.udp})` : '-'),
        String(l.counters.rxFrames ?? 0),
        String(l.counters.txFrames ?? 0),
        String((l.counters.rxDropped ?? 0) + (l.counters.txDropped ?? 0)),
      ]),
    ]),
  );
  for (const l of s.links) {
    const w = l.wireguard;
    if (!w) continue;
    const now = Date.now() / 1000;
    out.push('');
    out.push(
      `wireguard ${l.name}: public key ${w.publicKey}, listening on port ${w.listenPort}, transport AEAD ${w.aead === 'openssl' ? 'OpenSSL (batched)' : 'node:crypto'}`,
    );
    out.push(
      table([
        ['PEER', 'ENDPOINT', 'ALLOWED IPS', 'LATEST HANDSHAKE', 'RX BYTES', 'TX BYTES'],
        ...w.peers.map((p) => [
          p.publicKey,
          p.endpoint ?? '(none)',
          p.allowedIps.join(', ') || '(none)',
          p.latestHandshake === 0 ? 'never' : `${Math.max(0, Math.round(now - p.latestHandshake))} s ago`,
          String(p.rxBytes),
          String(p.txBytes),
        ]),
      ]),
    );
  }
  out.push('');
  const kinds = Object.keys(s.sessions.open) as (keyof DaemonStatus['sessions']['open'])[];
  out.push(
    table([
      ['SESSIONS', ...kinds],
      ['open', ...kinds.map((k) => String(s.sessions.open[k]))],
      [
        'accepted',
        ...kinds.map((k) => (k === 'forward' || k === 'service' ? String(s.sessions.accepted[k]) : '-')),
      ],
    ]),
  );
  if (s.forwards.length || s.services.length) {
    out.push('');
    out.push(
      table([
        ['LISTENER', 'ADDRESS'],
        ...s.forwards.map((f) => [f.description, f.listen]),
        ...s.services.map((x) => [`service ${x.name}`, `virtual port ${x.port}`]),
      ]),
    );
  }
  out.push('');
  out.push(table([['STACK', 'VALUE'], ...Object.entries(s.stack).map(([k, v]) => [k, String(v)])]));
  return `${out.join('\n')}\n`;
}

/** `tapstackd status …`; returns the exit code (0 ok, 1 no answer, 2 usage). */
export async function statusMain(argv: string[]): Promise<number> {
  const p = new Command('tapstackd status')
    .description('show a running daemon: links, addresses, peers, sessions, counters (GET /status)')
    .option('--metrics <unix:path|[host:]port>', "the daemon's metrics endpoint (metrics.listen)")
    .option('-c, --config <file>', "take the endpoint from the daemon's config file")
    .option('--json', 'print the JSON as the daemon sent it', false)
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s) });
  try {
    p.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.code === 'commander.helpDisplayed' ? 0 : 2;
    throw e;
  }
  const o = p.opts() as { metrics?: string; config?: string; json: boolean };
  let listen: Listen | undefined;
  try {
    const raw: Record<string, unknown> = o.config
      ? ((readConfigFile(o.config) ?? {}) as Record<string, unknown>)
      : {};
    if (o.metrics) raw.metrics = { listen: o.metrics };
    listen = validateConfig(raw, o.config ?? 'flags').metrics.listen;
  } catch (e) {
    if (!ConfigError.isInstance(e)) throw e;
    process.stderr.write(`tapstackd status: ${e.message}\n`);
    return 2;
  }
  if (!listen) {
    process.stderr.write(
      'tapstackd status: say where the daemon listens: --metrics unix:<path>|[host:]port, or -c <config> with metrics.listen\n',
    );
    return 2;
  }
  let s: DaemonStatus;
  try {
    s = await fetchStatus(listen);
  } catch (e) {
    const err = e as Error & { code?: string };
    const where = listen.kind === 'unix' ? `unix:${listen.path}` : `${listen.host}:${listen.port}`;
    process.stderr.write(
      `tapstackd status: no daemon answers at ${where}: ${err.code ? `${err.code}: ` : ''}${err.message}\n`,
    );
    return 1;
  }
  process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
  return 0;
}
