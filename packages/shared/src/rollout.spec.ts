import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CreateRolloutSchema,
  DEFAULT_GATES,
  evaluateGates,
  orderForWaves,
  planWaveSizes,
  type BaselineFigures,
  type DeviceEvidence,
} from './rollout.js';

const policy = { latencyTargetMs: 10, latencyPercentile: 'p99' as const, errorRateMax: 0.01, powerBudgetW: 5 };
const dev = (over: Partial<DeviceEvidence> = {}): DeviceEvidence => ({
  deviceId: over.deviceId ?? 'd1',
  hardwareClass: 'arm',
  state: 'applied',
  failure: null,
  late: false,
  windows: 3,
  inferences: 300,
  errors: 0,
  latencyMs: 4,
  histogram: null,
  histogramWindows: 0,
  powerW: 2,
  powerSource: 'estimate',
  policy,
  ...over,
});
const noBaseline = (): BaselineFigures | null => null;
const at = new Date('2026-11-29T12:00:00Z');

describe('planWaveSizes', () => {
  it('splits by percent, rounding up, the last wave taking the rest', () => {
    expect(planWaveSizes(10, [{ percent: 10 }, { percent: 40 }, { percent: 50 }])).toEqual([1, 4, 5]);
    expect(planWaveSizes(3, [{ percent: 10 }, { percent: 90 }])).toEqual([1, 2]);
  });
  it('mixes a canary count with percentages', () => {
    expect(planWaveSizes(100, [{ count: 2 }, { percent: 50 }, { percent: 50 }])).toEqual([2, 50, 48]);
  });
  it('refuses waves that do not add up, naming the figures', () => {
    expect(() => planWaveSizes(10, [{ percent: 10 }, { percent: 80 }])).toThrow(
      'the waves add up to 90 % of the target; they must add up to 100 %',
    );
    expect(() => planWaveSizes(10, [{ percent: 60 }, { percent: 60 }])).toThrow('may not exceed 100 %');
    expect(() => planWaveSizes(10, [{ count: 1 }, { count: 5 }])).toThrow(
      'the last wave asks for 5 device(s) but 9 of the 10 target devices remain',
    );
    expect(() => planWaveSizes(2, [{ count: 2 }, { percent: 50 }])).toThrow('wave 2 would have no device');
    expect(() => planWaveSizes(0, [{ percent: 100 }])).toThrow('the target matches no device');
  });
});

describe('CreateRolloutSchema', () => {
  const base = {
    modelVersionId: '00000000-0000-4000-8000-000000000001',
    target: { scenario: 'financial_trading' },
    waves: [{ percent: 100, soakSeconds: 60 }],
  };
  it('names a gate metric that does not exist', () => {
    const r = CreateRolloutSchema.safeParse({ ...base, gates: [{ metric: 'cpu_temperature' }] });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toContain('metric "cpu_temperature" does not exist');
    expect(r.error?.issues[0]?.path).toEqual(['gates', 0, 'metric']);
  });
  it('refuses an empty target and a wave with both count and percent', () => {
    expect(CreateRolloutSchema.safeParse({ ...base, target: {} }).error?.issues[0]?.message).toContain('the target is empty');
    expect(CreateRolloutSchema.safeParse({ ...base, waves: [{ percent: 100, count: 1, soakSeconds: 1 }] }).success).toBe(false);
  });
  it('takes gates for one wave, and names a bad metric there too', () => {
    const ok = CreateRolloutSchema.parse({
      ...base,
      waves: [
        { count: 1, soakSeconds: 5, gates: [{ metric: 'latency', max: 2 }] },
        { percent: 100, soakSeconds: 5 },
      ],
    });
    expect(ok.waves[0]?.gates).toEqual([{ metric: 'latency', max: 2, maxFailingShare: 0 }]);
    const bad = CreateRolloutSchema.safeParse({ ...base, waves: [{ percent: 100, soakSeconds: 5, gates: [{ metric: 'fps' }] }] });
    expect(bad.error?.issues[0]?.path).toEqual(['waves', 0, 'gates', 0, 'metric']);
  });
  it('fills in the defaults', () => {
    expect(CreateRolloutSchema.parse(base)).toMatchObject({
      failurePolicy: 'rollback',
      notifyRatePerSecond: 100,
      waves: [{ requireApproval: false }],
    });
  });
});

describe('evaluateGates', () => {
  it('hybrid placement: judges the local runs as before and reports the share of requests forwarded to cloud nodes', () => {
    const local = evaluateGates([dev({ deviceId: 'a' }), dev({ deviceId: 'b', latencyMs: 6 })], DEFAULT_GATES, noBaseline, at);
    const hybrid = evaluateGates(
      [dev({ deviceId: 'a', remoteInferences: 700 }), dev({ deviceId: 'b', latencyMs: 6 })],
      DEFAULT_GATES,
      noBaseline,
      at,
    );
    expect(local.remote).toBeUndefined();
    expect(hybrid.remote).toEqual({ local: 600, remote: 700, share: 700 / 1300, devices: 1 });
    // the verdicts are the local model's: forwarded requests neither help nor hurt them
    expect(hybrid.gates).toEqual(local.gates);
  });
  it('passes a healthy wave and records the figures', () => {
    const r = evaluateGates([dev({ deviceId: 'a' }), dev({ deviceId: 'b', latencyMs: 6 })], DEFAULT_GATES, noBaseline, at);
    expect(r.passed).toBe(true);
    expect(r.gates.find((g) => g.metric === 'latency')).toMatchObject({ passed: true, figure: 5, threshold: 10, judged: 2, failing: 0 });
  });
  it('fails the latency gate for a device over its tier target', () => {
    const r = evaluateGates([dev({ deviceId: 'a' }), dev({ deviceId: 'slow', latencyMs: 25 })], DEFAULT_GATES, noBaseline, at);
    expect(r.passed).toBe(false);
    const g = r.gates.find((x) => x.metric === 'latency');
    expect(g).toMatchObject({ passed: false, failing: 1 });
    expect(g?.failingDevices[0]?.why).toContain('p99 ≈ 25 ms (median of window p99s: legacy agent without histograms) > 10 ms');
  });
  it('counts a silent device as failing, but not a late joiner that has not reported yet', () => {
    const silent = evaluateGates(
      [dev({ deviceId: 'a' }), dev({ deviceId: 's', state: 'notified', windows: 0, inferences: 0, latencyMs: null, powerW: null })],
      DEFAULT_GATES,
      noBaseline,
      at,
    );
    expect(silent.gates.find((g) => g.metric === 'silence')).toMatchObject({ passed: false, failing: 1 });
    const late = evaluateGates(
      [
        dev({ deviceId: 'a' }),
        dev({ deviceId: 'l', late: true, state: 'notified', windows: 0, inferences: 0, latencyMs: null, powerW: null }),
      ],
      DEFAULT_GATES,
      noBaseline,
      at,
    );
    expect(late.passed).toBe(true);
  });
  it('fails on an update failure and tolerates a share when asked', () => {
    const ev = [
      dev({ deviceId: 'a' }),
      dev({ deviceId: 'b' }),
      dev({ deviceId: 'c' }),
      dev({ deviceId: 'f', state: 'failed', failure: 'smoke_failed: NaN', windows: 0 }),
    ];
    expect(evaluateGates(ev, DEFAULT_GATES, noBaseline, at).gates.find((g) => g.metric === 'update_failures')).toMatchObject({
      passed: false,
      failing: 1,
      judged: 4,
    });
    expect(evaluateGates(ev, [{ metric: 'update_failures', maxFailingShare: 0.3 }], noBaseline, at).passed).toBe(true);
  });
  it('judges error rate and power against the policy or the gate max', () => {
    const ev = [dev({ deviceId: 'e', errors: 30 }), dev({ deviceId: 'p', powerW: 9 })];
    const r = evaluateGates(ev, DEFAULT_GATES, noBaseline, at);
    expect(r.gates.find((g) => g.metric === 'error_rate')?.failingDevices.map((d) => d.deviceId)).toEqual(['e']);
    expect(r.gates.find((g) => g.metric === 'power')?.failingDevices.map((d) => d.deviceId)).toEqual(['p']);
    expect(evaluateGates(ev, [{ metric: 'power', max: 10, maxFailingShare: 0 }], noBaseline, at).passed).toBe(true);
  });
  it('compares with the baseline cohort on the same hardware class', () => {
    const baseline = (hc: string): BaselineFigures | null =>
      hc === 'arm' ? { devices: 4, latencyMs: 2, errorRate: 0, distributions: [] } : null;
    const r = evaluateGates(
      [dev({ latencyMs: 4 }), dev({ deviceId: 'x86', hardwareClass: 'x86', latencyMs: 9 })],
      DEFAULT_GATES,
      baseline,
      at,
    );
    const g = r.gates.find((x) => x.metric === 'baseline_regression');
    expect(g).toMatchObject({ passed: false, judged: 1, failing: 1 });
    expect(g?.failingDevices[0]?.why).toContain('+100 %');
  });
  it('calls a rise in errors against the baseline a regression, beyond the tolerance and a tenth of the tier maximum', () => {
    const baseline = (): BaselineFigures => ({ devices: 3, latencyMs: 4, errorRate: 0.001, distributions: [] });
    // 0.005 is under the tier's 0.01 maximum (the error_rate gate passes) but five times what the old model does
    const r = evaluateGates([dev({ errors: 15, inferences: 3_000 })], DEFAULT_GATES, baseline, at);
    expect(r.gates.find((g) => g.metric === 'error_rate')?.passed).toBe(true);
    expect(r.gates.find((g) => g.metric === 'baseline_regression')?.failingDevices[0]?.why).toBe(
      'error rate 0.005 vs baseline 0.001 on arm',
    );
    expect(evaluateGates([dev({ errors: 5, inferences: 3_000 })], DEFAULT_GATES, baseline, at).passed).toBe(true);
  });
  it('does not call sub-millisecond jitter a regression: the increase must also exceed a tenth of the tier target', () => {
    const baseline = (): BaselineFigures => ({ devices: 2, latencyMs: 0.49, errorRate: 0, distributions: [] });
    expect(evaluateGates([dev({ latencyMs: 0.84 })], DEFAULT_GATES, baseline, at).passed).toBe(true);
    expect(evaluateGates([dev({ latencyMs: 1.6 })], DEFAULT_GATES, baseline, at).passed).toBe(false);
  });
});

describe('orderForWaves', () => {
  it('interleaves hardware classes and is stable for a rollout', () => {
    const hash = (s: string) => createHash('sha256').update(s).digest('hex');
    const devices = [...Array.from({ length: 6 }, (_, i) => ({ id: `a${i}`, hardwareClass: 'arm' })), { id: 'x0', hardwareClass: 'x86' }];
    const o = orderForWaves(devices, 'r1', hash);
    expect(
      o
        .slice(0, 2)
        .map((d) => d.hardwareClass)
        .sort(),
    ).toEqual(['arm', 'x86']);
    expect(orderForWaves(devices, 'r1', hash)).toEqual(o);
    expect(o).toHaveLength(7);
  });
});
