/**
 * Test helpers: shell commands, root/TAP detection, a tiny ARP + ICMP echo responder
 * (hand-written, standing in for a stack), and frame builders.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why root-only tests cannot run here, or undefined when they can. */
export function rootSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (TAP/netns tests need CAP_NET_ADMIN)';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  return undefined;
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const ip4 = (s: string): Uint8Array => Uint8Array.from(s.split('.').map(Number));

export function checksum(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i + 1 < len; i += 2) sum += (b[off + i]! << 8) | b[off + i + 1]!;
  if (len & 1) sum += b[off + len - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const eq = (a: Uint8Array, ao: number, b: Uint8Array, n: number) => {
  for (let i = 0; i < n; i++) if (a[ao + i] !== b[i]) return false;
  return true;
};

/**
 * Answers ARP requests for `ip` and ICMP echo requests to `ip`, as host `mac`. Returns
 * the reply frame, or undefined. Counts what it answered.
 */
export class Responder {
  arpReplies = 0;
  echoReplies = 0;
  constructor(
    readonly ip: Uint8Array,
    readonly mac: Uint8Array,
  ) {}

  answer(f: Uint8Array): Uint8Array | undefined {
    if (f.length < 14) return undefined;
    const type = (f[12]! << 8) | f[13]!;
    if (type === 0x0806 && f.length >= 42 && f[21] === 1 && eq(f, 38, this.ip, 4)) {
      const r = new Uint8Array(42);
      r.set(f.subarray(6, 12), 0); // to the asker
      r.set(this.mac, 6);
      r.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2], 12);
      r.set(this.mac, 22); // sender hw
      r.set(this.ip, 28); // sender ip
      r.set(f.subarray(22, 32), 32); // target hw + ip = the asker
      this.arpReplies++;
      return r;
    }
    if (type === 0x0800 && f.length >= 34 && f[23] === 1 && eq(f, 30, this.ip, 4)) {
      const ihl = (f[14]! & 15) * 4;
      const total = (f[16]! << 8) | f[17]!;
      const icmp = 14 + ihl;
      if (f[icmp] !== 8) return undefined;
      const r = f.slice(0, 14 + total);
      r.set(f.subarray(6, 12), 0);
      r.set(this.mac, 6);
      r.set(f.subarray(30, 34), 26); // src = us
      r.set(f.subarray(26, 30), 30); // dst = them
      r[24] = 0;
      r[25] = 0;
      const c = checksum(r, 14, ihl);
      r[24] = c >> 8;
      r[25] = c & 255;
      r[icmp] = 0; // echo reply
      r[icmp + 2] = 0;
      r[icmp + 3] = 0;
      const ic = checksum(r, icmp, total - ihl);
      r[icmp + 2] = ic >> 8;
      r[icmp + 3] = ic & 255;
      this.echoReplies++;
      return r;
    }
    return undefined;
  }
}

/** An Ethernet frame: dst, src, ethertype, payload of `len` total bytes filled with `fill`. */
export function frame(dst: Uint8Array, src: Uint8Array, len = 64, type = 0x88b5, fill = 0): Uint8Array {
  const f = new Uint8Array(len).fill(fill);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 255;
  return f;
}

export const BROADCAST = new Uint8Array([255, 255, 255, 255, 255, 255]);
export const mac = (last: number) => new Uint8Array([2, 0, 0, 0, 0, last]);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `cond()` is true, polling; rejects after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
