/**
 * Where the daemon's local sockets live, and the checks both sides make on them. The
 * default is a directory only the daemon's user owns (`$XDG_RUNTIME_DIR/tapstack/`, or
 * `/run/tapstack/` for root, created 0700), never a predictable name in a world-writable
 * directory where another local user could put a socket of their own first. A client
 * refuses a socket that is not owned by its own user or by root.
 */
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { type SocketBridgeError, socketError } from './errors.js';

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

/**
 * The directory for the daemon's sockets: `$XDG_RUNTIME_DIR/tapstack` (the login
 * session's private runtime dir), `/run/tapstack` for root, else `/tmp/tapstack-<uid>`
 * (as tmux does; `ensurePrivateDir` then refuses it unless it is ours and 0700).
 */
export function defaultRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg?.startsWith('/')) return join(xdg, 'tapstack');
  const u = uid();
  return u === 0 ? '/run/tapstack' : `/tmp/tapstack-${u}`;
}

/** The daemon's default bridge socket: `bridge.sock` in `defaultRuntimeDir()`. */
export function defaultBridgePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultRuntimeDir(env), 'bridge.sock');
}

function refuse(code: string, syscall: string, path: string, message: string): SocketBridgeError {
  const e = socketError(code, syscall, { address: path });
  e.message = `${syscall} ${code} ${path}: ${message}`;
  return e;
}

/**
 * Creates `dir` 0700 if it is missing; refuses (EPERM) a directory that is a symlink,
 * is not owned by this user, or that other users may enter or write.
 */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = lstatSync(dir);
  if (!st.isDirectory())
    throw refuse('EPERM', 'mkdir', dir, 'exists and is not a directory (a symlink?): refusing to use it');
  if (st.uid !== uid())
    throw refuse(
      'EPERM',
      'mkdir',
      dir,
      `is owned by uid ${st.uid}, not by this user (${uid()}): refusing to use it`,
    );
  if ((st.mode & 0o077) !== 0) {
    // Ours but open to others (made by hand): close it.
    chmodSync(dir, 0o700);
  }
}

/**
 * Client side: `path` must be a socket owned by this user or by root. Another user's
 * socket at the path the client expected is someone pretending to be the daemon.
 */
export function checkSocketOwner(path: string): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return; // connect() reports ENOENT itself
  }
  if (!st.isSocket()) throw refuse('ENOTSOCK', 'connect', path, 'is not a socket');
  if (st.uid !== uid() && st.uid !== 0)
    throw refuse(
      'EPERM',
      'connect',
      path,
      `is owned by uid ${st.uid}, neither this user (${uid()}) nor root: refusing to talk to it`,
    );
}

/**
 * `server.listen(path)` with the socket file created 0600 whatever the umask (the bind
 * happens inside listen(), under a umask of 0177), then chmod to `mode`.
 */
export function listenUnixPrivate(server: Server, path: string, mode = 0o600): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const old = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        try {
          chmodSync(path, mode);
        } catch (e) {
          reject(e);
          return;
        }
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });
}
