import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '../config.js';
import { Logger } from '../infra/logger.js';
import { errorText, isLockTimeout } from '../infra/pg-errors.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import { type Day, TelemetryPartitionRepository } from './telemetry-partition.repository.js';

/** Partitions are made this many days ahead of today (and for yesterday, for late windows). */
export const PARTITION_DAYS_AHEAD = 7;

const dayOf = (t: number): Day => new Date(t).toISOString().slice(0, 10);

const endOf = (day: Day) => Date.parse(`${day}T00:00:00Z`) + 86_400_000;

/**
 * Which day partitions to create and which to drop at `now`: every day from yesterday to
 * {@link PARTITION_DAYS_AHEAD} ahead must exist, and every day within retention that the default
 * partition holds windows of (`defaultDays`: their rows move in); a day is dropped once all of it
 * is older than the retention (its end is at or before now − retention).
 */
export function partitionPlan(
  existing: readonly Day[],
  defaultDays: readonly Day[],
  now: Date,
  retentionDays: number,
): { create: Day[]; drop: Day[] } {
  const today = Date.parse(`${dayOf(now.getTime())}T00:00:00Z`);
  const cutoff = now.getTime() - retentionDays * 86_400_000;
  const want = new Set(defaultDays.filter((d) => endOf(d) > cutoff));
  for (let d = -1; d <= PARTITION_DAYS_AHEAD; d++) want.add(dayOf(today + d * 86_400_000));
  const have = new Set(existing);
  return {
    create: [...want].filter((d) => !have.has(d)).sort(),
    drop: existing.filter((d) => endOf(d) <= cutoff),
  };
}

export interface RetentionPass {
  created: Day[];
  /** Days not created because their move could not have the table in time: tried again at the next pass. */
  deferred: Day[];
  dropped: Day[];
  /** Windows moved out of the default partition into a day just created. */
  moved: number;
  /** Windows past retention deleted from the default partition. */
  deletedDefault: number;
  /** Idempotency keys of windows past retention. */
  deletedKeys: number;
  /** Parked windows (the fold set them aside) past retention, deleted with their windows. */
  deletedParked: number;
  deletedMinuteRollups: number;
  deletedHourRollups: number;
}

/** The telemetry retention job: partitions created ahead, old ones dropped, old rollups deleted. */
@Injectable()
export class TelemetryRetentionService {
  constructor(
    @Inject(TelemetryPartitionRepository) private readonly partitions: TelemetryPartitionRepository,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  /**
   * Creates the missing day partitions from yesterday to {@link PARTITION_DAYS_AHEAD} ahead, and
   * nothing else; returns the days created. An api replica does this before it accepts a window:
   * left to the worker's first pass, the first windows of a new database went to the default
   * partition and were moved out under readers, and a read planned before the move's commit and run
   * after it missed them (telemetry-rollup-fold.int.spec.ts read 0 of 4 pending windows so in CI).
   */
  async ensureDays(now: Date): Promise<Day[]> {
    const plan = partitionPlan(await this.partitions.days(), [], now, this.config.TELEMETRY_RETENTION_DAYS);
    const { created } = await this.createDays(plan.create);
    if (created.length > 0) this.log.info('telemetry partitions created at start', { created });
    return created;
  }

  /**
   * Creates these days, moving in what the default partition holds of them. A day whose move could
   * not have the table within MOVE_LOCK_WAIT_MS (a long read or write on it) is left for the next
   * pass, its windows read in the default partition meanwhile (`deferred`), rather than failing the
   * pass or an api replica's start.
   */
  private async createDays(days: readonly Day[]): Promise<{ created: Day[]; moved: number; deferred: Day[] }> {
    const out = { created: [] as Day[], moved: 0, deferred: [] as Day[] };
    for (const day of days) {
      try {
        out.moved += await this.partitions.createDay(day);
        out.created.push(day);
      } catch (e) {
        if (!isLockTimeout(e)) throw e;
        this.log.warn('telemetry partition not created: its windows wait in the default partition for the next pass', {
          day,
          error: errorText(e),
        });
        out.deferred.push(day);
      }
    }
    return out;
  }

  /** One pass at `now` (the job's run time; tests pass their own). Idempotent. */
  async run(now: Date): Promise<RetentionPass> {
    const retention = this.config.TELEMETRY_RETENTION_DAYS;
    const cutoff = new Date(now.getTime() - retention * 86_400_000);
    const plan = partitionPlan(await this.partitions.days(), await this.partitions.defaultDays(cutoff), now, retention);
    const { created, moved, deferred } = await this.createDays(plan.create);
    for (const day of plan.drop) await this.partitions.dropDay(day);
    const pass: RetentionPass = {
      created,
      deferred,
      dropped: plan.drop,
      moved,
      deletedDefault: await this.partitions.deleteDefaultBefore(cutoff),
      deletedKeys: await this.partitions.deleteKeysBefore(cutoff),
      deletedParked: await this.partitions.deleteParkedBefore(cutoff),
      deletedMinuteRollups: await this.partitions.deleteRollupsBefore(60, cutoff),
      deletedHourRollups: await this.partitions.deleteRollupsBefore(
        3_600,
        new Date(now.getTime() - this.config.TELEMETRY_ROLLUP_RETENTION_DAYS * 86_400_000),
      ),
    };
    if (pass.created.length + pass.deferred.length + pass.dropped.length + pass.moved + pass.deletedDefault > 0)
      this.log.info('telemetry retention', { ...pass });
    return pass;
  }
}
