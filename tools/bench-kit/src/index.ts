/**
 * Benchmark helpers shared by every package's `bench/index.ts`.
 * A benchmark warms up, runs several rounds and reports the median of the rounds.
 * `report()` prints one line and, when the runner set TAPSTACK_BENCH_OUT, appends the
 * result as one JSON line to that file; `tools/bench/run.mjs` collects them into
 * bench/results.json and prints the table.
 */
import { appendFileSync } from 'node:fs';

export interface BenchResult {
  /** The package short name, e.g. "frame-ring". */
  package: string;
  /** Stable name, e.g. "frame-ring/threads/1514B/frames-per-s". */
  name: string;
  value: number;
  unit: string;
  higherIsBetter: boolean;
  /** The comparison figure measured in the same run. */
  baseline: { name: string; value: number } | null;
}

export function report(result: BenchResult): void {
  const base = result.baseline
    ? `  vs ${result.baseline.name} ${fmt(result.baseline.value)} (×${fmt(result.value / result.baseline.value)})`
    : '';
  console.log(`${result.name}: ${fmt(result.value)} ${result.unit}${base}`);
  const out = process.env.TAPSTACK_BENCH_OUT;
  if (out) appendFileSync(out, `${JSON.stringify(result)}\n`);
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (a >= 100) return n.toFixed(0);
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(3);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export interface RoundsOptions {
  warmup?: number;
  rounds?: number;
}

/**
 * Runs `round` (sync or async) `warmup` times, then `rounds` times, and returns the
 * median of the values the rounds return (each round returns its own figure, e.g. ops/s).
 */
export async function medianOfRounds(
  round: () => number | Promise<number>,
  { warmup = 1, rounds = 5 }: RoundsOptions = {},
): Promise<number> {
  for (let i = 0; i < warmup; i++) await round();
  const vals: number[] = [];
  for (let i = 0; i < rounds; i++) vals.push(await round());
  return median(vals);
}

/** Quick mode (BENCH_QUICK=1) shrinks workloads, for smoke runs. */
export const quick = process.env.BENCH_QUICK === '1';
