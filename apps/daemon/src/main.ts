/**
 * The tapstackd entry point: parse flags and config, start the daemon, print where it
 * listens, and drain on SIGINT/SIGTERM (a second signal exits at once).
 */
import { CommanderError } from 'commander';
import { parseCli } from './cli.js';
import { ConfigError } from './config.js';
import type { Daemon } from './daemon.js';

export async function main(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    if (ConfigError.isInstance(e)) {
      process.stderr.write(`tapstackd: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
  if (parsed.check) {
    process.stdout.write(`${JSON.stringify(parsed.config, null, 2)}\n`);
    return;
  }
  let daemon: Daemon;
  try {
    // Loaded only now, so --help and --check do not load the whole stack.
    const { Daemon } = await import('./daemon.js');
    daemon = await Daemon.start(parsed.config);
  } catch (e) {
    const err = e as Error & { code?: string };
    process.stderr.write(`tapstackd: cannot start: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
    process.exitCode = 1;
    return;
  }
  // One machine-readable line on stdout says the daemon is ready and where it listens.
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid, ...daemon.info() })}\n`);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      daemon.log.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(130);
    }
    daemon.log.info({ signal: sig }, 'signal received');
    daemon.stop().then(
      () => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      },
      (e: Error) => {
        daemon.log.error({ err: e }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
