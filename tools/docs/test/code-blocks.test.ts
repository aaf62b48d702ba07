/**
 * Every TypeScript or JavaScript block in the repository's Markdown is the exact text of an
 * `examples/` file that a test runs (issue 19: README examples used undefined variables and
 * methods that do not exist). A fragment that cannot run belongs in prose, not in a code
 * block. The README's own test checks that it shows the file (tools/interop/readme.ts);
 * this checks that no block escapes that rule.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { markdownFiles } from '../src/links.js';

const repo = join(import.meta.dirname, '../../..');

const LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'cjs', 'tsx', 'jsx']);

/** The fenced blocks of a Markdown document whose info string names TS or JS. */
function codeBlocks(text: string): { lang: string; body: string; line: number }[] {
  const out: { lang: string; body: string; line: number }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith(open[1]!); i++) body.push(lines[i]!);
    if (LANGS.has(open[2]!.toLowerCase()))
      out.push({ lang: open[2]!, body: `${body.join('\n')}\n`, line: start + 1 });
  }
  return out;
}

/** Every file under a directory named `examples` (outside node_modules), by text. */
function exampleFiles(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, inExamples: boolean) => {
    for (const e of readdirSync(join(repo, dir), { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === '.git' || e.name === 'dist') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, inExamples || e.name === 'examples');
      else if (inExamples) out.set(readFileSync(join(repo, p), 'utf8'), p);
    }
  };
  walk('', false);
  return out;
}

/** The text of every test file, to find which examples a test names. */
function testSources(): string {
  const parts: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(repo, dir), { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === '.git' || e.name === 'dist') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.test\.ts$/.test(e.name)) parts.push(readFileSync(join(repo, p), 'utf8'));
    }
  };
  walk('');
  return parts.join('\n');
}

describe('TS/JS code blocks in Markdown', () => {
  it('each is the text of an examples/ file that a test names', () => {
    const examples = exampleFiles();
    const tests = testSources();
    const bad: string[] = [];
    for (const file of markdownFiles(repo)) {
      if (file.startsWith('.changeset/')) continue;
      for (const b of codeBlocks(readFileSync(join(repo, file), 'utf8'))) {
        const example = examples.get(b.body);
        if (!example) bad.push(`${file}:${b.line}: a \`\`\`${b.lang} block that is no examples/ file's text`);
        else if (!tests.includes(example.slice(example.indexOf('examples/')))) {
          bad.push(`${file}:${b.line}: ${example} is shown but no test names it`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
