/**
 * The README's shell walkthroughs run as written (issue 19: pasted, they failed). Each
 * tagged block (`<!-- readme-test:NAME -->` before a ```sh fence) runs with bash in a
 * network namespace of its own, with a private /tmp (a mount namespace), so the fixed
 * ports and paths of the README collide with nothing. `tapstackd` and `tapstack-example`
 * are put on PATH as the README says. Root only (skipped otherwise).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, type Namespace, skipReason } from '@tapstack/interop/netns';

const repo = join(import.meta.dirname, '../../..');
const reason = skipReason(['unshare', 'socat', 'curl']);
if (reason) console.log(`README walkthrough tests skipped: ${reason}`);

/** The ```sh block right after `<!-- readme-test:name -->` in a README. */
export function taggedBlock(readmePath: string, name: string): string {
  const text = readFileSync(readmePath, 'utf8');
  const tag = `<!-- readme-test:${name} -->\n\`\`\`sh\n`;
  const at = text.indexOf(tag);
  if (at < 0) throw new Error(`${readmePath}: no block tagged ${name}`);
  const start = at + tag.length;
  return text.slice(start, text.indexOf('```', start));
}

/** Runs `script` under bash in `ns` with a private /tmp; background jobs are killed at the end. */
function runScript(ns: Namespace, script: string) {
  const prelude = [
    // -e: a failing command fails the test. No pipefail: as in an interactive shell, `| head -4`
    // may end the writer early (it exits 141, quietly), and that is fine.
    'set -eu',
    // The clone may itself live under /tmp (CI clones there): reach it through a bind
    // mount made before the private /tmp hides it.
    `mount --bind ${repo} /mnt`,
    'mount -t tmpfs tmpfs /tmp',
    'ip link set lo up',
    'cd /mnt',
    'mkdir /tmp/bin',
    'ln -s /mnt/apps/daemon/bin/tapstackd.mjs /tmp/bin/tapstackd',
    'ln -s /mnt/apps/example-client/bin/tapstack-example.mjs /tmp/bin/tapstack-example',
    'export PATH=/tmp/bin:$PATH',
    // Stop what the walkthrough left running (by PID), and wait for it.
    'trap \'for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done; wait\' EXIT',
  ].join('\n');
  return ns.exec(['unshare', '--mount', '--propagation', 'private', 'bash', '-c', `${prelude}\n${script}`], {
    timeoutMs: 90_000,
    allowFailure: true,
  });
}

describe.skipIf(reason !== undefined)('README walkthroughs', () => {
  let ns: Namespace;
  beforeAll(() => {
    ns = createNamespace();
  });
  afterAll(() => ns?.delete());

  it("daemon README's two nodes, then the example client README's commands against them", async () => {
    const twoNodes = taggedBlock(join(repo, 'apps/daemon/README.md'), 'two-nodes');
    const client = taggedBlock(join(repo, 'apps/example-client/README.md'), 'example-client');
    const r = await runScript(ns, `${twoNodes}\necho '--- example client'\n${client}`);
    const out = `${r.stdout}\n--- stderr\n${r.stderr}`;
    if (process.env.NC_DEBUG) console.log(r.code, out);
    expect(r.code, out).toBe(0);
    const [nodes, ex] = r.stdout.split('--- example client');
    // curl through the host forward and through SOCKS5: B's page, twice.
    expect(nodes!.match(/Hello from tapstack node b/g)?.length, out).toBe(2);
    expect(nodes, out).toMatch(/^hello$/m); // the bridge CONNECT to B's echo, with socat
    expect(nodes, out).toMatch(/^tapstack_sessions_open\{/m);
    expect(nodes, out).toMatch(/^LINK +TYPE/m); // tapstackd status
    expect(ex, out).toMatch(/^fetch http:\/\/192\.0\.2\.2\/: HTTP 200/m);
    expect(ex, out).toMatch(/^echo \[2001:db8::2\]:7: 5 messages/m);
    expect(ex, out).toMatch(/^udp 192\.0\.2\.2:7: 3\/3 datagrams came back/m);
    expect(ex, out).toMatch(/^throughput 192\.0\.2\.2:7: 8\.0 MiB there and back .* sha256 ok/m);
    expect(ex, out).toMatch(/^udp: 3\/3 datagrams came back/m);
    expect(ex, out).toMatch(/^fetch http:\/\/192\.0\.2\.2:8000\/: HTTP 200/m);
    expect(r.stderr, out).not.toMatch(/EPIPE|Error|\bat .*\(/);
  }, 120_000);
});

describe.skipIf(reason !== undefined || skipReason(['ping', 'python3', 'ss']) !== undefined)(
  'README: TAP in a network namespace',
  () => {
    // The block creates and deletes its own namespace: run it in the root namespace with
    // a name of the harness's form (a crashed run's leftover is swept) and its own /tmp dir.
    const name = `tsi-${process.pid}-doc`;
    const dir = mkdtempSync(join(tmpdir(), 'tapstack-readme-'));
    afterAll(() => {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', stdio: 'pipe' });
        for (const p of pids.split(/\s+/).filter(Boolean)) process.kill(Number(p), 'SIGKILL');
        execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
      } catch {
        // the walkthrough deleted it, as it should
      }
      rmSync(dir, { recursive: true, force: true });
    });

    it('runs as written: the kernel reaches tapstack and tapstack reaches the kernel', () => {
      const block = taggedBlock(join(repo, 'apps/daemon/README.md'), 'tap-netns');
      const script = block.replaceAll('tsdoc', name).replaceAll('/tmp/', `${dir}/`);
      let out = '';
      let code = 0;
      try {
        out = execFileSync('bash', ['-c', `set -eu\ncd ${repo}\n${script}`], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 90_000,
        });
      } catch (e) {
        const x = e as { status: number; stdout: string; stderr: string };
        code = x.status;
        out = `${x.stdout}\n--- stderr\n${x.stderr}`;
      }
      expect(code, out).toBe(0);
      expect(out).toMatch(/2 packets transmitted, 2 received/);
      expect(out.match(/Hello from tapstack node tapstackd/g)?.length, out).toBe(2);
      expect(out).toMatch(/^fetch http:\/\/192\.0\.2\.254:8000\/: HTTP 200/m);
      expect(out).toMatch(/^<!DOCTYPE HTML>/im); // python3 http.server, through SOCKS5 in the namespace
      expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(name);
    }, 120_000);
  },
);
