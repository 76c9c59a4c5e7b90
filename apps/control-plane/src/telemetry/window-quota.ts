import type { TelemetryWindow } from '@edge-fleet/shared';

/**
 * Per-device quota on windows by the period they describe (their windowStart), not by arrival: a
 * device draining its outbox after an outage sends many windows at once, but never more than its
 * window length allows for one period. Counts live in this replica's memory, so with N ingest
 * replicas a device gets at most N times the quota; that still bounds a flood.
 */
export class WindowQuota {
  readonly periodMs: number;
  /** Windows one device may have in one period. */
  readonly limit: number;
  private readonly counts = new Map<string, number>();

  constructor(
    windowSeconds: number,
    slack: number,
    private readonly maxKeys = 200_000,
  ) {
    this.periodMs = Math.max(60, windowSeconds) * 1000;
    this.limit = Math.ceil((this.periodMs / (windowSeconds * 1000)) * slack);
  }

  /** Counts the window against its device's period; false when the quota of that period is used up. */
  admit(w: TelemetryWindow): boolean {
    const key = `${w.deviceId}/${Math.floor(Date.parse(w.windowStart) / this.periodMs)}`;
    const n = this.counts.get(key) ?? 0;
    if (n >= this.limit) return false;
    if (n === 0 && this.counts.size >= this.maxKeys) {
      // bounded memory: forget the oldest period first (Map keeps insertion order)
      const oldest = this.counts.keys().next();
      if (!oldest.done) this.counts.delete(oldest.value);
    }
    this.counts.set(key, n + 1);
    return true;
  }

  /** The period a window falls in, for the dead letter's reason. */
  periodOf(w: TelemetryWindow): string {
    return new Date(Math.floor(Date.parse(w.windowStart) / this.periodMs) * this.periodMs).toISOString();
  }
}
