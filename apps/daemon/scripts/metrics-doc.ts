/**
 * Writes the metrics reference (generated from src/metrics.ts) into README.md between
 * the `<!-- metrics-reference:begin/end -->` markers. test/metrics.test.ts checks it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { metricsReference } from '../src/metrics.js';

export const BEGIN = '<!-- metrics-reference:begin -->';
export const END = '<!-- metrics-reference:end -->';

const readme = join(import.meta.dirname, '../README.md');
const text = readFileSync(readme, 'utf8');
const a = text.indexOf(BEGIN);
const b = text.indexOf(END);
if (a < 0 || b < a) throw new Error(`README.md: markers ${BEGIN} / ${END} not found`);
writeFileSync(
  readme,
  `${text.slice(0, a + BEGIN.length)}\n\n${await metricsReference()}\n\n${text.slice(b)}`,
);
console.log('README.md: metrics reference updated');
