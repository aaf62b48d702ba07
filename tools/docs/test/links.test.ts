/**
 * Every link in the repository's Markdown files can be followed in a clone (issue 19: the
 * root README linked the architecture to ../shared/DESIGN.md, outside the repository).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { anchors, brokenLinks, headingSlug, linkTargets } from '../src/links.js';

const repo = join(import.meta.dirname, '../../..');

describe('Markdown links', () => {
  it('every relative link in the repository resolves to a file inside it (and to a heading that exists)', () => {
    const broken = brokenLinks(repo).map((b) => `${b.file}:${b.line}: ${b.target} — ${b.why}`);
    expect(broken).toEqual([]);
  });

  describe('the checker', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapstack-links-'));
    const root = join(dir, 'repo');
    mkdirSync(join(root, 'docs'), { recursive: true });
    writeFileSync(join(dir, 'outside.md'), '# Outside\n');
    writeFileSync(join(root, 'docs', 'a.md'), '# A title\n\n## Two words: `code`\n');
    writeFileSync(
      join(root, 'README.md'),
      [
        '# R',
        'See [out](../outside.md), [gone](docs/gone.md), [ok](docs/a.md), [dir](docs),',
        '[anchor](docs/a.md#two-words-code), [bad anchor](docs/a.md#nope), [web](https://example.com/x),',
        '[abs](/etc/passwd), [here](#r).',
        '',
        '```md',
        '[in a code block](../not-checked.md)',
        '```',
        'and `[inline code](../not-checked.md)`.',
        '',
        '[ref]: ../outside.md',
      ].join('\n'),
    );
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reports links outside the repository, missing files and anchors, absolute paths; not code', () => {
      expect(brokenLinks(root).map((b) => [b.line, b.target, b.why])).toEqual([
        [2, '../outside.md', 'outside the repository'],
        [2, 'docs/gone.md', 'no such file or directory'],
        [3, 'docs/a.md#nope', 'no heading with anchor #nope'],
        [4, '/etc/passwd', 'an absolute path (use a path relative to this file)'],
        [11, '../outside.md', 'outside the repository'],
      ]);
    });

    it('slugs headings as GitHub does', () => {
      expect(headingSlug('Two words: `code`')).toBe('two-words-code');
      expect(headingSlug('VXLAN native path')).toBe('vxlan-native-path');
      expect([...anchors('# A\n## A\n')]).toEqual(['a', 'a-1']);
      expect(linkTargets('[x](y.md "title")').map((t) => t.target)).toEqual(['y.md']);
    });
  });
});
