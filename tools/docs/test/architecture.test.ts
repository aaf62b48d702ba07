/**
 * ARCHITECTURE.md's package table says which @tapstack packages each package may import;
 * this holds every package's sources (tests excluded) to it, and checks that the table
 * lists every package of the workspace.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '../../..');
const doc = readFileSync(join(repo, 'ARCHITECTURE.md'), 'utf8');

/** `packages/x` or `apps/x` → the short names the "may import" cell mentions. */
function allowedImports(): Map<string, Set<string>> {
  const names = readdirSync(join(repo, 'packages'));
  const rows = new Map<string, Set<string>>();
  for (const m of doc.matchAll(/^\| \[`((?:packages|apps)\/[a-z-]+)`\]\([^)]*\) \|.*\| ([^|]+) \|$/gm)) {
    const cell = m[2]!.replace(/\([^)]*\)/g, ''); // "(imports none today)" is a remark, not a rule
    const allowed = new Set(names.filter((n) => new RegExp(`\\b${n}\\b`).test(cell)));
    // "(stack-core for types)": a parenthesised package is allowed too.
    for (const p of m[2]!.matchAll(/\(([a-z-]+) for types\)/g)) allowed.add(p[1]!);
    rows.set(m[1]!, allowed);
  }
  return rows;
}

/** Code that ships or runs (src/, bin/, page/, …): not tests, benchmarks, examples or build output. */
const NOT_SHIPPED = new Set([
  'node_modules',
  'dist',
  'build',
  'test',
  'bench',
  'examples',
  'scripts',
  'native',
]);
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!NOT_SHIPPED.has(e.name)) out.push(...sourceFiles(p));
    } else if (/\.(ts|mts|mjs|js)$/.test(e.name) && !/\.test\.ts$|\.config\.ts$/.test(e.name)) out.push(p);
  }
  return out;
}

describe('ARCHITECTURE.md package table', () => {
  const rows = allowedImports();

  it('lists every package and app of the workspace', () => {
    const all = ['packages', 'apps']
      .flatMap((d) => readdirSync(join(repo, d)).map((n) => `${d}/${n}`))
      .filter((p) => existsSync(join(repo, p, 'package.json')));
    const missing = all.filter((p) => !rows.has(p));
    const stale = [...rows.keys()].filter((p) => !all.includes(p));
    expect(missing, 'add a row to the package table in ARCHITECTURE.md (job, may import)').toEqual([]);
    expect(stale, 'remove these rows from ARCHITECTURE.md: no such package').toEqual([]);
  });

  for (const [pkg, allowed] of rows) {
    it(`${pkg} imports only ${[...allowed].join(', ') || 'nothing of tapstack'}`, () => {
      const bad: string[] = [];
      for (const file of sourceFiles(join(repo, pkg))) {
        const text = readFileSync(file, 'utf8');
        for (const m of text.matchAll(/(?:from|import\(?)\s*['"]@tapstack\/([a-z-]+)(?:\/[^'"]*)?['"]/g)) {
          if (!allowed.has(m[1]!)) bad.push(`${file.slice(repo.length + 1)}: @tapstack/${m[1]}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }
});
