/** The example configs and the README's YAML stay valid (docs that do not rot). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { readConfigFile, validateConfig } from '../src/config.js';

const root = join(import.meta.dirname, '..');

describe('example configs', () => {
  const files = readdirSync(join(root, 'examples')).filter((f) => /\.(ya?ml|json)$/.test(f));
  it('there are some', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });
  it.each(files)('%s is valid', (f) => {
    const c = validateConfig(readConfigFile(join(root, 'examples', f)), f);
    expect(c.links.length).toBeGreaterThan(0);
  });
  it('the README YAML block is valid', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) expect(validateConfig(parseYaml(b), 'README').name).toBeTruthy();
  });
});
