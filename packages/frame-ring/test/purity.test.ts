/// <reference types="node" />
// ARCHITECTURE.md: frame-ring is web-standard JS only and must run unchanged in a browser.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src', import.meta.url));

describe('src/ uses web-standard JS only', () => {
  const files = readdirSync(src).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  it('has source files to check', () => expect(files.length).toBeGreaterThan(1));
  for (const f of files) {
    it(f, () => {
      const text = readFileSync(join(src, f), 'utf8');
      expect(text).not.toMatch(/from ['"]node:|require\(|\bprocess\.|\bBuffer\b|from ['"]@tapstack\//);
      for (const m of text.matchAll(/from ['"]([^'"]+)['"]/g)) expect(m[1]).toMatch(/^\.\/.*\.js$/);
    });
  }
});
