/**
 * Finds the links of the repository's Markdown files that a reader cannot follow in a
 * clone: a relative link to a path outside the repository, to a file or directory that
 * does not exist, or to a heading (`#anchor`) that the target Markdown file does not have.
 * Web links (http:, https:, mailto:) are not fetched.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** Directories that are not the repository's own documents. */
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', 'build', '.turbo']);

/** Every `*.md` file under `root`, as paths relative to it, sorted. */
export function markdownFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) walk(join(dir, e.name));
      } else if (e.isFile() && e.name.endsWith('.md')) {
        out.push(join(dir, e.name));
      }
    }
  };
  walk('');
  return out.sort();
}

/** The text of a Markdown document with fenced code blocks (and inline code) blanked out. */
function proseOnly(text: string, blankInlineCode = true): string {
  const lines = text.split('\n');
  let fence: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence !== undefined) {
      if (m && m[1]!.startsWith(fence)) fence = undefined;
      lines[i] = '';
    } else if (m) {
      fence = m[1]!;
      lines[i] = '';
    } else if (blankInlineCode) {
      lines[i] = line.replace(/(`+)[^`]*?\1/g, (s) => ' '.repeat(s.length));
    }
  }
  return lines.join('\n');
}

/** The link targets of a Markdown document: inline `[x](target)`, images, and `[x]: target` definitions. */
export function linkTargets(text: string): { target: string; line: number }[] {
  const prose = proseOnly(text);
  const out: { target: string; line: number }[] = [];
  const lineOf = (index: number) => prose.slice(0, index).split('\n').length;
  for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    out.push({ target: m[1]!, line: lineOf(m.index!) });
  }
  for (const m of prose.matchAll(/^ {0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)) {
    out.push({ target: m[1]!, line: lineOf(m.index!) });
  }
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[`*_]/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor that the headings of a Markdown document define (duplicates get -1, -2, …). */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of proseOnly(text, false).matchAll(/^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = headingSlug(m[1]!);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  for (const m of text.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

export interface BrokenLink {
  file: string;
  line: number;
  target: string;
  why: string;
}

/** The links in `root`'s Markdown files that do not resolve inside `root`. */
export function brokenLinks(root: string): BrokenLink[] {
  const broken: BrokenLink[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchorsOf = (abs: string) => {
    let a = anchorCache.get(abs);
    if (!a) anchorCache.set(abs, (a = anchors(readFileSync(abs, 'utf8'))));
    return a;
  };
  for (const file of markdownFiles(root)) {
    const abs = join(root, file);
    for (const { target, line } of linkTargets(readFileSync(abs, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        if (!/^(https?|mailto):/i.test(target))
          broken.push({ file, line, target, why: 'not a web or relative link' });
        continue;
      }
      const [pathPart = '', anchor] = target.split('#', 2);
      const decoded = decodeURIComponent(pathPart);
      if (isAbsolute(decoded)) {
        broken.push({ file, line, target, why: 'an absolute path (use a path relative to this file)' });
        continue;
      }
      const dest = decoded === '' ? abs : resolve(dirname(abs), decoded);
      const rel = relative(root, dest);
      if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
        broken.push({ file, line, target, why: 'outside the repository' });
        continue;
      }
      if (!existsSync(dest)) {
        broken.push({ file, line, target, why: 'no such file or directory' });
        continue;
      }
      if (anchor !== undefined && anchor !== '' && statSync(dest).isFile() && dest.endsWith('.md')) {
        if (!anchorsOf(dest).has(decodeURIComponent(anchor).toLowerCase())) {
          broken.push({ file, line, target, why: `no heading with anchor #${anchor}` });
        }
      }
    }
  }
  return broken;
}
