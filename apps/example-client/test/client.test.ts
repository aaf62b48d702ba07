/**
 * The example client against two real daemons: every request goes through daemon A's
 * bridge, over A's stack, the VXLAN tunnel and B's stack.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTarget } from '../src/connect.js';
import { echoSession } from '../src/echo.js';
import { fetchVirtual } from '../src/fetch.js';
import { parseSize } from '../src/main.js';
import { createProgress } from '../src/progress.js';
import { serve } from '../src/serve.js';
import { throughput } from '../src/throughput.js';
import { udpEcho } from '../src/udp.js';
import { type Daemons, startDaemons } from './daemons.js';

describe('argument parsing', () => {
  it('sizes and targets', () => {
    expect(parseSize('32MiB')).toBe(32 * 1048576);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('1000')).toBe(1000);
    expect(() => parseSize('lots')).toThrow(/size/);
    expect(parseTarget('[2001:db8::2]:7')).toEqual({ host: '2001:db8::2', port: 7 });
    expect(parseTarget('192.0.2.2:80')).toEqual({ host: '192.0.2.2', port: 80 });
    expect(() => parseTarget('192.0.2.2')).toThrow(/host:port/);
    expect(() => parseTarget('h:70000')).toThrow(/port/);
  });
});

/** Runs the binary with its stdout a pipe whose reader is already gone (`| head` that exited). */
function runIntoClosedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const bin = join(import.meta.dirname, '../bin/tapstack-example.mjs');
  const c = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  c.stdout.destroy();
  let stderr = '';
  c.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve) => c.on('close', (code) => resolve({ code, stderr })));
}

describe('a closed stdout pipe (issue 19: `| head -4` printed an EPIPE stack trace)', () => {
  it('exits quietly with 141, like a Unix tool killed by SIGPIPE', async () => {
    const r = await runIntoClosedPipe(['--help']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(141);
  }, 20_000);
});

describe('through the bridge', () => {
  let d: Daemons;
  beforeAll(async () => {
    d = await startDaemons();
  }, 30_000);
  afterAll(async () => {
    await d?.stop();
  });

  it('fetches a page from the other stack with node:http', async () => {
    const r = await fetchVirtual(d.bridgeA, 'http://192.0.2.2/some/path');
    expect(r.status).toBe(200);
    expect(r.body).toContain('Hello from tapstack node b');
    // B saw A's virtual address as the client: the request crossed both stacks.
    expect(r.body).toMatch(/to 192\.0\.2\.1:\d+, for \/some\/path/);
    expect(r.path).toMatch(/^192\.0\.2\.1:\d+ -> 192\.0\.2\.2:80$/);
  });

  it('never falls back to the host network: a missing bridge is ENOENT', async () => {
    await expect(fetchVirtual(join(d.dir, 'missing.sock'), 'http://192.0.2.2/')).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('runs an echo session over IPv6', async () => {
    const seen: number[] = [];
    const r = await echoSession(d.bridgeA, parseTarget('[2001:db8::2]:7'), {
      count: 4,
      size: 2000,
      onMessage: (i) => seen.push(i),
    });
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(r.bytes).toBe(8000);
    expect(r.rttMs.min).toBeGreaterThan(0);
    expect(r.rttMs.max).toBeGreaterThanOrEqual(r.rttMs.avg);
    expect(r.path).toMatch(/^\[2001:db8::1\]:\d+ -> \[2001:db8::2\]:7$/);
  });

  it('sends datagrams to a UDP echo through the bridge, IPv4 and IPv6', async () => {
    for (const t of ['192.0.2.2:7', '[2001:db8::2]:7']) {
      const r = await udpEcho(d.bridgeA, parseTarget(t), { count: 3 });
      expect(r, t).toMatchObject({ sent: 3, received: 3 });
      expect(r.rttMs!.min).toBeGreaterThan(0);
    }
    // Nobody answers on another port: the datagrams time out, nothing comes back.
    const none = await udpEcho(d.bridgeA, parseTarget('192.0.2.2:9'), { count: 1, timeoutMs: 300 });
    expect(none).toMatchObject({ sent: 1, received: 0, rttMs: undefined });
  });

  it('reports a refused port with its Node error code', async () => {
    await expect(echoSession(d.bridgeA, parseTarget('192.0.2.2:9'))).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('measures throughput with checked data and plain progress lines off a TTY', async () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const r = await throughput(d.bridgeA, parseTarget('192.0.2.2:7'), {
      bytes: 4 * 1048576,
      progress: createProgress(stream),
    });
    expect(r.bytes).toBe(4 * 1048576);
    expect(r.mibPerSecond).toBeGreaterThan(0);
    expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
    // One line per quarter (the figure is where the quarter was crossed), ending at 4.0.
    const text = lines.join('').trim().split('\n');
    expect(text.map((l) => /\((\d+)%\)$/.exec(l)?.[1])).toEqual(['25', '50', '75', '100']);
    for (const l of text) expect(l).toMatch(/^throughput: [\d.]+ \/ 4\.0 MiB \(\d+%\)$/);
    expect(text.at(-1)).toBe('throughput: 4.0 / 4.0 MiB (100%)');
  });

  it('serves HTTP and echo attached to B through the bridge (LISTEN/ACCEPT)', async () => {
    const server = await serve({
      bridge: d.bridgeB,
      http: 8080,
      echo: 7007,
      name: 'test server',
      log: () => {},
    });
    try {
      expect(server.listening).toEqual(['0.0.0.0:8080', '0.0.0.0:7007']);
      const r = await fetchVirtual(d.bridgeA, 'http://192.0.2.2:8080/x');
      expect(r.status).toBe(200);
      expect(r.body).toContain('Hello from test server');
      expect(r.body).toMatch(/answered 192\.0\.2\.1:\d+ on 192\.0\.2\.2:8080, path \/x/);
      const e = await echoSession(d.bridgeA, parseTarget('192.0.2.2:7007'), { count: 2 });
      expect(e.messages).toBe(2);
      expect(server.served).toEqual({ http: 1, echo: 1 });
    } finally {
      server.close();
    }
  });

  it('the binary prints readable lines and a RESULT line with --json', () => {
    const bin = join(import.meta.dirname, '../bin/tapstack-example.mjs');
    const r = spawnSync(
      process.execPath,
      [bin, '--bridge', d.bridgeA, '--json', 'echo', '192.0.2.2:7', '-n', '2'],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^echo 1: "hello 1 from the example client via the bridge" came back in [\d.]+ ms$/m,
    );
    const result = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(JSON.parse(result!.slice(7)).echo).toMatchObject({ target: '192.0.2.2:7', messages: 2 });
  });

  it('fetch into a closed pipe is quiet', async () => {
    const r = await runIntoClosedPipe(['--bridge', d.bridgeA, 'fetch', 'http://192.0.2.2/']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(141);
  }, 20_000);

  it('the binary exits 1 with the error code when the daemon refuses', () => {
    const bin = join(import.meta.dirname, '../bin/tapstack-example.mjs');
    const r = spawnSync(process.execPath, [bin, '--bridge', d.bridgeA, 'fetch', 'http://192.0.2.2:81/'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^tapstack-example: ECONNREFUSED: /);
  });
});
