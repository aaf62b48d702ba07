/**
 * systemd readiness (sd_notify(3)): `sdNotify('READY=1')` sends one datagram to the
 * AF_UNIX socket in `$NOTIFY_SOCKET`, from this process (so `NotifyAccess=main` units
 * accept it). Node cannot send AF_UNIX datagrams, so a small addon
 * (build/Release/tapio_notify.node, native/notify.c) does the sendto.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { LinkError } from './link.js';
import { packageRoot } from './native.js';

interface NativeNotify {
  sdNotify(path: string, message: string): number;
}

let cached: NativeNotify | undefined;

function load(): NativeNotify {
  if (cached) return cached;
  const file = join(packageRoot(), 'build', 'Release', 'tapio_notify.node');
  if (process.platform !== 'linux' || !existsSync(file))
    throw new LinkError(`sd_notify needs the tap-io addon on Linux (${file} missing)`, 'ENOTSUP');
  cached = createRequire(import.meta.url)(file) as NativeNotify;
  return cached;
}

/**
 * Sends `message` (e.g. "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=…") to the
 * service manager. Returns false, doing nothing, when `socketPath` (default
 * `$NOTIFY_SOCKET`) is unset or empty — not running under systemd. Throws an error
 * with a `code` (ENOENT, ECONNREFUSED, ENOTSUP, …) when the send fails.
 */
export function sdNotify(
  message: string,
  socketPath: string | undefined = process.env.NOTIFY_SOCKET,
): boolean {
  if (!socketPath) return false;
  load().sdNotify(socketPath, message);
  return true;
}
