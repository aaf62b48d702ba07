/**
 * The architecture check on the real tree (no violations), and on a small fixture
 * tree with planted violations of every rule (each one reported, nothing else).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkSources, loadRepo, parseTable, type Rules, type SourceFile } from '../src/check.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** A miniature ARCHITECTURE.md table with the real one's shape. */
const TABLE = `
| package | job | may import |
|---|---|---|
| [\`packages/frame-ring\`](packages/frame-ring) | ring | nothing |
| [\`packages/stack-core\`](packages/stack-core) | stack | nothing (web-standard JS only) |
| [\`packages/tap-io\`](packages/tap-io) | links | frame-ring |
| [\`packages/stack-driver\`](packages/stack-driver) | driver | stack-core, tap-io, frame-ring |
| [\`apps/daemon\`](apps/daemon) | daemon | stack-driver, tap-io (stack-core for types) |
`;

function rules(table = TABLE): Rules {
  return {
    rows: parseTable(table),
    pure: new Set(['packages/stack-core', 'packages/frame-ring']),
    clockFree: new Set(['packages/stack-core']),
  };
}

describe('the architecture check', () => {
  it('reads the table: allowed imports per row, remarks in parentheses ignored, "(x for types)" allowed', () => {
    const rows = parseTable(TABLE);
    expect(rows.map((r) => [r.dir, [...r.allowed].sort()])).toEqual([
      ['packages/frame-ring', []],
      ['packages/stack-core', []],
      ['packages/tap-io', ['frame-ring']],
      ['packages/stack-driver', ['frame-ring', 'stack-core', 'tap-io']],
      ['apps/daemon', ['stack-core', 'stack-driver', 'tap-io']],
    ]);
  });

  it('passes a tree that keeps the rules (tests and benchmarks may do anything)', () => {
    const files: SourceFile[] = [
      {
        path: 'packages/stack-core/src/stack.ts',
        text: "import { x } from './wire/x.js';\n// setTimeout in a comment is fine\n",
      },
      {
        path: 'packages/stack-core/test/a.test.ts',
        text: "import fs from 'node:fs'; setTimeout(() => {}, 1);",
      },
      {
        path: 'packages/stack-core/bench/b.ts',
        text: "import { report } from '@tapstack/bench-kit'; performance.now();",
      },
      { path: 'packages/frame-ring/src/ring.ts', text: 'setTimeout(() => {}, 1);' },
      {
        path: 'packages/stack-driver/src/loop.ts',
        text: "import { Stack } from '@tapstack/stack-core';\nimport { x } from 'node:os';",
      },
      {
        path: 'apps/daemon/src/main.ts',
        text: "import { StackDriver } from '@tapstack/stack-driver';\nimport type { Stack } from '@tapstack/stack-core';",
      },
    ];
    expect(checkSources(files, rules())).toEqual([]);
  });

  it('reports each planted violation', () => {
    const files: SourceFile[] = [
      // stack-core importing Node, a package, another tapstack package, and using a clock and Math.random
      { path: 'packages/stack-core/src/a.ts', text: "import { readFileSync } from 'node:fs';" },
      { path: 'packages/stack-core/src/b.ts', text: "import lodash from 'lodash';" },
      { path: 'packages/stack-core/src/c.ts', text: "import { FrameRing } from '@tapstack/frame-ring';" },
      { path: 'packages/stack-core/src/d.ts', text: 'export const t = () => setTimeout(() => {}, 5);' },
      { path: 'packages/stack-core/src/e.ts', text: 'export const r = Math.random();' },
      { path: 'packages/stack-core/src/f.ts', text: "export const b = Buffer.from('x');" },
      // frame-ring (pure, but may wait with timers) loading Node through require
      { path: 'packages/frame-ring/src/g.ts', text: "const os = require('node:os');" },
      // a lower row importing a higher one; a package importing an app; a package importing a tool
      { path: 'packages/tap-io/src/h.ts', text: "export { StackDriver } from '@tapstack/stack-driver';" },
      { path: 'packages/stack-driver/src/i.ts', text: "const d = await import('@tapstack/daemon');" },
      { path: 'packages/stack-driver/src/j.ts', text: "import { seededBytes } from '@tapstack/testkit';" },
      // reaching into another package by relative path
      { path: 'packages/tap-io/src/k.ts', text: "import { Stack } from '../../stack-core/src/stack.js';" },
    ];
    expect(checkSources(files, rules())).toEqual([
      'packages/stack-core/src/a.ts: imports node:fs (packages/stack-core imports nothing but its own files)',
      'packages/stack-core/src/b.ts: imports lodash (packages/stack-core imports nothing but its own files)',
      'packages/stack-core/src/c.ts: imports @tapstack/frame-ring (packages/stack-core may not)',
      'packages/stack-core/src/d.ts: uses setTimeout (packages/stack-core never reads a clock or a random source)',
      'packages/stack-core/src/e.ts: uses Math.random (packages/stack-core never reads a clock or a random source)',
      'packages/stack-core/src/f.ts: uses Buffer (packages/stack-core is web-standard JS only)',
      'packages/frame-ring/src/g.ts: imports node:os (packages/frame-ring imports nothing but its own files)',
      'packages/tap-io/src/h.ts: imports @tapstack/stack-driver (packages/tap-io may not)',
      'packages/stack-driver/src/i.ts: imports @tapstack/daemon (packages/stack-driver may not)',
      'packages/stack-driver/src/j.ts: imports @tapstack/testkit (packages/stack-driver may not)',
      'packages/tap-io/src/k.ts: relative import outside its package (../../stack-core/src/stack.js)',
    ]);
  });

  it('reports a table whose arrows point down (a row allowing a row below it)', () => {
    const upsideDown = TABLE.replace('| ring | nothing |', '| ring | tap-io |');
    expect(checkSources([], rules(upsideDown))).toEqual([
      'ARCHITECTURE.md: packages/frame-ring may import tap-io, which is not above it',
    ]);
  });

  it('finds no violation in the repository', () => {
    const { files, rules: real } = loadRepo(root);
    expect(real.rows.length).toBeGreaterThan(5);
    expect(files.some((f) => f.path === 'packages/stack-core/src/stack.ts')).toBe(true);
    expect(checkSources(files, real)).toEqual([]);
  });

  it('has a row for every package and app of the workspace, and none for a package that is gone', () => {
    const { rules: real } = loadRepo(root);
    const rows = real.rows.map((r) => r.dir);
    const all = ['packages', 'apps']
      .flatMap((d) => readdirSync(join(root, d)).map((n) => `${d}/${n}`))
      .filter((p) => existsSync(join(root, p, 'package.json')));
    expect(
      all.filter((p) => !rows.includes(p)),
      'add a row to the package table in ARCHITECTURE.md',
    ).toEqual([]);
    expect(
      rows.filter((p) => !all.includes(p)),
      'remove these rows from ARCHITECTURE.md: no such package',
    ).toEqual([]);
  });
});
