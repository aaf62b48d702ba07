/**
 * Structured logs with pino, to stderr: one JSON object per line with `log.json`, or
 * short readable lines otherwise (formatted here, so no pino-pretty dependency).
 */
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

const levelNames: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const skip = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

/** Formats one pino JSON record as `12:00:00.123 INFO  a: message key=value`. */
export function formatRecord(rec: Record<string, unknown>): string {
  const t = new Date(typeof rec.time === 'number' ? rec.time : Date.now()).toISOString().slice(11, 23);
  const level = (levelNames[rec.level as number] ?? String(rec.level)).padEnd(5);
  const extra: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (skip.has(k)) continue;
    if (k === 'err' && typeof v === 'object' && v !== null) {
      const e = v as { message?: string; code?: string };
      extra.push(`err=${JSON.stringify(e.code ? `${e.code}: ${e.message}` : e.message)}`);
      continue;
    }
    extra.push(`${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  }
  return `${t} ${level} ${rec.name ?? ''}: ${rec.msg ?? ''}${extra.length ? ` ${extra.join(' ')}` : ''}\n`;
}

export interface LogOptions {
  level: string;
  json: boolean;
  name: string;
  /** Where lines go [process.stderr]. */
  destination?: { write(s: string): unknown };
  /** Append to this file (mode 0600) instead; reopenLog() opens it again (SIGHUP, logrotate). */
  file?: string;
}

const reopeners = new WeakMap<Logger, () => void>();

/** Opens the logger's file again (after logrotate moved it away); no-op for stderr. */
export function reopenLog(log: Logger): boolean {
  const r = reopeners.get(log);
  r?.();
  return r !== undefined;
}

export function createLogger(opts: LogOptions): Logger {
  const file = opts.file
    ? pino.destination({ dest: opts.file, append: true, sync: true, mode: 0o600 })
    : undefined;
  const dest = opts.destination ?? file ?? process.stderr;
  const stream = {
    write(s: string): void {
      if (opts.json) {
        dest.write(s);
        return;
      }
      try {
        dest.write(formatRecord(JSON.parse(s)));
      } catch {
        dest.write(s);
      }
    },
  };
  const logger = pino({ level: opts.level, name: opts.name, base: { name: opts.name } }, stream);
  if (file) reopeners.set(logger, () => file.reopen());
  return logger;
}
