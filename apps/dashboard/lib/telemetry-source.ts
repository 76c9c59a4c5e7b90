import type { TelemetryPoint } from './api-types';
import { DASH } from './format';

/** What these helpers read of a telemetry point (hybrid figures absent: nothing forwarded). */
export type SourcedWindow = Pick<TelemetryPoint, 'source' | 'inferences' | 'cacheHits'> &
  Partial<Pick<TelemetryPoint, 'remoteInferences' | 'remoteErrors'>>;

/**
 * Whose work a window's figures describe. An operator judging a device must know whether the latency is
 * what its applications saw or what the synthetic probe measured while nobody called the model.
 */
export function windowSourceLabel(w: SourcedWindow | null): string {
  if (w === null) return DASH;
  if (w.source === 'probe') return 'probe (no traffic)';
  const remote = w.remoteInferences ?? 0;
  const requests = w.inferences + w.cacheHits + remote;
  const label = `traffic: ${requests} ${requests === 1 ? 'request' : 'requests'}`;
  return remote > 0 ? `${label} (${remote} forwarded to a cloud node)` : label;
}

/** A hybrid device's requests over the range: how many ran locally and on cloud nodes, and the forwarded share. */
export interface ForwardedShare {
  local: number;
  remote: number;
  /** Forwarding attempts that got no answer (node down, refused, timed out). */
  remoteErrors: number;
  share: number;
}

/** Null when nothing was forwarded in the range (an edge-only device, or a hybrid one whose model kept up). */
export function forwardedShare(points: readonly SourcedWindow[]): ForwardedShare | null {
  let local = 0;
  let remote = 0;
  let remoteErrors = 0;
  for (const p of points) {
    if (p.source === 'traffic') local += p.inferences;
    remote += p.remoteInferences ?? 0;
    remoteErrors += p.remoteErrors ?? 0;
  }
  return remote === 0 ? null : { local, remote, remoteErrors, share: remote / (local + remote) };
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

/**
 * Inference time the range's cache hits saved, as the agents estimated it from measured runs (each hit:
 * the run time of the run whose answer it reused). Null when no window carries the figure (no hit, an
 * agent that predates it, or points from the rollups).
 */
export function cacheSavedMs(points: readonly { cacheSavedMs?: number | null }[]): number | null {
  let saved: number | null = null;
  for (const p of points) if (p.cacheSavedMs != null) saved = (saved ?? 0) + p.cacheSavedMs;
  return saved;
}
