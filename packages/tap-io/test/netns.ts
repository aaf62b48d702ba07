/**
 * Network namespace fixture for root tests: every namespace and link it creates is
 * deleted by cleanup(), which tests call in finally blocks and afterAll.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sh } from './helpers.js';

const run = promisify(execFile);

export class Netns {
  private readonly links: string[] = [];
  private created = false;
  constructor(readonly name: string) {}

  create(): this {
    sh('ip', ['netns', 'add', this.name]);
    this.created = true;
    this.ip(['link', 'set', 'lo', 'up']);
    return this;
  }

  /** `ip -n <ns> ...` */
  ip(args: string[]): string {
    return sh('ip', ['-n', this.name, ...args]);
  }

  /** Runs a command inside the namespace without blocking the event loop. */
  async exec(cmd: string, args: string[]): Promise<{ stdout: string; code: number }> {
    try {
      const r = await run('ip', ['netns', 'exec', this.name, cmd, ...args], { encoding: 'utf8' });
      return { stdout: r.stdout, code: 0 };
    } catch (e) {
      const err = e as { stdout?: string; code?: number };
      return { stdout: err.stdout ?? '', code: typeof err.code === 'number' ? err.code : 1 };
    }
  }

  /** Remembers a root-namespace link to delete at cleanup (veth ends, leftover TAPs). */
  ownRootLink(name: string): void {
    this.links.push(name);
  }

  cleanup(): void {
    if (this.created) {
      try {
        sh('ip', ['netns', 'del', this.name]);
      } catch {
        // already gone
      }
      this.created = false;
    }
    for (const l of this.links.splice(0)) {
      try {
        sh('ip', ['link', 'del', l]);
      } catch {
        // deleted with the namespace or by closing its fd
      }
    }
  }
}

/** Kernel RX packet counter of a link (in a namespace, or the root one). */
export function rxPackets(link: string, ns?: Netns): number {
  const args = ['-j', '-s', 'link', 'show', 'dev', link];
  const out = ns ? ns.ip(args) : sh('ip', args);
  const j = JSON.parse(out) as Array<{ stats64: { rx: { packets: number } } }>;
  return j[0]!.stats64.rx.packets;
}
