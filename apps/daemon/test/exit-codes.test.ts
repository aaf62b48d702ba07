/**
 * Exit codes as the README documents them: 2 for usage and configuration errors
 * (issue 19: commander's own errors exited 1), 0 for --help / --version.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXIT_USAGE, main } from '../src/main.js';

async function exitCodeOf(argv: string[]): Promise<{ code: number | undefined; stderr: string }> {
  const saved = process.exitCode;
  process.exitCode = undefined;
  let stderr = '';
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    await main(argv);
    return { code: process.exitCode as number | undefined, stderr };
  } finally {
    err.mockRestore();
    out.mockRestore();
    process.exitCode = saved;
  }
}

afterEach(() => vi.restoreAllMocks());

describe('tapstackd exit codes', () => {
  it.each([
    [['--bogus'], /unknown option '--bogus'/],
    [['--link', 'foo'], /argument 'foo' is invalid/],
    [['--address'], /argument missing/],
    [['--mtu', '9', '--check'], /links\[0\]\.mtu/],
    [['-c', '/nonexistent/tapstack.yaml'], /cannot read the file/],
  ])('%j is a usage or config error: exit 2', async (argv, message) => {
    const r = await exitCodeOf(argv);

    expect(r.code).toBe(EXIT_USAGE);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('--help and --version exit 0', async () => {
    expect((await exitCodeOf(['--help'])).code).toBe(0);
    expect((await exitCodeOf(['--version'])).code).toBe(0);
  });
});
