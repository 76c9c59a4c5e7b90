import type { DesiredModel, ManifestPayload, ReportedState } from '@edge-fleet/shared';
import type { Clock, TimerHandle } from '../core/clock.js';
import { errorMessage, type Logger } from '../core/logger.js';

/** How often the held metadata is checked again when its expiry is further away than this. */
export const FRESHNESS_CHECK_INTERVAL_MS = 30_000;

/** The metadata of the newest desired state the agent holds, as far as expiry goes. */
export interface HeldMetadata {
  assignmentVersion: number;
  /** When it stops being valid; null: the desired state has no model, so no manifest to expire. */
  expiresAt: string | null;
}

export type StaleMetadata = NonNullable<ReportedState['staleMetadata']>;

/**
 * Pure: when a model's signed metadata stops being valid — the earlier of the manifest's expiry and
 * its signing key's (the verifier refuses a download past either). `manifest` is the payload of
 * `model.manifest`, already authenticated.
 */
export function metadataExpiry(model: DesiredModel, manifest: ManifestPayload): string {
  const key = model.manifest.signingKey.expiresAt;
  return Date.parse(manifest.expiresAt) <= Date.parse(key) ? manifest.expiresAt : key;
}

/** Pure: stale from the expiry instant on (the same `<=` the verifier uses); a state without a model never is. */
export function staleMetadataOf(held: HeldMetadata | null, now: number): Omit<StaleMetadata, 'detectedAt'> | null {
  if (held?.expiresAt == null || Date.parse(held.expiresAt) > now) return null;
  return { assignmentVersion: held.assignmentVersion, expiresAt: held.expiresAt };
}

/** Pure: when to check next — the regular interval, or the expiry instant if that comes sooner. */
export function nextCheckInMs(held: HeldMetadata | null, now: number, intervalMs = FRESHNESS_CHECK_INTERVAL_MS): number {
  if (held?.expiresAt == null) return intervalMs;
  const untilExpiry = Date.parse(held.expiresAt) - now;
  return untilExpiry > 0 ? Math.min(intervalMs, untilExpiry) : intervalMs;
}

export interface MetadataFreshnessDeps {
  clock: Clock;
  logger: Logger;
  /** Throws unless the manifest is genuine (signature chain, device binding); expiry is not its concern. */
  authenticate: (model: DesiredModel) => ManifestPayload;
  /** The alarm was raised, moved to another assignment, or cleared: the reported state changed. */
  onChange: () => void;
  intervalMs?: number;
}

/**
 * Raises the stale-metadata alarm when the newest desired state the agent holds is past its expiry
 * (TUF's freeze attack: a frozen or replayed retained desired state hides every later update) and
 * clears it when a fresh one arrives. It only observes: the model keeps running either way.
 */
export class MetadataFreshness {
  private held: HeldMetadata | null = null;
  private alarm: StaleMetadata | null = null;
  private timer: TimerHandle | null = null;
  private stopped = false;

  constructor(private readonly deps: MetadataFreshnessDeps) {}

  get staleMetadata(): StaleMetadata | null {
    return this.alarm;
  }

  /**
   * The newest desired state (its model, or null) now held, checked at once. `assignmentVersion`:
   * the desired state's; absent for a model restored from disk, which is known by the assignment its
   * manifest was issued for. A manifest that is not genuine neither raises nor clears the alarm.
   */
  hold(model: DesiredModel | null, assignmentVersion?: number): void {
    let held: HeldMetadata;
    if (model === null) {
      held = { assignmentVersion: assignmentVersion ?? 0, expiresAt: null };
    } else {
      let manifest: ManifestPayload;
      try {
        manifest = this.deps.authenticate(model);
      } catch (err) {
        this.deps.logger.warn('desired-state metadata is not genuine; the stale-metadata check keeps the previous one', {
          assignmentVersion,
          error: errorMessage(err),
        });
        return;
      }
      held = { assignmentVersion: assignmentVersion ?? manifest.version, expiresAt: metadataExpiry(model, manifest) };
    }
    this.held = held;
    this.check();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private check(): void {
    this.clearTimer();
    if (this.stopped) return;
    const now = this.deps.clock.now();
    const stale = staleMetadataOf(this.held, now);
    if (stale === null) {
      if (this.alarm !== null) {
        this.deps.logger.info('stale-metadata alarm cleared', {
          assignmentVersion: this.held?.assignmentVersion,
          expiresAt: this.held?.expiresAt,
        });
        this.alarm = null;
        this.deps.onChange();
      }
    } else if (this.alarm?.assignmentVersion !== stale.assignmentVersion || this.alarm.expiresAt !== stale.expiresAt) {
      this.alarm = { ...stale, detectedAt: new Date(now).toISOString() };
      this.deps.logger.error(
        'stale metadata: the newest desired state has expired; keeping the running model, but updates may be withheld',
        stale,
      );
      this.deps.onChange();
    }
    this.timer = this.deps.clock.setTimeout(() => this.check(), nextCheckInMs(this.held, now, this.deps.intervalMs));
  }

  private clearTimer(): void {
    if (this.timer !== null) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
