/**
 * README examples that cannot drift: each ```ts block of a package README is the exact
 * text of a file under the package's examples/ (checked here), and the package's tests
 * run that file.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Throws unless `readme` contains the text of `file` as a whole ```ts block. */
export function assertReadmeShows(packageDir: string, file: string, readme = 'README.md'): void {
  const text = readFileSync(join(packageDir, file), 'utf8');
  const doc = readFileSync(join(packageDir, readme), 'utf8');
  if (!doc.includes(`\`\`\`ts\n${text}\`\`\`\n`)) {
    throw new Error(
      `${readme} does not show ${file} as written: paste the file's text into its \`\`\`ts block`,
    );
  }
}

/** Runs an example with Node from the package directory (tsx, development condition); returns stdout. */
export function runExample(packageDir: string, file: string, timeoutMs = 30_000): string {
  return execFileSync(process.execPath, ['--conditions=development', '--import', 'tsx', file], {
    cwd: packageDir,
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
