/**
 * The interop harness: network namespaces that a test creates, uses and always deletes.
 * Every namespace is named `tsi-<pid>-<n>` so that a later run can sweep the leftovers
 * of a crashed run (only those whose creating process is gone); processes started in
 * a namespace are tracked by PID and killed by PID when it is deleted.
 *
 * Import by relative path from any package's tests:
 *   import { createNamespace, skipReason } from '@tapstack/interop/netns';
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const PREFIX = 'tsi-';
let counter = 0;
const live = new Set<Namespace>();
let exitHookInstalled = false;

/** Why root-only interop tests cannot run here, or undefined when they can. */
export function skipReason(tools: string[] = []): string | undefined {
  if (process.platform !== 'linux') return 'interop tests need Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'interop tests need root';
  if (!existsSync('/dev/net/tun')) return 'interop tests need /dev/net/tun';
  for (const t of ['ip', ...tools]) {
    if (!which(t)) return `interop tests need \`${t}\` (apt-get install the package that provides it)`;
  }
  return undefined;
}

/** The full path of a command on PATH (or common sbin dirs), or undefined. */
export function which(cmd: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    if (d && existsSync(`${d}/${cmd}`)) return `${d}/${cmd}`;
  }
  return undefined;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Kill the process (by PID) and reject after this many ms [30000]. */
  timeoutMs?: number;
  /** Bytes written to stdin, then stdin is closed. */
  input?: Uint8Array | string;
  /** Resolve even when the exit code is not 0 [false: reject]. */
  allowFailure?: boolean;
}

export class Namespace {
  readonly name: string;
  private readonly children = new Set<ChildProcess>();
  private deleted = false;

  /** Use createNamespace(). */
  constructor(name: string) {
    this.name = name;
  }

  /** Runs a command inside the namespace synchronously; throws with its stderr on failure. */
  run(cmd: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.name, ...cmd], { encoding: 'utf8', stdio: 'pipe' });
  }

  /** Starts a long-running process inside the namespace; it is killed (by PID) on delete(). */
  spawn(cmd: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs a command inside the namespace and collects its output. */
  exec(cmd: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const { timeoutMs = 30_000, input, allowFailure = false } = options;
    return new Promise((resolve, reject) => {
      const child = this.spawn(cmd);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.on('data', (b: Buffer) => err.push(b));
      const timer = setTimeout(() => {
        if (child.pid) killPid(child.pid);
        reject(new Error(`timed out after ${timeoutMs} ms: ${cmd.join(' ')}`));
      }, timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        const r = {
          code: code ?? -1,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        };
        if (r.code !== 0 && !allowFailure) {
          reject(new Error(`\`${cmd.join(' ')}\` exited ${r.code}: ${r.stderr.trim()}`));
        } else {
          resolve(r);
        }
      });
      if (input !== undefined) child.stdin!.end(input);
      else child.stdin!.end();
    });
  }

  /**
   * Moves a link (made in the root namespace, e.g. a TAP device whose fd we hold) into
   * this namespace, assigns addresses and brings it up. The fd keeps working.
   */
  adoptLink(ifname: string, addresses: string[] = [], mtu?: number): void {
    execFileSync('ip', ['link', 'set', ifname, 'netns', this.name], { stdio: 'pipe' });
    // No DAD on the kernel side: the test wants the IPv6 address usable at once.
    this.run(['sysctl', '-q', '-w', `net.ipv6.conf.${ifname}.accept_dad=0`]);
    if (mtu !== undefined) this.run(['ip', 'link', 'set', ifname, 'mtu', String(mtu)]);
    for (const a of addresses) {
      this.run(['ip', 'addr', 'add', a, 'dev', ifname, ...(a.includes(':') ? ['nodad'] : [])]);
    }
    this.run(['ip', 'link', 'set', ifname, 'up']);
  }

  /** Kills what was started here (by PID) and deletes the namespace. Idempotent. */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    live.delete(this);
    for (const c of this.children) if (c.pid && c.exitCode === null) killPid(c.pid);
    // Anything else still inside was started by this test (the namespace is ours).
    try {
      const pids = execFileSync('ip', ['netns', 'pids', this.name], { encoding: 'utf8', stdio: 'pipe' });
      for (const p of pids.split(/\s+/).filter(Boolean)) killPid(Number(p));
    } catch {
      // already gone
    }
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'pipe' });
    } catch {
      // already gone
    }
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already exited
  }
}

/** Deletes namespaces left behind by earlier runs whose process is gone. */
export function sweepStaleNamespaces(): string[] {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: 'pipe' });
  } catch {
    return [];
  }
  const swept: string[] = [];
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^tsi-(\d+)-\d+$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive) continue;
    new Namespace(name).delete();
    swept.push(name);
  }
  return swept;
}

/**
 * Creates a fresh namespace with loopback up. Delete it in `finally`/`afterAll`; as a
 * last resort every namespace still alive is deleted when the process exits.
 */
export function createNamespace(): Namespace {
  sweepStaleNamespaces();
  const name = `${PREFIX}${process.pid}-${counter++}`;
  execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
  const ns = new Namespace(name);
  live.add(ns);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', deleteAllNamespaces);
  }
  try {
    ns.run(['ip', 'link', 'set', 'lo', 'up']);
  } catch (e) {
    ns.delete();
    throw e;
  }
  return ns;
}

/** Deletes every namespace this process created and has not deleted yet. */
export function deleteAllNamespaces(): void {
  for (const ns of [...live]) ns.delete();
}

/** Runs `fn` with a fresh namespace and deletes it afterwards, also on failure. */
export async function withNamespace<T>(fn: (ns: Namespace) => Promise<T>): Promise<T> {
  const ns = createNamespace();
  try {
    return await fn(ns);
  } finally {
    ns.delete();
  }
}

/** Deletes a link in the root namespace if it exists (a TAP left by a failed test). */
export function deleteLinkIfPresent(ifname: string): void {
  try {
    execFileSync('ip', ['link', 'del', ifname], { stdio: 'pipe' });
  } catch {
    // not there
  }
}

/** Waits until `probe` returns true, polling every `intervalMs`; throws after `timeoutMs`. */
export async function waitFor(
  probe: () => boolean | Promise<boolean>,
  { timeoutMs = 10_000, intervalMs = 50, what = 'condition' } = {},
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Calls `fn` until it resolves (a server in the namespace may still be starting); rethrows the last error after `timeoutMs`. */
export async function retry<T>(
  fn: () => Promise<T>,
  { timeoutMs = 10_000, intervalMs = 100 } = {},
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
