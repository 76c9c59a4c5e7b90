import { describe, expect, it } from 'vitest';
import { ROLLOUT_STATUSES } from '@edge-fleet/shared/rollout';
import {
  abortQuestion,
  baselineRows,
  combinedPowerSource,
  describeGateSpec,
  describeTarget,
  deviceErrorRate,
  formatChange,
  formatDeviceLatency,
  formatDuration,
  formatFailing,
  formatGateFigure,
  formatGateThreshold,
  formatPowerWithSource,
  formatRelative,
  formatShare,
  isActiveRollout,
  isMeasuredPower,
  latencyOverTarget,
  parseFigures,
  rolloutActions,
  stateCounts,
  sumByState,
  waveProgress,
} from './rollouts';

describe('rolloutActions', () => {
  it('offers each control only in the statuses the control plane accepts it in', () => {
    expect(rolloutActions('running')).toEqual(['pause', 'abort']);
    expect(rolloutActions('awaiting_approval')).toEqual(['approve', 'pause', 'abort']);
    expect(rolloutActions('paused')).toEqual(['resume', 'abort']);
    for (const ended of ['completed', 'aborted', 'rolled_back']) expect(rolloutActions(ended)).toEqual([]);
    expect(rolloutActions('something_new')).toEqual([]);
  });

  it('covers every rollout status, and the active ones are those with an abort', () => {
    for (const s of ROLLOUT_STATUSES) expect(isActiveRollout(s)).toBe(rolloutActions(s).includes('abort'));
    expect(isActiveRollout('completed')).toBe(false);
  });

  it('says how many devices an abort sends back before it is confirmed', () => {
    const total = sumByState([
      { applied: 3, pending: 10 },
      { notified: 1, failed: 1, skipped: 2 },
    ]);
    expect(total).toEqual({ applied: 3, pending: 10, notified: 1, failed: 1, skipped: 2 });
    expect(abortQuestion('detector 2', total)).toBe(
      'Abort the rollout "detector 2"? 5 devices it changed will be sent back to the model they ran before. This cannot be undone.',
    );
    expect(abortQuestion('x', { applied: 1 })).toContain('1 device it changed will be sent back to the model it ran before');
    expect(abortQuestion('x', { pending: 4 })).toContain('No device has been changed yet');
  });
});

describe('progress and counts', () => {
  it('numbers waves from one', () => {
    expect(waveProgress(0, 3)).toBe('1 of 3');
    expect(waveProgress(2, 3)).toBe('3 of 3');
    expect(waveProgress(0, 0)).toBe('—');
  });

  it('lists non-zero counts in lifecycle order, unknown states last', () => {
    expect(stateCounts({ failed: 1, zeta: 2, applied: 8, pending: 0, notified: 2 })).toEqual([
      { state: 'notified', count: 2 },
      { state: 'applied', count: 8 },
      { state: 'failed', count: 1 },
      { state: 'zeta', count: 2 },
    ]);
    expect(stateCounts({})).toEqual([]);
  });

  it('formats durations and moments relative to now', () => {
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(300)).toBe('5 min');
    expect(formatDuration(90)).toBe('1 min 30 s');
    expect(formatDuration(5400)).toBe('1 h 30 min');
    expect(formatDuration(2 * 86_400)).toBe('2 d');
    expect(formatDuration(null)).toBe('—');
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    expect(formatRelative(new Date(now + 45_000).toISOString(), now)).toBe('in 45 s');
    expect(formatRelative(new Date(now - 12_000).toISOString(), now)).toBe('12 s ago');
    expect(formatRelative(null, now)).toBe('—');
  });
});

describe('gate figures', () => {
  it('states each metric in its unit', () => {
    expect(formatGateFigure('latency', 4.2)).toBe('median 4.2 ms');
    expect(formatGateFigure('error_rate', 0.0123)).toBe('median 1.23 %');
    expect(formatGateFigure('power', 3.14, 'sensor')).toBe('median 3.1 W (sensor)');
    expect(formatGateFigure('update_failures', 0.25)).toBe('25 % of judged devices failed the update');
    expect(formatGateFigure('silence', 0)).toBe('0 % of judged devices silent');
    expect(formatGateFigure('baseline_regression', 1.12)).toBe('median +12 % vs baseline');
    expect(formatGateFigure('baseline_regression', 0.95)).toBe('median −5 % vs baseline');
    expect(formatGateFigure('latency', null)).toBe('—');
    expect(formatGateFigure('new_metric', 7)).toBe('7');
  });

  it('labels an estimated or simulated power figure, and never passes an unknown source off as measured', () => {
    expect(formatGateFigure('power', 3.14, 'estimate')).toBe('median 3.1 W (estimate)');
    expect(formatGateFigure('power', 12, 'mixed: estimate, sensor')).toBe('median 12 W (mixed: estimate, sensor)');
    expect(formatGateFigure('power', 3.14)).toBe('median 3.1 W (source unknown)');
  });

  it('states thresholds in the same units; shares are the limit of update failures and silence', () => {
    expect(formatGateThreshold('latency', 10, 0)).toBe('≤ 10 ms');
    expect(formatGateThreshold('error_rate', 0.0001, 0)).toBe('≤ 0.01 %');
    expect(formatGateThreshold('power', 5, 0)).toBe('≤ 5.0 W');
    expect(formatGateThreshold('baseline_regression', 0.25, 0)).toBe('≤ +25 % vs baseline');
    expect(formatGateThreshold('update_failures', null, 0)).toBe('at most 0 % of judged devices');
    expect(formatGateThreshold('silence', null, 0.1)).toBe('at most 10 % of judged devices');
    expect(formatGateThreshold('latency', 0.456, 0)).toBe('≤ 0.46 ms');
    expect(formatGateThreshold('latency', null, 0)).toBe('no threshold (nothing judged)');
  });

  it('counts failing against judged devices with the allowed share', () => {
    expect(formatFailing(2, 10, 0)).toBe('2 of 10 judged devices fail (0 % allowed)');
    expect(formatFailing(0, 1, 0.5)).toBe('0 of 1 judged device fails (50 % allowed)');
    expect(formatFailing(0, 0, 0)).toBe('no device could be judged');
  });

  it('keeps small shares and changes readable', () => {
    expect(formatShare(0.0001)).toBe('0.01 %');
    expect(formatShare(1 / 3)).toBe('33.3 %');
    expect(formatShare(1)).toBe('100 %');
    expect(formatChange(0)).toBe('±0 %');
    expect(formatChange(0.034)).toBe('+3.4 %');
  });

  it('describes the configured gates of a plan', () => {
    expect(describeGateSpec({ metric: 'latency', maxFailingShare: 0 })).toBe('Latency: the tier policy threshold; 0 % of devices may fail');
    expect(describeGateSpec({ metric: 'power', max: 7.5, maxFailingShare: 0.1 })).toBe('Power: ≤ 7.5 W; 10 % of devices may fail');
    expect(describeGateSpec({ metric: 'baseline_regression', maxFailingShare: 0 })).toBe(
      'Baseline regression: ≤ +15 % vs baseline; 0 % of devices may fail',
    );
    expect(describeGateSpec({ metric: 'silence', maxFailingShare: 0 })).toBe('Silence: any occurrence counts; 0 % of devices may fail');
  });
});

describe('power sources', () => {
  it('treats only a sensor as a measurement', () => {
    expect(isMeasuredPower('sensor')).toBe(true);
    for (const s of ['estimate', 'simulated', null, undefined, 'other']) expect(isMeasuredPower(s)).toBe(false);
  });

  it('always states where a device power figure comes from', () => {
    expect(formatPowerWithSource(3.14, 'estimate')).toBe('3.1 W (estimate)');
    expect(formatPowerWithSource(3.14, 'simulated')).toBe('3.1 W (simulated)');
    expect(formatPowerWithSource(120.4, 'sensor')).toBe('120 W (sensor)');
    expect(formatPowerWithSource(3.14, null)).toBe('3.1 W (source unknown)');
    expect(formatPowerWithSource(null, 'sensor')).toBe('—');
  });

  it('combines the sources of a wave figure', () => {
    expect(combinedPowerSource(['estimate', 'estimate', null])).toBe('estimate');
    expect(combinedPowerSource(['sensor', 'estimate'])).toBe('mixed: estimate, sensor');
    expect(combinedPowerSource([null, undefined])).toBeNull();
  });
});

describe('device figures', () => {
  const figures = {
    windows: 4,
    inferences: 200,
    errors: 2,
    latencyMs: 12.5,
    percentile: 'p99',
    targetMs: 10,
    powerW: 3.1,
    powerSource: 'estimate',
  };

  it('reads stored figures, and turns malformed fields into missing ones', () => {
    expect(parseFigures(figures)).toEqual(figures);
    expect(parseFigures(null)).toBeNull();
    expect(parseFigures({ latencyMs: 'fast', powerSource: 3 })).toMatchObject({ latencyMs: null, powerSource: null, windows: null });
  });

  it('gives latency at the percentile against the target, and the error rate', () => {
    const f = parseFigures(figures);
    expect(formatDeviceLatency(f)).toBe('p99 12.5 ms (target p99 < 10 ms)');
    expect(latencyOverTarget(f)).toBe(true);
    expect(deviceErrorRate(f)).toBe(0.01);
    expect(deviceErrorRate(parseFigures({ ...figures, inferences: 0 }))).toBeNull();
    expect(formatDeviceLatency(null)).toBe('—');
  });
});

describe('baselineRows', () => {
  const fig = (latencyMs: number | null) => parseFigures({ latencyMs });
  const baseline = {
    'dc-cpu-100t': { devices: 3, latencyMs: 5, errorRate: 0 },
    'arm-npu': { devices: 1, latencyMs: null, errorRate: null },
    'edge-gpu-20t': { devices: 2, latencyMs: 1.7, errorRate: 0 },
    junk: 'x',
  };

  it('puts the wave latency per hardware class beside its baseline cohort, for the classes the wave runs on', () => {
    const rows = baselineRows(baseline, [
      { hardwareClass: 'dc-cpu-100t', figures: fig(6) },
      { hardwareClass: 'dc-cpu-100t', figures: fig(5) },
      { hardwareClass: 'arm-npu', figures: fig(2) },
      { hardwareClass: 'dc-cpu-100t', figures: null },
      { hardwareClass: 'junk', figures: fig(1) },
    ]);
    expect(rows).toEqual([
      {
        hardwareClass: 'arm-npu',
        baselineDevices: 1,
        baselineLatencyMs: null,
        baselineErrorRate: null,
        waveDevices: 1,
        waveLatencyMs: 2,
        change: null,
      },
      {
        hardwareClass: 'dc-cpu-100t',
        baselineDevices: 3,
        baselineLatencyMs: 5,
        baselineErrorRate: 0,
        waveDevices: 3,
        waveLatencyMs: 5.5,
        change: expect.closeTo(0.1, 10) as unknown,
      },
    ]);
  });

  it('has nothing to show without a baseline or without wave devices on its classes', () => {
    expect(baselineRows(null, [])).toEqual([]);
    expect(baselineRows(baseline, [{ hardwareClass: 'other', figures: fig(1) }])).toEqual([]);
  });
});

describe('describeTarget', () => {
  it('names every filter of the target', () => {
    expect(describeTarget({ scenario: 'financial_trading', labels: { site: 'north' }, deviceIds: ['a', 'b'] })).toBe(
      'scenario financial trading · labels site=north · 2 listed devices',
    );
    expect(describeTarget({})).toBe('—');
  });
});
