import { describe, expect, it } from 'vitest';
import { cacheHitRate, cacheSavedMs, chartSources, forwardedShare, windowSourceLabel } from './telemetry-source';

const traffic = (inferences: number, cacheHits = 0) => ({ source: 'traffic' as const, inferences, cacheHits });
const probe = (inferences: number) => ({ source: 'probe' as const, inferences, cacheHits: 0 });

describe('telemetry source on the device page (issue 18)', () => {
  it('names whose work the latest window describes: traffic with its request count, or the probe', () => {
    expect(windowSourceLabel(traffic(120, 30))).toBe('traffic: 150 requests');
    expect(windowSourceLabel(traffic(1))).toBe('traffic: 1 request');
    expect(windowSourceLabel(probe(500))).toBe('probe (no traffic)');
    expect(windowSourceLabel(null)).toBe('—');
  });

  it('lists the sources of the charted range in order of appearance', () => {
    expect(chartSources([probe(5), traffic(3), traffic(4)])).toBe('probe / traffic');
    expect(chartSources([traffic(3)])).toBe('traffic');
    expect(chartSources([])).toBe('no data');
  });

  it('gives the cache hit rate over the range, counting hits that did not run the model, and none when nothing hit', () => {
    expect(cacheHitRate([traffic(60, 20), probe(400), traffic(20, 0)])).toBe(0.2);
    expect(cacheHitRate([traffic(60), probe(400)])).toBeNull();
    expect(cacheHitRate([])).toBeNull();
    // every request of the window hit, so the agent reported the probe's runs for it
    expect(cacheHitRate([{ source: 'probe', inferences: 500, cacheHits: 10 }, traffic(30, 10)])).toBe(0.4);
  });

  it('sums the inference time the cache hits saved over the range, none when no window says', () => {
    expect(cacheSavedMs([{ cacheSavedMs: 12.5 }, { cacheSavedMs: null }, {}, { cacheSavedMs: 7.5 }])).toBe(20);
    expect(cacheSavedMs([{ cacheSavedMs: null }, {}])).toBeNull();
  });

  it('hybrid devices: counts forwarded requests in the label and gives the forwarded share over the range, none when nothing was forwarded', () => {
    const hybrid = (inferences: number, remoteInferences: number, remoteErrors = 0) => ({
      ...traffic(inferences),
      remoteInferences,
      remoteErrors,
    });
    expect(windowSourceLabel(hybrid(20, 80))).toBe('traffic: 100 requests (80 forwarded to a cloud node)');
    expect(windowSourceLabel(hybrid(0, 1))).toBe('traffic: 1 request (1 forwarded to a cloud node)');
    expect(forwardedShare([hybrid(30, 10, 1), probe(500), hybrid(30, 30, 2)])).toEqual({
      local: 60,
      remote: 40,
      remoteErrors: 3,
      share: 0.4,
    });
    expect(forwardedShare([traffic(60), hybrid(10, 0)])).toBeNull();
  });
});
