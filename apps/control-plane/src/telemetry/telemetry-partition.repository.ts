import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { errorText } from '../infra/pg-errors.js';
import { withTransaction } from '../infra/pg-transaction.js';
import { PG_POOL } from '../infra/tokens.js';

/** `TelemetryWindow_pYYYYMMDD`: the partition of one UTC day. */
export const PARTITION_PREFIX = 'TelemetryWindow_p';
export const DEFAULT_PARTITION = 'TelemetryWindow_default';

/** A UTC day as `YYYY-MM-DD`. */
export type Day = string;

export function partitionName(day: Day): string {
  return PARTITION_PREFIX + day.replaceAll('-', '');
}

function dayOfPartition(name: string): Day | null {
  const m = /^TelemetryWindow_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : null;
}

const nextDay = (day: Day): Day => new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/** How long a day's move waits for the table's readers and writers before it gives up (55P03), ms. */
export const MOVE_LOCK_WAIT_MS = 2_000;

// every partition DDL of the table takes this lock first: two workers (or a worker and a test) never interleave them
const PARTITION_LOCK = 0x7e1e_0001;

/** The day partitions of TelemetryWindow and the retention deletes; the DDL Prisma cannot express. */
@Injectable()
export class TelemetryPartitionRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** The days that have a partition, oldest first. */
  async days(): Promise<Day[]> {
    const r = await this.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = '"TelemetryWindow"'::regclass`,
    );
    return r.rows.flatMap((x) => dayOfPartition(x.name) ?? []).sort();
  }

  /**
   * Creates the partition of `day`, moving into it the rows the default partition holds for that day
   * (Postgres refuses a new partition while the default one has rows in its range); returns how many
   * were moved. Nothing happens when it exists already.
   *
   * A move keeps every other session off the table until it commits: a read planned before the
   * commit (the default partition alone) and run after it (the rows gone from the default) saw
   * neither copy, and a rollup fold reading the windows it had just taken lost them for good. The
   * lock is only taken when there are rows to move; a window of the day that arrives after that
   * look makes the attach fail, and the day is then created again, locked.
   */
  async createDay(day: Day): Promise<number> {
    try {
      return await this.createDayOnce(day, false);
    } catch (e) {
      if (!isDefaultPartitionViolated(e)) throw e;
      return this.createDayOnce(day, true);
    }
  }

  private createDayOnce(day: Day, lockReaders: boolean): Promise<number> {
    const name = partitionName(day);
    const [from, to] = [`${day}T00:00:00Z`, `${nextDay(day)}T00:00:00Z`];
    const attach = `ALTER TABLE "TelemetryWindow" ATTACH PARTITION "${name}" FOR VALUES FROM ('${from}') TO ('${to}')`;
    return withTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
      const exists = await c.query(`SELECT 1 FROM pg_class WHERE relname = $1`, [name]);
      if (exists.rowCount) return 0;
      const waiting = await c.query(`SELECT 1 FROM "${DEFAULT_PARTITION}" WHERE "windowStart" >= $1 AND "windowStart" < $2 LIMIT 1`, [
        from,
        to,
      ]);
      await c.query(`CREATE TABLE "${name}" (LIKE "TelemetryWindow" INCLUDING DEFAULTS)`);
      if (!lockReaders && waiting.rowCount === 0) {
        await c.query(attach);
        return 0;
      }
      // the parent first, as every statement on the table locks it: readers and writers wait for the
      // commit. Not behind a long read for more than MOVE_LOCK_WAIT_MS: the ingest queues behind this
      // lock meanwhile, and the rows can as well wait in the default partition, read there, for the next pass
      await c.query(`SET LOCAL lock_timeout = ${MOVE_LOCK_WAIT_MS}`);
      await c.query('LOCK TABLE "TelemetryWindow" IN ACCESS EXCLUSIVE MODE');
      const moved = await c.query(
        `WITH moved AS (DELETE FROM "${DEFAULT_PARTITION}" WHERE "windowStart" >= $1 AND "windowStart" < $2 RETURNING *)
         INSERT INTO "${name}" SELECT * FROM moved`,
        [from, to],
      );
      await c.query(attach);
      return moved.rowCount ?? 0;
    });
  }

  /** Drops the partition of `day` with every window in it. */
  async dropDay(day: Day): Promise<void> {
    await withTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
      await c.query(`DROP TABLE IF EXISTS "${partitionName(day)}"`);
    });
  }

  /**
   * Deletes the idempotency keys of windows that started before `cutoff` (their windows are gone,
   * and the ingest refuses a window that old); returns how many.
   */
  async deleteKeysBefore(cutoff: Date): Promise<number> {
    const r = await this.pool.query(`DELETE FROM "TelemetryWindowKey" WHERE "windowStart" < $1`, [cutoff]);
    return r.rowCount ?? 0;
  }

  /** Deletes the parked windows (TelemetryRollupParked) that started before `cutoff`: their windows are gone; returns how many. */
  async deleteParkedBefore(cutoff: Date): Promise<number> {
    const r = await this.pool.query(`DELETE FROM "TelemetryRollupParked" WHERE "windowStart" < $1`, [cutoff]);
    return r.rowCount ?? 0;
  }

  /** Deletes the default partition's windows that started before `cutoff`; returns how many. */
  async deleteDefaultBefore(cutoff: Date): Promise<number> {
    const r = await this.pool.query(`DELETE FROM "${DEFAULT_PARTITION}" WHERE "windowStart" < $1`, [cutoff]);
    return r.rowCount ?? 0;
  }

  /** The days of the windows the default partition holds that started at or after `since`. */
  async defaultDays(since: Date): Promise<Day[]> {
    const r = await this.pool.query<{ day: string }>(
      `SELECT DISTINCT to_char("windowStart" AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM "${DEFAULT_PARTITION}" WHERE "windowStart" >= $1`,
      [since],
    );
    return r.rows.map((x) => x.day).sort();
  }

  /** Windows in the default partition (a day without its partition): 0 when the job keeps up. */
  async defaultCount(): Promise<number> {
    const r = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM "${DEFAULT_PARTITION}"`);
    return Number(r.rows[0]?.n ?? 0);
  }

  /** Deletes rollups of one resolution whose bucket started before `cutoff`; returns how many. */
  async deleteRollupsBefore(bucketSeconds: number, cutoff: Date): Promise<number> {
    let n = 0;
    for (const table of ['TelemetryDeviceRollup', 'TelemetryGroupRollup']) {
      const r = await this.pool.query(`DELETE FROM "${table}" WHERE "bucketSeconds" = $1 AND "bucketStart" < $2`, [bucketSeconds, cutoff]);
      n += r.rowCount ?? 0;
    }
    return n;
  }
}

/** ATTACH PARTITION refused because the default partition holds a row of the new partition's range (23514). */
function isDefaultPartitionViolated(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? e.code : undefined;
  return code === '23514' && /default partition .* would be violated/.test(errorText(e));
}
