/**
 * A stack on an IP-only interface over a Linux TUN device, against the kernel in a namespace
 * this test creates and deletes (root; skipped otherwise): the kernel pings the stack, and
 * TCP runs both ways (nc in the namespace), SHA-256 checked. No Ethernet, no ARP on the wire.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIpAddress } from '@tapstack/stack-core';
import { openTun } from '@tapstack/tap-io';
import { afterAll, describe, expect, it } from 'vitest';
import { createNamespace, type Namespace, skipReason, waitFor } from '@tapstack/interop/netns';
import { StackDriver } from '../src/driver.js';
import { acceptOne, connect, pattern, readAll, sha256, writeAll } from './helpers.js';

const skip = skipReason(['nc', 'ping', 'sha256sum']);
if (skip) console.warn(`stack-on-TUN tests skipped: ${skip}`);

const SIZE = Number(process.env.TUN_TEST_MIB ?? 256) << 20;

describe.skipIf(skip !== undefined)('a stack on a TUN device (IP-only interface) against the kernel', () => {
  let ns: Namespace | undefined;
  let driver: StackDriver | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tapstack-tun-'));
  const name = `tsdt${process.pid % 100000}`;

  afterAll(async () => {
    await driver?.close();
    ns?.delete();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`ping, then ${SIZE >> 20} MiB by TCP each way, SHA-256 checked`, async () => {
    const tun = openTun({ name, mtu: 1500 });
    expect(tun.medium).toBe('ip');
    driver = await StackDriver.create({ links: [{ link: tun, addresses: ['192.0.2.1/24'] }] });
    ns = createNamespace();
    ns.adoptLink(name, ['192.0.2.254/24']);

    const ping = await ns.exec(['ping', '-c', '3', '-i', '0.2', '-W', '2', '192.0.2.1'], {
      allowFailure: true,
    });
    expect(ping.stdout).toContain('3 received');

    // Kernel -> stack: nc in the namespace sends a file, the stack reads it to EOF.
    const data = pattern(SIZE, 5);
    writeFileSync(join(dir, 'in.bin'), data);
    const accepted = acceptOne(driver.sockets, undefined, 9000);
    const sender = ns.exec(['sh', '-c', `nc -N 192.0.2.1 9000 < ${join(dir, 'in.bin')}`], {
      timeoutMs: 120_000,
    });
    const s = await accepted;
    const got = await readAll(driver.sockets, s);
    // nc -N waits for our FIN after its own.
    driver.sockets.tcpClose(s);
    await sender;
    expect(got.length).toBe(SIZE);
    expect(got.sha256).toBe(sha256(data));

    // Stack -> kernel: nc listens in the namespace and writes what it gets to a file.
    const out = join(dir, 'out.bin');
    const listener = ns.exec(['sh', '-c', `nc -l 192.0.2.254 9001 > ${out}`], { timeoutMs: 120_000 });
    let c: number | undefined;
    await waitFor(
      async () => {
        try {
          c = await connect(driver!.sockets, parseIpAddress('192.0.2.254'), 9001);
          return true;
        } catch {
          return false;
        }
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'nc listening in the namespace' },
    );
    await writeAll(driver.sockets, c!, data);
    await listener; // nc -l exits at our FIN
    const sum = ns.run(['sha256sum', out]).split(' ')[0];
    expect(sum).toBe(createHash('sha256').update(data).digest('hex'));
    driver.sockets.tcpClose(c!);
  }, 180_000);
});
