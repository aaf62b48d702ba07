/**
 * The architecture check. The rules come from ARCHITECTURE.md's package table ("may
 * import") and its "Never" paragraph:
 *
 * 1. a package's or app's shipped sources import only the `@tapstack/*` packages its
 *    row allows (so a lower row never imports a higher one, and nothing imports an app
 *    or a tool such as the test kit);
 * 2. the table itself points one way: a row allows only rows above it;
 * 3. the pure packages (stack-core, frame-ring) import nothing but their own files —
 *    no `node:*`, no third-party package, no `require`, `process` or `Buffer` — and
 *    stack-core, which never reads a clock or a random source, uses no timers,
 *    `Date`, `performance` or `Math.random`;
 * 4. no shipped source reaches outside its package by a relative path.
 *
 * `checkSources` is pure (files in, violations out) so the test can plant violations
 * in a fixture; `loadRepo` reads the real tree. Tests, benchmarks, examples and build
 * scripts are not shipped and are not checked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

export interface SourceFile {
  /** Repository-relative path with forward slashes: "packages/stack-core/src/stack.ts". */
  path: string;
  text: string;
}

export interface Rules {
  /** Package directories ("packages/tap-io", "apps/daemon") in table order, each with the short names it may import. */
  rows: { dir: string; allowed: Set<string> }[];
  /** Directories whose sources may import nothing but their own files. */
  pure: Set<string>;
  /** Directories that must not read a clock or a random source either. */
  clockFree: Set<string>;
}

/** The packages ARCHITECTURE.md names as web-standard and side-effect free. */
export const PURE = ['packages/stack-core', 'packages/frame-ring'];
export const CLOCK_FREE = ['packages/stack-core'];

/** Parses the package table: `| [`packages/x`](...) | job | may import |`. */
export function parseTable(doc: string): Rules['rows'] {
  const rows: Rules['rows'] = [];
  const found: { dir: string; cell: string }[] = [];
  for (const m of doc.matchAll(/^\| \[`((?:packages|apps)\/[a-z0-9-]+)`\]\([^)]*\) \|.*\| ([^|]+) \|$/gm)) {
    found.push({ dir: m[1]!, cell: m[2]! });
  }
  const names = found.map((f) => f.dir.split('/')[1]!);
  for (const { dir, cell } of found) {
    // A parenthesised remark is not a rule ("(imports none today)"), except "(x for types)".
    const plain = cell.replace(/\([^)]*\)/g, '');
    const allowed = new Set(names.filter((n) => new RegExp(`(^|[^a-z-])${n}($|[^a-z-])`).test(plain)));
    for (const t of cell.matchAll(/\(([a-z0-9-]+) for types\)/g)) allowed.add(t[1]!);
    rows.push({ dir, allowed });
  }
  return rows;
}

/** Directories that hold code that ships or runs (not tests, benchmarks, examples or build output). */
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

export function isShipped(path: string): boolean {
  const parts = path.split('/');
  if (parts.slice(2, -1).some((p) => NOT_SHIPPED.has(p))) return false;
  const file = parts[parts.length - 1]!;
  return /\.(ts|mts|cts|mjs|js)$/.test(file) && !/\.test\.ts$|\.config\.ts$|\.d\.ts$/.test(file);
}

/** Comments out of the way, so a comment that mentions `setTimeout` or `node:fs` is not a use. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** Every module specifier: static and dynamic imports, re-exports, require. */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const code = stripComments(text);
  for (const m of code.matchAll(/(?:\bfrom|\bimport|\bimport\s*\(|\brequire\s*\()\s*['"]([^'"]+)['"]/g))
    out.push(m[1]!);
  return out;
}

const HOST_GLOBALS = /\b(process\.|Buffer\b)/;
const CLOCK_OR_RANDOM =
  /\b(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|queueMicrotask|Date\.now|new Date\b|performance\.|Math\.random)\b/;

/** All violations, one line each ("path: what"). Empty when the tree keeps the rules. */
export function checkSources(files: SourceFile[], rules: Rules): string[] {
  const bad: string[] = [];
  const rowIndex = new Map(rules.rows.map((r, i) => [r.dir, i]));
  const byName = new Map(rules.rows.map((r) => [r.dir.split('/')[1]!, r.dir]));
  // Rule 2: the table points one way.
  rules.rows.forEach((r, i) => {
    for (const a of r.allowed) {
      const j = rowIndex.get(byName.get(a) ?? '');
      if (j !== undefined && j >= i)
        bad.push(`ARCHITECTURE.md: ${r.dir} may import ${a}, which is not above it`);
    }
  });
  for (const f of files) {
    if (!isShipped(f.path)) continue;
    const dir = f.path.split('/').slice(0, 2).join('/');
    const row = rules.rows[rowIndex.get(dir) ?? -1];
    if (row === undefined) continue; // tools/* may import anything
    const pure = rules.pure.has(dir);
    for (const s of specifiers(f.text)) {
      if (s.startsWith('.')) {
        // Rule 4: stay inside the package.
        const target = posix.normalize(posix.join(posix.dirname(f.path), s));
        if (!target.startsWith(`${dir}/`)) bad.push(`${f.path}: relative import outside its package (${s})`);
        continue;
      }
      const scoped = /^@tapstack\/([a-z0-9-]+)/.exec(s);
      if (scoped) {
        // Rule 1: only what the row allows (apps and tools are never allowed).
        if (!row.allowed.has(scoped[1]!))
          bad.push(`${f.path}: imports @tapstack/${scoped[1]} (${dir} may not)`);
      } else if (pure) {
        bad.push(`${f.path}: imports ${s} (${dir} imports nothing but its own files)`);
      }
    }
    // Rule 3: host globals and clocks.
    const code = stripComments(f.text);
    if (pure) {
      const h = HOST_GLOBALS.exec(code);
      if (h) bad.push(`${f.path}: uses ${h[1]!.replace('.', '')} (${dir} is web-standard JS only)`);
    }
    if (rules.clockFree.has(dir)) {
      const c = CLOCK_OR_RANDOM.exec(code);
      if (c) bad.push(`${f.path}: uses ${c[1]} (${dir} never reads a clock or a random source)`);
    }
  }
  return bad;
}

/** The real tree: ARCHITECTURE.md's rules and every source file under packages/ and apps/. */
export function loadRepo(root: string): { files: SourceFile[]; rules: Rules } {
  const rows = parseTable(readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8'));
  const files: SourceFile[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'dist' && e.name !== 'build') walk(p);
      } else if (isShipped(p)) files.push({ path: p, text: readFileSync(join(root, p), 'utf8') });
    }
  };
  for (const top of ['packages', 'apps']) for (const d of readdirSync(join(root, top))) walk(`${top}/${d}`);
  return { files, rules: { rows, pure: new Set(PURE), clockFree: new Set(CLOCK_FREE) } };
}
