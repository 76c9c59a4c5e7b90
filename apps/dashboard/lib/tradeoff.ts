import type { VariantMeasurement } from '@edge-fleet/shared/schemas';
import type { ModelVariant } from './api-types';
import { DASH, formatBytes, formatMs } from './format';

/** The part of a model variant the trade-off table reads. */
export type VariantFigures = Pick<ModelVariant, 'id' | 'precision' | 'method' | 'status' | 'reason' | 'sizeBytes' | 'measured'>;

/** value / baseline as "0.48×"; a dash when either figure is missing or the baseline is zero. */
export function formatRatio(value: number | null | undefined, baseline: number | null | undefined): string {
  if (typeof value !== 'number' || typeof baseline !== 'number' || !Number.isFinite(value) || !Number.isFinite(baseline) || baseline <= 0)
    return DASH;
  const r = value / baseline;
  if (r > 0 && r < 0.01) return '<0.01×';
  return `${r < 10 ? r.toFixed(2) : r.toFixed(1)}×`;
}

/** Cosine similarity with five decimals; a value that would round to 1 but is not 1 shows its distance from 1. */
export function formatCosine(c: number): string {
  if (c < 1 && c >= 0.999995) return `1 − ${(1 - c).toExponential(1)}`;
  return c.toFixed(5);
}

/** A top-1 agreement fraction as a percentage; null where the output is not a classification. */
export function formatTop1(top1: number | null): string {
  return top1 === null ? 'n/a' : `${(top1 * 100).toFixed(1)} %`;
}

/** Latency in ms with three significant figures below 1 ms, where reference-machine figures often are. */
export function formatLatency(ms: number): string {
  return ms > 0 && ms < 1 ? `${ms.toPrecision(3)} ms` : formatMs(ms);
}

export function formatAbsError(e: number): string {
  if (e === 0) return '0';
  return e < 0.01 ? e.toExponential(2) : e.toPrecision(3);
}

/** The FP32 variant every other variant is compared with. */
export function baselineOf<T extends VariantFigures>(variants: readonly T[]): T | null {
  return variants.find((v) => v.method === 'fp32') ?? null;
}

function sameBench(a: VariantMeasurement, b: VariantMeasurement): boolean {
  return a.machine === b.machine && a.threads === b.threads;
}

/** The artifact size as stored, else as measured. */
export function sizeOf(v: VariantFigures): number | null {
  return v.sizeBytes ?? v.measured?.sizeBytes ?? null;
}

/** Why a row has no figures; null when it has them. */
export function missingFiguresNote(v: VariantFigures): string | null {
  if (v.status === 'building') return 'building…';
  if (v.measured) return null;
  switch (v.status) {
    case 'not_applicable':
    case 'failed':
      return 'not built — no figures';
    case 'ready':
    case 'unusable':
      return 'not measured yet';
  }
}

export interface TradeoffRow {
  size: string;
  sizeRatio: string;
  /** Null when the row shows `missingFiguresNote` instead. */
  figures: {
    p50: string;
    p50Ratio: string;
    p99: string;
    p99Ratio: string;
    load: string;
    cosine: string;
    top1: string;
    maxAbsError: string;
    /** Set when the FP32 figures came from another machine, so no latency ratio is shown. */
    ratioNote: string | null;
  } | null;
  note: string | null;
}

/**
 * One row of the trade-off table. Latency ratios compare only figures from the same machine and thread count;
 * nothing is estimated, a missing figure stays a dash.
 */
export function tradeoffRow(v: VariantFigures, baseline: VariantFigures | null): TradeoffRow {
  const isBaseline = baseline !== null && v.id === baseline.id;
  const size = sizeOf(v);
  const base = baseline?.measured ?? null;
  const m = v.measured;
  const note = missingFiguresNote(v);
  const sizeRatio = isBaseline ? 'baseline' : formatRatio(size, baseline ? sizeOf(baseline) : null);
  if (!m || note) return { size: formatBytes(size), sizeRatio, figures: null, note };
  const comparable = base !== null && sameBench(m, base);
  const latencyRatio = (value: number, ref: number | undefined) => (isBaseline ? 'baseline' : comparable ? formatRatio(value, ref) : DASH);
  return {
    size: formatBytes(size),
    sizeRatio,
    note: null,
    figures: {
      p50: formatLatency(m.latencyMs.p50),
      p50Ratio: latencyRatio(m.latencyMs.p50, base?.latencyMs.p50),
      p99: formatLatency(m.latencyMs.p99),
      p99Ratio: latencyRatio(m.latencyMs.p99, base?.latencyMs.p99),
      load: formatMs(m.loadMs),
      cosine: m.agreement ? formatCosine(m.agreement.cosine) : isBaseline ? 'baseline' : DASH,
      top1: m.agreement ? formatTop1(m.agreement.top1) : isBaseline ? 'baseline' : DASH,
      maxAbsError: m.agreement ? formatAbsError(m.agreement.maxAbsError) : isBaseline ? 'baseline' : DASH,
      ratioNote:
        isBaseline || comparable
          ? null
          : base
            ? 'FP32 was measured on another machine or thread count'
            : 'FP32 has no measurement to compare with',
    },
  };
}

function inputsLabel(i: VariantMeasurement['inputs']): string {
  const from = i.source === 'uploaded' ? 'uploaded inputs' : 'generated inputs';
  return i.seed === null ? from : `${from} (seed ${i.seed})`;
}

/**
 * Where the figures come from: "Measured on <cpu> with 4 threads, 200 runs, generated inputs (seed 7); agreement
 * with FP32 over 64 samples." Variants measured on different benches are listed separately; null when nothing was measured.
 */
export function measurementCaption(variants: readonly VariantFigures[]): string | null {
  const groups = new Map<string, { precisions: string[]; m: VariantMeasurement }>();
  for (const v of variants) {
    const m = v.measured;
    if (!m) continue;
    const key = JSON.stringify([m.machine, m.threads, m.runs, m.inputs.source, m.inputs.seed]);
    const g = groups.get(key);
    if (g) g.precisions.push(v.precision);
    else groups.set(key, { precisions: [v.precision], m });
  }
  if (groups.size === 0) return null;
  const samples = [...new Set(variants.flatMap((v) => (v.measured?.agreement ? [v.measured.agreement.samples] : [])))];
  const bench = (m: VariantMeasurement) =>
    `${m.machine} with ${m.threads} thread${m.threads === 1 ? '' : 's'}, ${m.runs} runs, ${inputsLabel(m.inputs)}`;
  const only = groups.size === 1 ? [...groups.values()][0] : undefined;
  const where = only
    ? `Measured on ${bench(only.m)}`
    : `Measured on different benches: ${[...groups.values()].map((g) => `${g.precisions.join(', ')} on ${bench(g.m)}`).join('; ')}`;
  const agreement = samples.length > 0 ? `; agreement with FP32 over ${samples.join('/')} samples` : '';
  return `${where}${agreement}.`;
}
