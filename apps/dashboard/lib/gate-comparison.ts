/** Display logic of a gate's canary vs baseline comparison: verdicts in words, figures with units, a CDF plot's geometry. */

export type GateVerdict = 'passed' | 'failed' | 'insufficient_evidence';

/** A gate's verdict; results stored before issue 17 only say passed or not. */
export function verdictOf(g: { outcome?: string; passed: boolean }): GateVerdict {
  if (g.outcome === 'passed' || g.outcome === 'failed' || g.outcome === 'insufficient_evidence') return g.outcome;
  return g.passed ? 'passed' : 'failed';
}

export const VERDICT_LABELS: Record<GateVerdict, string> = {
  passed: 'passed',
  failed: 'failed',
  insufficient_evidence: 'insufficient evidence',
};

/** The CSS status class of a verdict (globals.css). */
export function verdictClass(v: GateVerdict): string {
  return v === 'insufficient_evidence' ? 'status-waiting' : `status-${v}`;
}

const sig = (x: number, digits = 3): string => Number(x.toPrecision(digits)).toString();

/** "+31.2 % (+1.05 ms)". */
export function formatEffect(effect: number | null | undefined, effectMs: number | null | undefined): string {
  if (effect === null || effect === undefined || !Number.isFinite(effect)) return '—';
  const ms =
    effectMs === null || effectMs === undefined || !Number.isFinite(effectMs) ? '' : ` (${effectMs >= 0 ? '+' : ''}${sig(effectMs)} ms)`;
  return `${effect >= 0 ? '+' : ''}${sig(effect * 100)} %${ms}`;
}

/** "[+12.1 %, +50.3 %] at 99 %". */
export function formatInterval(interval: readonly [number, number] | null | undefined, confidence: number): string {
  if (!interval) return '—';
  const p = (x: number): string => `${x >= 0 ? '+' : ''}${sig(x * 100)} %`;
  return `[${p(interval[0])}, ${p(interval[1])}] at ${sig(confidence * 100)} %`;
}

/** p-values below a thousandth read "< 0.001" (a bootstrap of 1,000 replicates resolves no finer). */
export function formatPValue(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return '—';
  return p < 0.001 ? '< 0.001' : sig(p, 2);
}

export interface CdfPlot {
  canary: string;
  baseline: string;
  ticks: { x: number; label: string }[];
  maxMs: number;
}

/**
 * Two empirical CDFs as SVG step paths in a `width` × `height` box, on a shared linear ms axis
 * from 0 to the larger of the two 99.9th percentiles (the far tail would flatten the rest).
 */
export function cdfPlot(
  canary: readonly (readonly [number, number])[],
  baseline: readonly (readonly [number, number])[],
  width: number,
  height: number,
): CdfPlot | null {
  if (canary.length === 0 || baseline.length === 0) return null;
  const tailOf = (c: readonly (readonly [number, number])[]): number => (c.find(([, s]) => s >= 0.999) ?? c[c.length - 1] ?? [1])[0];
  const maxMs = Math.max(tailOf(canary), tailOf(baseline), 1e-3);
  const x = (ms: number): number => Math.min(width, (ms / maxMs) * width);
  const y = (share: number): number => height - share * height;
  const path = (c: readonly (readonly [number, number])[]): string => {
    let d = `M0 ${height}`;
    for (const [ms, share] of c) d += ` H${x(ms).toFixed(1)} V${y(share).toFixed(1)}`;
    return `${d} H${width}`;
  };
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => ({ x: f * width, label: `${sig(f * maxMs, 2)} ms` }));
  return { canary: path(canary), baseline: path(baseline), ticks, maxMs };
}
