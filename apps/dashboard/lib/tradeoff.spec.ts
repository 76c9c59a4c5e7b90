import { describe, expect, it } from 'vitest';
import type { VariantMeasurement } from '@edge-fleet/shared/schemas';
import {
  formatAbsError,
  formatCosine,
  formatLatency,
  formatRatio,
  formatTop1,
  measurementCaption,
  missingFiguresNote,
  tradeoffRow,
  type VariantFigures,
} from './tradeoff';

function measured(over: Partial<VariantMeasurement> = {}): VariantMeasurement {
  return {
    machine: 'Ryzen 7',
    threads: 4,
    sizeBytes: 1000,
    loadMs: 12,
    latencyMs: { p50: 2, p95: 3, p99: 4 },
    runs: 200,
    agreement: null,
    inputs: { source: 'generated', seed: 7 },
    ...over,
  };
}

const fp32: VariantFigures = {
  id: 'a',
  precision: 'fp32',
  method: 'fp32',
  status: 'ready',
  reason: null,
  sizeBytes: 4000,
  measured: measured(),
};
const int8: VariantFigures = {
  id: 'b',
  precision: 'int8',
  method: 'int8-static-qdq',
  status: 'ready',
  reason: null,
  sizeBytes: 1000,
  measured: measured({
    latencyMs: { p50: 1, p95: 1.5, p99: 3 },
    agreement: { maxAbsError: 0.0031, cosine: 0.999876, top1: 0.984, samples: 64 },
  }),
};

describe('formatRatio', () => {
  it('states how many times the FP32 figure a variant takes (below 1 is smaller or faster)', () => {
    expect(formatRatio(1, 4)).toBe('0.25×');
    expect(formatRatio(6, 4)).toBe('1.50×');
    expect(formatRatio(45, 2)).toBe('22.5×');
    expect(formatRatio(0.001, 4)).toBe('<0.01×');
  });

  it('shows a dash rather than a figure it cannot compute', () => {
    expect(formatRatio(null, 4)).toBe('—');
    expect(formatRatio(1, null)).toBe('—');
    expect(formatRatio(1, 0)).toBe('—');
  });
});

describe('agreement formatting', () => {
  it('keeps small errors readable and says when top-1 does not apply', () => {
    expect(formatAbsError(0.00031)).toBe('3.10e-4');
    expect(formatAbsError(0.25)).toBe('0.250');
    expect(formatAbsError(0)).toBe('0');
    expect(formatTop1(0.984)).toBe('98.4 %');
    expect(formatTop1(null)).toBe('n/a');
    expect(formatCosine(0.999876)).toBe('0.99988');
    expect(formatCosine(0.99999997)).toBe('1 − 3.0e-8');
    expect(formatCosine(1)).toBe('1.00000');
  });
});

describe('formatLatency', () => {
  it('keeps three significant figures for sub-millisecond latencies', () => {
    expect(formatLatency(0.043271)).toBe('0.0433 ms');
    expect(formatLatency(0.46)).toBe('0.460 ms');
    expect(formatLatency(12.345)).toBe('12.3 ms');
    expect(formatLatency(0)).toBe('0.00 ms');
  });
});

describe('tradeoffRow', () => {
  it('compares a quantised variant with FP32 measured on the same machine', () => {
    const row = tradeoffRow(int8, fp32);
    expect(row.sizeRatio).toBe('0.25×');
    expect(row.figures).toMatchObject({
      p50: '1.0 ms',
      p50Ratio: '0.50×',
      p99: '3.0 ms',
      p99Ratio: '0.75×',
      cosine: '0.99988',
      top1: '98.4 %',
      maxAbsError: '3.10e-3',
      ratioNote: null,
    });
  });

  it('marks the FP32 row as the baseline instead of comparing it with itself', () => {
    expect(tradeoffRow(fp32, fp32)).toMatchObject({ sizeRatio: 'baseline', figures: { p50Ratio: 'baseline', cosine: 'baseline' } });
  });

  it('shows no latency ratio across different machines or thread counts', () => {
    const elsewhere = { ...int8, measured: measured({ threads: 1 }) };
    const row = tradeoffRow(elsewhere, fp32);
    expect(row.figures?.p50Ratio).toBe('—');
    expect(row.figures?.ratioNote).toMatch(/another machine/);
    expect(row.sizeRatio).toBe('0.25×');
  });

  it('says why a row has no figures instead of inventing them', () => {
    expect(tradeoffRow({ ...int8, status: 'building', measured: null }, fp32)).toMatchObject({ figures: null, note: 'building…' });
    expect(tradeoffRow({ ...int8, measured: null }, fp32).note).toBe('not measured yet');
    expect(missingFiguresNote({ ...int8, status: 'not_applicable', sizeBytes: null, measured: null })).toBe('not built — no figures');
    expect(tradeoffRow({ ...int8, sizeBytes: null, measured: null }, null)).toMatchObject({ size: '—', sizeRatio: '—' });
  });
});

describe('measurementCaption', () => {
  it('names the machine, threads, runs and input source once when all variants share them', () => {
    expect(measurementCaption([fp32, int8])).toBe(
      'Measured on Ryzen 7 with 4 threads, 200 runs, generated inputs (seed 7); agreement with FP32 over 64 samples.',
    );
  });

  it('lists each bench separately when variants were measured on different ones', () => {
    const other = { ...int8, measured: measured({ machine: 'Cortex-A72', threads: 1, inputs: { source: 'uploaded', seed: null } }) };
    expect(measurementCaption([fp32, other])).toBe(
      'Measured on different benches: fp32 on Ryzen 7 with 4 threads, 200 runs, generated inputs (seed 7); int8 on Cortex-A72 with 1 thread, 200 runs, uploaded inputs.',
    );
  });

  it('is null when nothing was measured', () => {
    expect(measurementCaption([{ ...fp32, measured: null }])).toBeNull();
  });
});
