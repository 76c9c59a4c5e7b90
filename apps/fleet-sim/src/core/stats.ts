import { percentile } from '@edge-fleet/shared/stats';

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank p50/p95/p99 and the max of `values`; NaN for each when there are none. */
export function summarize(values: readonly number[]): Summary {
  const s = Float64Array.from(values).sort();
  const at = (p: number): number => percentile(s, p);
  return { n: s.length, p50: at(50), p95: at(95), p99: at(99), max: s.length ? (s[s.length - 1] ?? Number.NaN) : Number.NaN };
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  // one iterator shared by every worker: each item is taken exactly once
  const it = items.entries();
  const worker = async (): Promise<void> => {
    for (const [i, item] of it) out[i] = await fn(item, i);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 }) : 'n/a';
}
