import { LatencyHistogram, type TelemetryWindow } from '@edge-fleet/shared';
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

describe('ModelWatchdog on windows without histograms (one by one)', () => {
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

/** A window whose runs are `fast` at 1 ms and `slow` at `slowMs`, with its histogram. */
function runs(seq: number, fast: number, slow: number, slowMs = 30, over: Partial<TelemetryWindow> = {}): TelemetryWindow {
  const h = new LatencyHistogram();
  h.record(1, fast);
  if (slow > 0) h.record(slowMs, slow);
  const n = fast + slow;
  const q = (x: number) => h.quantile(x);
  return win(seq, q(0.99), {
    inferences: n,
    latencyMs: { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: slow > 0 ? slowMs : 1 },
    latencyHistogram: h.toSparse(),
    ...over,
  });
}

describe('ModelWatchdog on the runs since the activation', () => {
  it('passes a healthy model whose every 50-run window has one slow run over the target (scheduler noise)', () => {
    const w = new ModelWatchdog({ windows: 3, breachesToRollback: 2 });
    w.arm(MODEL, POLICY, T0);
    // Each window's p99 is 30 ms > 20 ms: judged one by one, two such windows rolled it back.
    expect(judgeWindow(runs(0, 49, 1), POLICY)).toMatch(/^p99 30(\.\d+)? ms > 20 ms$/);
    expect(w.observe(runs(0, 49, 1)).kind).toBe('watching');
    expect(w.observe(runs(1, 49, 1)).kind).toBe('watching');
    expect(w.observe(runs(2, 49, 1))).toEqual({ kind: 'passed' });
  });

  it('rolls a model back at its first window when its runs are over the target beyond doubt, naming the figures', () => {
    const w = new ModelWatchdog({ windows: 3, breachesToRollback: 2 });
    w.arm(MODEL, POLICY, T0);
    const verdict = w.observe(runs(0, 45, 5));
    expect(verdict.kind).toBe('rollback');
    if (verdict.kind === 'rollback') {
      expect(verdict.reason).toMatch(/^watchdog: model var-new .*p99 \d+(\.\d+)? ms > 20 ms over 50 run\(s\) in 1 window/);
      expect(verdict.reason).toContain('5 run(s) above 20 ms (the tier allows 1 %; p = ');
    }
  });

  it('does not blame a new model for a device that is as slow with the previous one, and does blame a slower one', () => {
    const arm = () => {
      const w = new ModelWatchdog({ windows: 3, breachesToRollback: 2 });
      // The previous model on this device: 8 % of its runs over the target.
      for (let s = 0; s < 6; s++) expect(w.observe(runs(s, 46, 4, 30, { variantId: 'var-old' })).kind).toBe('idle');
      w.arm(MODEL, POLICY, T0 + 10_000);
      return w;
    };
    const same = arm();
    expect(same.observe(runs(10, 46, 4)).kind).toBe('watching');
    expect(same.observe(runs(11, 46, 4)).kind).toBe('watching');
    expect(same.observe(runs(12, 46, 4))).toEqual({ kind: 'passed' });

    const slower = arm();
    expect(slower.observe(runs(10, 30, 20)).kind).toBe('rollback');

    // Without that record the same 8 % is a breach of the tier's 1 %.
    const fresh = new ModelWatchdog({ windows: 3, breachesToRollback: 2 });
    fresh.arm(MODEL, POLICY, T0);
    expect(fresh.observe(runs(10, 46, 4)).kind).toBe('rollback');
  });

  it('judges errors over all runs: a stray error passes, a failing model is rolled back', () => {
    const stray = new ModelWatchdog({ windows: 3, breachesToRollback: 2 });
    stray.arm(MODEL, POLICY, T0);
    // 2 errors in 100 is over 0.01 in that window, but not beyond doubt.
    expect(stray.observe(runs(0, 100, 0, 30, { errors: 2 })).kind).toBe('watching');
    expect(stray.observe(runs(1, 100, 0)).kind).toBe('watching');
    expect(stray.observe(runs(2, 100, 0))).toEqual({ kind: 'passed' });

    const failing = new ModelWatchdog({ windows: 3, breachesToRollback: 2 });
    failing.arm(MODEL, POLICY, T0);
    const verdict = failing.observe(runs(0, 100, 0, 30, { errors: 12 }));
    expect(verdict.kind).toBe('rollback');
    if (verdict.kind === 'rollback') expect(verdict.reason).toContain('12 error(s) in 100 inference(s)');
  });

  it('rolls back a hung model: windows in which nothing completed', () => {
    const w = new ModelWatchdog({ windows: 3, breachesToRollback: 2 });
    w.arm(MODEL, POLICY, T0);
    expect(w.observe(runs(0, 50, 0)).kind).toBe('watching');
    expect(w.observe(win(1, 0, { inferences: 0, latencyMs: null })).kind).toBe('watching');
    const verdict = w.observe(win(2, 0, { inferences: 0, latencyMs: null }));
    expect(verdict.kind).toBe('rollback');
    if (verdict.kind === 'rollback') expect(verdict.reason).toContain('window 2: no inference completed');
  });
});
