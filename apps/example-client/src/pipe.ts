/**
 * Quiet on a closed pipe, like Unix tools: `tapstack-example fetch … | head -4` must not
 * print a stack trace when `head` exits early. Node ignores SIGPIPE, so a write to a
 * pipe whose reader is gone fails with EPIPE on the stream instead; we end the process
 * at once with the status a shell shows for a tool killed by SIGPIPE (128 + 13).
 */
export const EXIT_SIGPIPE = 141;

export function quietOnClosedPipe(
  streams: NodeJS.WriteStream[] = [process.stdout, process.stderr],
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  for (const s of streams) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') exit(EXIT_SIGPIPE);
      else throw e;
    });
  }
}
