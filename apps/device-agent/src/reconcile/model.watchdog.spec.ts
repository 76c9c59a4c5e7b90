import type { TelemetryWindow } from '@edge-fleet/shared';
import { describe, expect, it } from 'vitest';
import { judgeWindow, ModelWatchdog, type WatchdogPolicy } from './model.watchdog.js';

const POLICY: WatchdogPolicy = { latencyTargetMs: 20, latencyPercentile: 'p99', errorRateMax: 0.01 };
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const MODEL = { variantId: 'var-new', sha256: 'a'.repeat(64) };

function win(seq: number, p99: number, over: Partial<TelemetryWindow> = {}): TelemetryWindow {
  return {
    schema: 1,
    deviceId: '00000000-0000-4000-8000-000000000001',
    bootId: '00000000-0000-4000-8000-000000000002',
    seq,
    windowStart: new Date(T0 + seq * 1000).toISOString(),
    windowEnd: new Date(T0 + (seq + 1) * 1000).toISOString(),
    modelVersionId: 'mv',
    variantId: 'var-new',
    precision: 'fp32',
    inferences: 100,
    errors: 0,
    latencyMs: { p50: p99 / 2, p95: p99, p99, max: p99 },
    power: { watts: 1, source: 'estimate', detail: '' },
    memory: { rssMb: 1, heapUsedMb: 1 },
    cacheHits: 0,
    fallbacks: 0,
    source: 'probe',
    ...over,
  };
}

describe('ModelWatchdog', () => {
  it('rolls back after the configured number of breaching windows, with a reason that starts "watchdog:"', () => {
    const w = new ModelWatchdog({ windows: 3, breachesToRollback: 2 });
    w.arm(MODEL, POLICY, T0 + 500);
    expect(w.observe(win(0, 90)).kind).toBe('watching'); // opened before the swap: not judged
    expect(w.observe(win(1, 90))).toEqual({ kind: 'watching', judged: 1, breaches: 1 });
    expect(w.observe(win(2, 5))).toEqual({ kind: 'watching', judged: 2, breaches: 1 });
    const verdict = w.observe(win(3, 45));
    expect(verdict.kind).toBe('rollback');
    if (verdict.kind === 'rollback') {
      expect(verdict.reason).toMatch(/^watchdog: model var-new/);
      expect(verdict.reason).toContain('p99 90 ms > 20 ms');
      expect(verdict.reason).toContain('in 2 of 3 windows');
    }
    expect(w.observe(win(4, 90)).kind).toBe('idle');
  });

  it('passes a model that meets its targets for the watched windows, and stops judging', () => {
    const w = new ModelWatchdog({ windows: 3, breachesToRollback: 2 });
    w.arm(MODEL, POLICY, T0);
    expect(w.observe(win(0, 25)).kind).toBe('watching');
    expect(w.observe(win(1, 10)).kind).toBe('watching');
    expect(w.observe(win(2, 10))).toEqual({ kind: 'passed' });
    expect(w.watching).toBeNull();
  });

  it('ignores windows labelled with another variant', () => {
    const w = new ModelWatchdog({ windows: 1, breachesToRollback: 1 });
    w.arm(MODEL, POLICY, T0);
    expect(w.observe(win(0, 99, { variantId: 'var-old' })).kind).toBe('watching');
    expect(w.observe(win(1, 99)).kind).toBe('rollback');
  });

  it('judges error rate and empty windows as breaches', () => {
    expect(judgeWindow(win(0, 1, { errors: 2 }), POLICY)).toBe('error rate 0.02 > 0.01');
    expect(judgeWindow(win(0, 1, { errors: 1 }), POLICY)).toBeNull();
    expect(judgeWindow(win(0, 0, { inferences: 0, latencyMs: null }), POLICY)).toBe('no inference completed');
    expect(judgeWindow(win(0, 1, { latencyMs: { p50: 1, p95: 30, p99: 1, max: 30 } }), { ...POLICY, latencyPercentile: 'p95' })).toBe(
      'p95 30 ms > 20 ms',
    );
  });
});
