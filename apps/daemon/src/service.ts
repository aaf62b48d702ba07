/**
 * Behaving like a system service: tell whoever started the daemon that it is ready —
 * the ready line on stdout, the `readyFile` (written atomically once every link and
 * listener is up), and systemd's sd_notify READY=1 when `$NOTIFY_SOCKET` is set — and
 * that it is stopping (STOPPING=1, the ready file removed).
 */
import { closeSync, constants, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { sdNotify } from '@tapstack/tap-io';
import type { Logger } from './log.js';

export interface ReadyInfo {
  pid: number;
  [k: string]: unknown;
}

/** Writes `path` as a whole or not at all: a temp file (0600, never through a symlink), then rename. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function announceReady(info: ReadyInfo, readyFile: string | undefined, log: Logger): void {
  const line = `${JSON.stringify({ ready: true, ...info })}\n`;
  process.stdout.write(line);
  if (readyFile) writeFileAtomic(readyFile, line);
  notify(`READY=1\nSTATUS=running\nMAINPID=${info.pid}`, log);
}

export function announceStopping(readyFile: string | undefined, log: Logger): void {
  if (readyFile) rmSync(readyFile, { force: true });
  notify('STOPPING=1', log);
}

/** sd_notify when `$NOTIFY_SOCKET` is set; a failure is logged, never fatal. */
export function notify(message: string, log: Logger): void {
  try {
    if (sdNotify(message)) log.debug({ message }, 'sd_notify');
  } catch (e) {
    log.warn({ err: e, socket: process.env.NOTIFY_SOCKET }, 'sd_notify failed');
  }
}
