/** The README's examples are examples/ files, as written, and they run (issue 19). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNamespace, type Namespace, skipReason } from '@tapstack/interop/netns';
import { assertReadmeShows, runExample } from '@tapstack/interop/readme';

const dir = join(import.meta.dirname, '..');

describe('README example', () => {
  it('is the text of examples/ping-and-stats.ts', () => {
    assertReadmeShows(dir, 'examples/ping-and-stats.ts');
  });
  it('runs: pings over IPv4 and IPv6 are answered', () => {
    const out = runExample(dir, 'examples/ping-and-stats.ts');
    expect(out).toMatch(/^ping 192\.0\.2\.2: reply from 192\.0\.2\.2, ttl 64$/m);
    expect(out).toMatch(/^ping 2001:db8::2: reply from 2001:db8::2, ttl 64$/m);
    expect(out).toMatch(/^a: 1 ARP and 1 NDP entries, p1 sent \d+ frames$/m);
  }, 30_000);
});

const reason = skipReason(['ip']);
if (reason) console.log(`README TAP example skipped: ${reason}`);

describe('README example on a TAP device', () => {
  it('is the text of examples/tap-ping.ts', () => {
    assertReadmeShows(dir, 'examples/tap-ping.ts');
  });

  describe.skipIf(reason !== undefined)('in a network namespace (root)', () => {
    let ns: Namespace | undefined;
    afterAll(() => ns?.delete());

    it('runs after the kernel-side commands of its comment: the kernel answers both pings', async () => {
      // The commands are the example's own comment lines, so the comment is tested too.
      const text = readFileSync(join(dir, 'examples/tap-ping.ts'), 'utf8');
      const commands = [...text.matchAll(/^\/\/ {3}(ip .*)$/gm)].map((m) => m[1]!);
      expect(commands.length).toBe(2);
      ns = createNamespace();
      ns.run(['sh', '-c', commands.join(' && ')]);
      const r = await ns.exec(
        [
          'sh',
          '-c',
          `cd ${dir} && exec ${process.execPath} --conditions=development --import tsx examples/tap-ping.ts`,
        ],
        { timeoutMs: 30_000 },
      );
      expect(r.stdout).toMatch(/^ping 192\.0\.2\.1: the kernel answered from 192\.0\.2\.1, ttl 64$/m);
      expect(r.stdout).toMatch(/^ping 2001:db8::1: the kernel answered from 2001:db8::1, ttl 64$/m);
    }, 60_000);
  });
});
