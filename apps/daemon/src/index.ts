/**
 * @tapstack/daemon — tapstackd as a library: start a daemon from a validated config
 * (tests start several in one process on an in-memory switch).
 */
export { applyFlags, buildProgram, parseCli } from './cli.js';
export {
  ConfigError,
  configSchema,
  type DaemonConfig,
  type DaemonConfigInput,
  readConfigFile,
  validateConfig,
} from './config.js';
export { Daemon, type DaemonInfo, type DaemonOptions } from './daemon.js';
export { createLogger } from './log.js';
export { parsePrometheus } from './metrics.js';
