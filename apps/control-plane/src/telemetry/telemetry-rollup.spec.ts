import { describe, expect, it } from 'vitest';
import { mergeStats, withStatsOf, type RollupStats } from './telemetry-rollup.js';

/** Every field of RollupStats, each a value of its own (a literal of the type: a new field fails to compile here until it is added). */
function distinctStats(): RollupStats {
  return {
    windows: 1,
    inferences: 2,
    errors: 3,
    cacheHits: 4,
    fallbacks: 5,
    histogram: new Map([[380, 6]]),
    approxInferences: 7,
    approxP50Sum: 8,
    approxP95Sum: 9,
    approxP99Sum: 10,
    latencyMaxMs: 11,
    queueP99MaxMs: 12,
    powerSumW: 13,
    powerMinW: 14,
    powerMaxW: 15,
    energyJ: 16,
    durationS: 17,
    rssMaxMb: 18,
    firstWindowStart: new Date(19_000),
    lastWindowEnd: new Date(20_000),
    modelVersionId: 'model-21',
    precision: 'int8',
    powerSource: 'sensor',
    powerDetail: 'detail-22',
    sums: {
      simWindows: 23,
      simInferences: 24,
      simEnergyJ: 25,
      simDurationS: 26,
      simBytesSent: 27,
      simBytesReceived: 28,
      simPrecision: 'fp16',
      simFirstWindowStart: new Date(29_000),
      simLastWindowEnd: new Date(30_000),
      sensorWindows: 31,
      estimateWindows: 32,
      realBytesSent: 33,
      realBytesReceived: 34,
      realPrecision: 'fp32',
      realFirstWindowStart: new Date(35_000),
      realLastWindowEnd: new Date(36_000),
      activeWindows: 37,
      activeHistogramWindows: 38,
    },
  };
}

describe('a new rollup (withStatsOf)', () => {
  it('carries its key and every statistic of the window, field by field', () => {
    const s = distinctStats();
    const key = { deviceId: 'd', bucketSeconds: 60 as const, bucketStart: new Date(0), source: 'traffic', variantId: 'v' };
    expect(withStatsOf({ ...key }, s)).toEqual({ ...key, ...distinctStats() });
  });

  it('owns its histogram and class sums: merging into it leaves the window it came from alone', () => {
    const s = distinctStats();
    const rollup = withStatsOf({}, s);
    mergeStats(rollup, distinctStats());
    expect(s).toEqual(distinctStats());
    expect(rollup.histogram?.get(380)).toBe(12);
    expect(rollup.sums.simWindows).toBe(46);
  });
});
