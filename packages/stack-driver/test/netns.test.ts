/** The interop harness itself: namespaces are created, used and always deleted. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createNamespace, skipReason, withNamespace } from '@tapstack/interop/netns';

const skip = skipReason();
if (skip) console.warn(`netns harness tests skipped: ${skip}`);

function namespaces(): string {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
}

describe.skipIf(skip !== undefined)('tools/interop/netns', () => {
  it('creates a namespace with loopback up, runs commands in it, and deletes it', async () => {
    const ns = createNamespace();
    try {
      expect(namespaces()).toContain(ns.name);
      const r = await ns.exec(['ip', '-o', 'link', 'show', 'lo']);
      expect(r.stdout).toMatch(/LOOPBACK,UP/);
      // The namespace has no other interfaces: it cannot reach the host's networks.
      expect(ns.run(['ip', '-o', 'link']).trim().split('\n')).toHaveLength(1);
    } finally {
      ns.delete();
    }
    expect(namespaces()).not.toContain(ns.name);
  });

  it('deletes the namespace and kills what it started when the test body throws', async () => {
    let name = '';
    let pid = 0;
    await expect(
      withNamespace(async (ns) => {
        name = ns.name;
        const child = ns.spawn(['sleep', '60']);
        pid = child.pid!;
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(namespaces()).not.toContain(name);
    await new Promise((r) => setTimeout(r, 50));
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('moves a link into the namespace and configures it', async () => {
    await withNamespace(async (ns) => {
      const veth = `tsv${process.pid % 100000}`;
      execFileSync('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
      try {
        ns.adoptLink(veth, ['192.0.2.1/24', '2001:db8::1/64']);
        const addrs = ns.run(['ip', '-o', 'addr', 'show', 'dev', veth]);
        expect(addrs).toContain('192.0.2.1/24');
        expect(addrs).toContain('2001:db8::1/64');
      } finally {
        try {
          execFileSync('ip', ['link', 'del', `${veth}p`], { stdio: 'pipe' });
        } catch {
          // deleting the namespace removed the pair
        }
      }
    });
  });
});
