/**
 * Lazy loader for the TAP addon (build/Release/tapio.node, built at install time).
 * Only the TAP link needs it; on other platforms or without a build, loading throws
 * ENOTSUP and everything else in the package keeps working.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinkError } from './link.js';

export interface NativeTap {
  open(
    name: string,
    mtu: number | undefined,
    mac: Uint8Array | undefined,
    up: boolean,
    nonBlocking: boolean,
    tun?: boolean,
    offload?: boolean,
    txQueueLen?: number,
    raiseOnly?: boolean,
  ): {
    fd: number;
    name: string;
    mac: Uint8Array;
    mtu: number;
    vnetHdr?: number;
    offloads?: number;
    txQueueLen?: number;
  };
  close(fd: number): number;
  writeBatch(
    fd: number,
    buf: Uint8Array,
    lengths: Uint32Array,
    count: number,
    out?: Float64Array,
    vnetMode?: number,
    gso?: Uint16Array,
  ): number;
  /** TUNSETOFFLOAD: 0, or -errno. */
  setOffload(fd: number, flags: number): number;
  readerStart(
    fd: number,
    ring: Int32Array,
    onWake: () => void,
    loopMode: boolean,
    coalesceUs?: number,
    busyUs?: number,
    vnetHdr?: number,
    l2?: number,
    synShed?: boolean,
  ): unknown;
  readerStop(handle: unknown): void;
  readerStats(handle: unknown): {
    frames: number;
    bytes: number;
    dropped: number;
    readErrors: number;
    wakeups: number;
    batches: number;
    deferredWakes: number;
    lastErrno: number;
    csumBad?: number;
    gsoFrames?: number;
    /** Pure TCP SYNs read and not committed to a ring over half (bare) or 7/8 (with options) full. */
    synShed?: number;
  };
  readerRef(handle: unknown, ref: boolean): void;
  blastStart(ifname: string, frame: Uint8Array): unknown;
  blastStop(handle: unknown): { sent: number; errors: number };
  // VXLAN (src/vxlan.ts): a UDP socket with a recvmmsg reader thread and sendmmsg batches.
  vxOpen(address: string, port: number, ipv6: boolean, bufferBytes: number): unknown;
  vxAddress(handle: unknown): { address: string; port: number; family: 'IPv4' | 'IPv6' };
  vxEndpoint(handle: unknown, address: string, port: number, reuseId?: number): number;
  vxStart(handle: unknown, ring: Int32Array, onWake: () => void, loopMode: boolean): void;
  vxSend(
    handle: unknown,
    buf: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    endpoints: Int32Array,
    count: number,
    out?: Float64Array,
  ): number;
  vxStats(handle: unknown): {
    frames: number;
    bytes: number;
    dropped: number;
    truncated: number;
    readErrors: number;
    wakeups: number;
    batches: number;
    lastErrno: number;
    sendCalls: number;
    /** Endpoint slots registered with vxEndpoint (older addons: absent). */
    endpoints?: number;
    threadRunning: boolean;
    polling: boolean;
  };
  vxRef(handle: unknown, ref: boolean): void;
  vxClose(handle: unknown): void;
}

let cached: NativeTap | undefined;
let loadError: LinkError | undefined;

/** Package root: src/ and dist/ both sit one level below it. */
export function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

export function loadNative(): NativeTap {
  if (cached) return cached;
  if (loadError) throw loadError;
  if (process.platform !== 'linux') {
    loadError = new LinkError(`TAP devices need Linux; this is ${process.platform}`, 'ENOTSUP');
    throw loadError;
  }
  const file = join(packageRoot(), 'build', 'Release', 'tapio.node');
  if (!existsSync(file)) {
    loadError = new LinkError(
      `the TAP addon is not built (${file} missing; run 'node scripts/build-addon.mjs' in @tapstack/tap-io)`,
      'ENOTSUP',
    );
    throw loadError;
  }
  try {
    cached = createRequire(import.meta.url)(file) as NativeTap;
    return cached;
  } catch (e) {
    loadError = new LinkError(`cannot load the TAP addon: ${(e as Error).message}`, 'ENOTSUP', { cause: e });
    throw loadError;
  }
}

/**
 * The addon when it can carry VXLAN (Linux, built, and new enough to have the VXLAN
 * functions), else undefined: VxlanLink then uses node:dgram.
 */
export function nativeVxlan(): NativeTap | undefined {
  try {
    const n = loadNative();
    return typeof n.vxOpen === 'function' ? n : undefined;
  } catch {
    return undefined;
  }
}

/** True when TAP links can be opened here (addon loads, /dev/net/tun exists). */
export function tapAvailable(): boolean {
  try {
    loadNative();
    return existsSync('/dev/net/tun');
  } catch {
    return false;
  }
}
