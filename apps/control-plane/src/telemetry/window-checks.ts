import type { TelemetryWindow } from '@edge-fleet/shared';

/** The bounds of a believable window, from configuration. */
export interface TimeLimits {
  beforeEnrollmentMs: number;
  futureSkewMs: number;
  maxWindowMs: number;
  /** Raw windows are kept this long (TELEMETRY_RETENTION_DAYS): an older one would be deleted unseen. */
  retentionMs: number;
}

/**
 * Why a window's timestamps cannot be true, or null. Before enrollment (minus a margin for clock
 * drift) catches devices whose clock reset to 1970 and year-0/1 dates that Postgres cannot even
 * store; the future bound catches a device clock running ahead.
 */
export function timestampProblem(w: TelemetryWindow, enrolledAt: Date, now: number, limits: TimeLimits): string | null {
  const start = Date.parse(w.windowStart);
  const end = Date.parse(w.windowEnd);
  const earliest = enrolledAt.getTime() - limits.beforeEnrollmentMs;
  if (start < earliest)
    return `windowStart ${w.windowStart} is before the device's enrollment (${enrolledAt.toISOString()}) minus ${limits.beforeEnrollmentMs / 1000} s`;
  if (start < now - limits.retentionMs)
    return `windowStart ${w.windowStart} is older than the telemetry retention (${limits.retentionMs / 86_400_000} days)`;
  if (end > now + limits.futureSkewMs) return `windowEnd ${w.windowEnd} is in the future (more than ${limits.futureSkewMs / 1000} s ahead)`;
  if (end - start > limits.maxWindowMs) return `window spans ${(end - start) / 1000} s, more than ${limits.maxWindowMs / 1000} s`;
  return null;
}
