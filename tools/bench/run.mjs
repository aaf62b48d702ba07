#!/usr/bin/env node
// `pnpm bench [--filter <package>]`: runs every package's bench/index.ts, prints one
// table and writes bench/results.json (see tools/bench-kit for the result shape).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
let filter;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--filter') filter = args[++i];
  else if (args[i].startsWith('--filter=')) filter = args[i].slice(9);
}
const dirs = ['packages', 'apps']
  .flatMap((d) => (existsSync(join(root, d)) ? readdirSync(join(root, d)).map((n) => join(root, d, n)) : []))
  .filter((d) => existsSync(join(d, 'bench', 'index.ts')))
  .filter((d) => !filter || d.endsWith(`/${filter}`) || filter === `@tapstack/${d.split('/').pop()}`);
if (dirs.length === 0) {
  console.error(filter ? `no package with benchmarks matches --filter ${filter}` : 'no benchmarks found');
  process.exit(1);
}
const out = join(tmpdir(), `tapstack-bench-${process.pid}.jsonl`);
rmSync(out, { force: true });
let failed = 0;
for (const d of dirs) {
  console.log(`\n== ${d.slice(root.length + 1)} ==`);
  const r = spawnSync(process.execPath, ['--conditions=development', '--import', 'tsx', 'bench/index.ts'], {
    cwd: d,
    stdio: 'inherit',
    env: { ...process.env, TAPSTACK_BENCH_OUT: out },
  });
  if (r.status !== 0) {
    console.error(`bench failed in ${d} (exit ${r.status})`);
    failed++;
  }
}
const results = existsSync(out)
  ? readFileSync(out, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
rmSync(out, { force: true });
const fmt = (n) => {
  if (n === null || n === undefined) return '';
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (a >= 100) return n.toFixed(0);
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(3);
};
const rows = results.map((r) => [
  r.name,
  fmt(r.value),
  r.unit,
  r.baseline ? `${r.baseline.name} ${fmt(r.baseline.value)}` : '',
  r.baseline ? `×${(r.value / r.baseline.value).toFixed(2)}` : '',
]);
const head = ['name', 'figure', 'unit', 'comparison (same run)', 'ratio'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
for (const r of rows) console.log(line(r));
mkdirSync(join(root, 'bench'), { recursive: true });
const file = join(root, 'bench', 'results.json');
writeFileSync(
  file,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, results }, null, 2)}\n`,
);
console.log(`\nwrote ${file} (${results.length} results)`);
process.exit(failed ? 1 : 0);
