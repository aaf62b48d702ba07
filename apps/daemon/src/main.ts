/**
 * The tapstackd entry point: parse flags and config, start the daemon, print where it
 * listens, and drain on SIGINT/SIGTERM (a second signal exits at once).
 */
import { CommanderError } from 'commander';
import { parseCli } from './cli.js';
import { ConfigError } from './config.js';
import type { Daemon } from './daemon.js';
import { announceReady, announceStopping } from './service.js';

/** Exit codes (README "Exit codes"). */
export const EXIT_OK = 0;
export const EXIT_CANNOT_START = 1;
export const EXIT_USAGE = 2;
export const EXIT_SECOND_SIGNAL = 130;

const commanderOk = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** `tapstackd genkey | pubkey | genpsk`: keys in the same base64 form as wg(8). */
async function keyCommand(cmd: string): Promise<void> {
  const { genkey, genpsk, pubkey } = await import('@tapstack/wireguard');
  if (cmd === 'genkey') process.stdout.write(`${genkey()}\n`);
  else if (cmd === 'genpsk') process.stdout.write(`${genpsk()}\n`);
  else {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    try {
      process.stdout.write(`${pubkey(Buffer.concat(chunks).toString('utf8'))}\n`);
    } catch (e) {
      process.stderr.write(`tapstackd pubkey: ${(e as Error).message}\n`);
      process.exitCode = EXIT_USAGE;
    }
  }
}

export async function main(argv: string[]): Promise<void> {
  if (argv.length === 1 && (argv[0] === 'genkey' || argv[0] === 'pubkey' || argv[0] === 'genpsk')) {
    await keyCommand(argv[0]);
    return;
  }
  if (argv[0] === 'status') {
    const { statusMain } = await import('./status.js');
    process.exitCode = await statusMain(argv.slice(1));
    return;
  }
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; every other complaint of commander (unknown flag,
      // bad choice, missing argument) is a usage error: 2, as documented (commander says 1).
      process.exitCode = commanderOk.has(e.code) ? 0 : EXIT_USAGE;
      return;
    }
    if (ConfigError.isInstance(e)) {
      process.stderr.write(`tapstackd: ${e.message}\n`);
      process.exitCode = EXIT_USAGE;
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
    process.exitCode = EXIT_CANNOT_START;
    return;
  }
  const readyFile = parsed.config.readyFile;
  // Signal handlers go in before readiness is announced: a script that sends SIGHUP as
  // soon as the ready file exists must not meet the default action (terminate).
  // SIGHUP (systemd's ExecReload, logrotate's postrotate): reopen the log and pcap files.
  const onHup = () => daemon.reopen();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      daemon.log.warn({ signal: sig }, 'second signal: exiting now');
      announceStopping(readyFile, daemon.log);
      process.exit(EXIT_SECOND_SIGNAL);
    }
    daemon.log.info({ signal: sig }, 'signal received');
    announceStopping(readyFile, daemon.log);
    daemon.stop().then(
      () => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.off('SIGHUP', onHup);
      },
      (e: Error) => {
        daemon.log.error({ err: e }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onHup);
  // One machine-readable line on stdout (and the ready file, and sd_notify READY=1)
  // says the daemon is ready and where it listens.
  try {
    announceReady({ pid: process.pid, ...daemon.info() }, readyFile, daemon.log);
  } catch (e) {
    const err = e as Error & { code?: string };
    process.stderr.write(
      `tapstackd: cannot write the ready file: ${err.code ? `${err.code}: ` : ''}${err.message}\n`,
    );
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHup);
    await daemon.stop(0);
    process.exitCode = EXIT_CANNOT_START;
    return;
  }
}
