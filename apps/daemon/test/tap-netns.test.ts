/**
 * Interop with the Linux kernel over a TAP device (needs root; skips otherwise): the
 * daemon opens a TAP, the test moves its kernel side into a network namespace it
 * creates (and always deletes) and gives it 192.0.2.254 / 2001:db8::fe. Then the kernel
 * reaches a service on tapstack (curl to the daemon's HTTP page, v4 and v6), and
 * tapstack reaches a server on the kernel side (through the daemon's bridge, and curl
 * on the host through the daemon's SOCKS5 front).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { bridgeConnect } from '@tapstack/socket-bridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, type Namespace, skipReason } from '@tapstack/interop/netns';
import { validateConfig } from '../src/config.js';
import { Daemon } from '../src/daemon.js';
import { quietLogger, sleep, until } from './helpers.js';

const execFileAsync = promisify(execFile);
const reason = skipReason(['curl', 'python3']);
if (reason) console.log(`tap-netns tests skipped: ${reason}`);

for (const offload of [false, true])
  describe.skipIf(reason !== undefined)(
    `TAP in a network namespace${offload ? ', offload: true' : ''}`,
    () => {
      let ns: Namespace | undefined;
      let daemon: Daemon | undefined;
      let dir = '';
      const tap = `tsd${process.pid % 100000}${offload ? 'o' : ''}`;

      beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'tapstackd-tap-'));
        daemon = await Daemon.start(
          validateConfig({
            name: 'tap',
            links: [
              {
                type: 'tap',
                name: tap,
                addresses: ['192.0.2.1/24', '2001:db8::1/64'],
                mac: '02:00:5e:00:53:01',
                offload,
              },
            ],
            bridge: { path: join(dir, 'd.sock') },
            socks: { enabled: true, listen: '127.0.0.1:0' },
            services: { http: 80, echo: 7 },
          }),
          { logger: quietLogger('tap') },
        );
        ns = createNamespace();
        ns.adoptLink(tap, ['192.0.2.254/24', '2001:db8::fe/64']);
      });

      afterAll(async () => {
        ns?.delete();
        await daemon?.stop(0);
        rmSync(dir, { recursive: true, force: true });
      });

      it('the stack answers with its configured MAC, not the device one', async () => {
        const deviceMac = ns!.run(['cat', `/sys/class/net/${tap}/address`]).trim();
        expect(deviceMac).not.toBe('02:00:5e:00:53:01');
        await ns!.exec(['ping', '-c', '1', '-W', '2', '192.0.2.1']);
        expect(ns!.run(['ip', 'neigh', 'show', '192.0.2.1'])).toContain('02:00:5e:00:53:01');
      });

      it('the kernel reaches the daemon HTTP page over IPv4 and IPv6', async () => {
        const v4 = await ns!.exec(['curl', '-sS', '--max-time', '10', 'http://192.0.2.1/from-kernel']);
        expect(v4.stdout).toContain('Hello from tapstack node tap');
        expect(v4.stdout).toMatch(/to 192\.0\.2\.254:\d+, for \/from-kernel/);
        const v6 = await ns!.exec(['curl', '-sS', '-g', '--max-time', '10', 'http://[2001:db8::1]/v6']);
        expect(v6.stdout).toMatch(/to 2001:db8::fe:\d+, for \/v6/);
      });

      it('tapstack reaches a server on the kernel side through the bridge', async () => {
        const server = ns!.spawn([
          'python3',
          '-m',
          'http.server',
          '--bind',
          '192.0.2.254',
          '8000',
          '--directory',
          dir,
        ]);
        try {
          // Wait until the kernel-side server listens.
          const up = await until(async () => {
            const r = await ns!.exec(['curl', '-s', '-o', '/dev/null', 'http://192.0.2.254:8000/'], {
              allowFailure: true,
            });
            return r.code === 0;
          }, 10_000);
          expect(up).toBe(true);
          const s = await bridgeConnect({ path: join(dir, 'd.sock'), host: '192.0.2.254', port: 8000 });
          const body = await new Promise<string>((resolve, reject) => {
            let text = '';
            s.on('data', (d) => {
              text += d;
            });
            s.on('end', () => resolve(text));
            s.on('error', reject);
            s.end('GET / HTTP/1.0\r\n\r\n');
          });
          expect(body).toMatch(/^HTTP\/1\.0 200 OK/);
          expect(body).toContain('d.sock');
          // An unmodified program (curl, on the host) through the daemon's SOCKS5 front.
          // (Asynchronously: the daemon runs in this process.)
          const viaSocks = await execFileAsync('curl', [
            '-sS',
            '--max-time',
            '10',
            '--socks5-hostname',
            daemon!.info().socks!,
            'http://192.0.2.254:8000/',
          ]);
          expect(viaSocks.stdout).toContain('d.sock');
        } finally {
          if (server.pid) process.kill(server.pid, 'SIGKILL');
          await sleep(50);
        }
      });
    },
  );

const dhcpReason = skipReason(['curl', 'dnsmasq']);

describe.skipIf(dhcpReason !== undefined)('TAP with DHCP and SLAAC from dnsmasq in the namespace', () => {
  let ns: Namespace | undefined;
  let daemon: Daemon | undefined;
  let dir = '';
  const tap = `tsh${process.pid % 100000}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tapstackd-dhcp-'));
    daemon = await Daemon.start(
      validateConfig({
        name: 'auto',
        links: [{ type: 'tap', name: tap, dhcp: true, slaac: true }],
        bridge: { enabled: false },
        services: { http: 80 },
      }),
      { logger: quietLogger('auto') },
    );
    ns = createNamespace();
    ns.adoptLink(tap, ['192.0.2.254/24', '2001:db8::fe/64']);
    ns.spawn([
      'dnsmasq',
      '--no-daemon',
      '--conf-file=/dev/null',
      `--interface=${tap}`,
      '--bind-interfaces',
      '--port=0',
      '--no-resolv',
      '--no-hosts',
      `--dhcp-leasefile=${join(dir, 'leases')}`,
      '--pid-file=',
      '--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,10m',
      '--enable-ra',
      '--ra-param=*,3',
      '--dhcp-range=2001:db8::,ra-only,64,10m',
    ]);
  });

  afterAll(async () => {
    ns?.delete();
    await daemon?.stop(0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets an IPv4 lease and a SLAAC address, and the kernel reaches it on both', async () => {
    const addrs = () => daemon!.info().links[0]!.addresses;
    const v4 = () => addrs().find((a) => a.startsWith('192.0.2.'));
    const v6 = () => addrs().find((a) => a.startsWith('2001:db8:'));
    const ok = await until(() => v4() !== undefined && v6() !== undefined, 30_000);
    expect(ok, `addresses: ${addrs().join(' ')}`).toBe(true);
    const ip4 = v4()!.split('/')[0]!;
    const ip6 = v6()!.split('/')[0]!;
    const n = Number(ip4.split('.')[3]);
    expect(n).toBeGreaterThanOrEqual(100);
    expect(n).toBeLessThanOrEqual(150);
    expect(v4()!.endsWith('/24')).toBe(true);
    expect(v6()!.endsWith('/64')).toBe(true);
    const r4 = await ns!.exec(['curl', '-sS', '--max-time', '10', `http://${ip4}/dhcp`]);
    expect(r4.stdout).toContain('Hello from tapstack node auto');
    // SLAAC may still be running DAD for a moment after the address appears.
    const up6 = await until(async () => {
      const r = await ns!.exec(['curl', '-sS', '-g', '--max-time', '3', `http://[${ip6}]/slaac`], {
        allowFailure: true,
      });
      return r.stdout.includes('for /slaac');
    }, 10_000);
    expect(up6).toBe(true);
  }, 60_000);
});
