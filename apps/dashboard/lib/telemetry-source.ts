import type { TelemetryPoint } from './api-types';
import { DASH } from './format';

/** What these helpers read of a telemetry point. */
export type SourcedWindow = Pick<TelemetryPoint, 'source' | 'inferences' | 'cacheHits'>;

/**
 * Whose work a window's figures describe. An operator judging a device must know whether the latency is
 * what its applications saw or what the synthetic probe measured while nobody called the model.
 */
export function windowSourceLabel(w: SourcedWindow | null): string {
  if (w === null) return DASH;
  if (w.source === 'probe') return 'probe (no traffic)';
  const requests = w.inferences + w.cacheHits;
  return `traffic: ${requests} ${requests === 1 ? 'request' : 'requests'}`;
}

/** The sources in the charted range, in order of appearance: "traffic", "probe", or "traffic / probe". */
export function chartSources(points: readonly SourcedWindow[]): string {
  const sources = [...new Set(points.map((p) => p.source))];
  return sources.length === 0 ? 'no data' : sources.join(' / ');
}

/**
 * Share of applications' requests answered from the agent's result cache over the range. Null when no
 * request was ever a hit: the cache is off (its default) or useless here, and 0 % would suggest it is on.
 * Cache hits are not counted in `inferences` (no run happened), hence the sum.
 */
export function cacheHitRate(points: readonly SourcedWindow[]): number | null {
  let hits = 0;
  let requests = 0;
  for (const p of points) {
    hits += p.cacheHits;
    // a probe window's runs are not requests; it may still carry hits when every request of the window hit
    requests += p.cacheHits + (p.source === 'traffic' ? p.inferences : 0);
  }
  return hits === 0 ? null : hits / requests;
}
