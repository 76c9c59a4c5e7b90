import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import {
  ACTIVE_ROLLOUT_STATUSES,
  LatencyHistogram,
  type BaselineFigures,
  type DeviceEvidence,
  type Scenario,
  type SparseHistogram,
} from '@edge-fleet/shared';
import type { JsonValue } from '../infra/json.js';
import type { Db } from '../infra/prisma.js';
import { PG_POOL, PRISMA } from '../infra/tokens.js';
import { prismaOf, type Tx } from '../infra/unit-of-work.js';
import { rollupSplit } from '../telemetry/rollup-span.js';
import { startedBefore } from '../telemetry/window-span.js';

const ACTIVE = [...ACTIVE_ROLLOUT_STATUSES];
/** States of a device the rollout changed (told to update): a rollback takes these back. */
const CHANGED = ['notified', 'applied', 'failed'];

export interface DeviceStateRow {
  deviceId: string;
  name: string;
  hardwareClass: string;
  scenario: string;
  wave: number;
  state: string;
  reason: string;
  late: boolean;
  notifiedAt: Date | null;
  appliedAt: Date | null;
  figures: unknown;
}

/** A device told to update: the assignment it was given and the variant that assignment pins. */
export interface Notified {
  deviceId: string;
  assignmentVersion: number;
  variantId: string | null;
}

/** A baseline device's windows that ran an inference: their sums, and the histograms of those that carried one. */
interface BaselineDeviceRow {
  deviceId: string;
  hardwareClass: string;
  inferences: number;
  errors: number;
  histograms: SparseHistogram[] | null;
  histogramWindows: number;
}

/**
 * Per pending device of rollout `$1`, its windows that ran an inference and ended after `$2`, split
 * as rollup-span.ts says (`$3` started after, `$4` whole hours from, `$5` edge buckets from): its
 * hourly rollups from `$4` on, its folded windows that started before `$4` read raw (up to the last
 * end of its edge buckets), and its windows not folded yet read raw. A window without an inference
 * has no errors and no histogram counts (the contract: errors ≤ inferences, histogram ≤
 * inferences), so a rollup's sums and histogram are those of its windows that ran one.
 */
const BASELINE_SQL = `
WITH members AS MATERIALIZED (
  SELECT rd."deviceId", hp."hardwareClass"
    FROM "RolloutDevice" rd JOIN "Device" d ON d.id = rd."deviceId" JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
   WHERE rd."rolloutId" = $1::uuid AND rd.state = 'pending'
),
pending AS MATERIALIZED (
  SELECT t."deviceId", t.inferences, t.errors, t."latencyHistogram" AS histogram, (t."latencyHistogram" IS NOT NULL)::int AS "histogramWindows"
    FROM "TelemetryRollupPending" p JOIN "TelemetryWindow" t ON t.id = p."windowId" AND t."windowStart" = p."windowStart"
   WHERE p."windowStart" > $3 AND t."windowStart" > $3 AND p."windowStart" < $6 AND t."windowStart" < $6
     AND t."windowEnd" > $2 AND t.inferences > 0
),
parts AS (
  SELECT m."deviceId", m."hardwareClass", x.*
    FROM members m CROSS JOIN LATERAL (
      SELECT r.inferences, r.errors, r."latencyHistogram" AS histogram, r."activeHistogramWindows" AS "histogramWindows"
        FROM "TelemetryDeviceRollup" r
       WHERE r."deviceId" = m."deviceId" AND r."bucketSeconds" = 3600 AND r."bucketStart" >= $4 AND r."activeWindows" > 0
      UNION ALL
      SELECT t.inferences, t.errors, t."latencyHistogram", (t."latencyHistogram" IS NOT NULL)::int
        FROM (SELECT max(e."lastWindowEnd") AS bound FROM "TelemetryDeviceRollup" e
               WHERE e."deviceId" = m."deviceId" AND e."bucketSeconds" = 3600 AND e."bucketStart" >= $5
                 AND e."bucketStart" < $4 AND e."lastWindowEnd" > $2) u
       CROSS JOIN LATERAL (
         SELECT * FROM "TelemetryWindow" t
          WHERE t."deviceId" = m."deviceId" AND t."windowEnd" > $2 AND t."windowEnd" <= u.bound AND t."windowStart" > $3
            AND t."windowStart" < $4 AND t.inferences > 0) t
       WHERE NOT EXISTS (SELECT 1 FROM "TelemetryRollupPending" p WHERE p."windowId" = t.id)
    ) x
  UNION ALL
  SELECT m."deviceId", m."hardwareClass", pw.inferences, pw.errors, pw.histogram, pw."histogramWindows"
    FROM pending pw JOIN members m ON m."deviceId" = pw."deviceId"
)
SELECT "deviceId"::text AS "deviceId", "hardwareClass", sum(inferences)::float8 AS inferences, sum(errors)::float8 AS errors,
       jsonb_agg(histogram) FILTER (WHERE histogram IS NOT NULL AND "histogramWindows" > 0) AS histograms,
       sum("histogramWindows")::int AS "histogramWindows"
  FROM parts GROUP BY 1, 2`;

/** The "RolloutDevice" table: each device's place and progress in a rollout. */
@Injectable()
export class RolloutDeviceRepository {
  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  /** Places devices in their waves (pending). */
  async add(tx: Tx, rolloutId: string, members: readonly { deviceId: string; wave: number }[]): Promise<void> {
    const rows = members.map((m) => ({ rolloutId, deviceId: m.deviceId, wave: m.wave }));
    for (let i = 0; i < rows.length; i += 5_000) await prismaOf(tx).rolloutDevice.createMany({ data: rows.slice(i, i + 5_000) });
  }

  /** A device that joined after the rollout started. */
  async addLate(tx: Tx, rolloutId: string, deviceId: string, wave: number): Promise<void> {
    await prismaOf(tx).rolloutDevice.create({ data: { rolloutId, deviceId, wave, late: true } });
  }

  /** Which of these devices an active rollout already holds. */
  async conflicts(tx: Tx, deviceIds: string[]): Promise<{ deviceId: string; rolloutId: string; name: string }[]> {
    if (deviceIds.length === 0) return [];
    return prismaOf(tx).$queryRaw`
      SELECT rd."deviceId"::text AS "deviceId", r.id::text AS "rolloutId", r.name FROM "RolloutDevice" rd JOIN "Rollout" r ON r.id = rd."rolloutId"
       WHERE r.status = ANY(${ACTIVE}::text[]) AND rd."deviceId" = ANY(${deviceIds}::uuid[]) LIMIT 1000`;
  }

  async pendingInWave(tx: Tx, rolloutId: string, wave: number): Promise<string[]> {
    const rows = await prismaOf(tx).rolloutDevice.findMany({ where: { rolloutId, wave, state: 'pending' }, select: { deviceId: true } });
    return rows.map((r) => r.deviceId);
  }

  async markSkipped(tx: Tx, rolloutId: string, deviceIds: string[], reason: string): Promise<void> {
    await prismaOf(tx).rolloutDevice.updateMany({ where: { rolloutId, deviceId: { in: deviceIds } }, data: { state: 'skipped', reason } });
  }

  async markNotified(tx: Tx, rolloutId: string, notified: readonly Notified[], late: boolean): Promise<void> {
    if (notified.length === 0) return;
    await prismaOf(tx).$executeRaw`
      UPDATE "RolloutDevice" rd SET state = 'notified', "notifiedAt" = now(), "assignmentVersion" = u.v, "fromAssignmentVersion" = u.v - 1, "targetVariantId" = u.variant, late = rd.late OR ${late}
        FROM unnest(${notified.map((n) => n.deviceId)}::uuid[], ${notified.map((n) => n.assignmentVersion)}::int[], ${notified.map((n) => n.variantId)}::uuid[]) AS u(id, v, variant)
       WHERE rd."rolloutId" = ${rolloutId}::uuid AND rd."deviceId" = u.id`;
  }

  /** Devices the model cannot run on: failed before download, with the reason. */
  async markRefused(tx: Tx, rolloutId: string, refused: readonly { id: string; reason: string }[]): Promise<void> {
    for (const x of refused)
      await prismaOf(tx).rolloutDevice.update({
        where: { rolloutId_deviceId: { rolloutId, deviceId: x.id } },
        data: { state: 'failed', reason: `refused before download: ${x.reason}`.slice(0, 2_000) },
      });
  }

  /** Notified devices whose telemetry shows the new variant running: applied, though no report came. */
  async markAppliedFromTelemetry(tx: Tx, rolloutId: string, deviceIds: string[]): Promise<void> {
    await prismaOf(tx).rolloutDevice.updateMany({
      where: { rolloutId, deviceId: { in: deviceIds }, state: 'notified' },
      data: { state: 'applied', appliedAt: new Date(), reason: 'applied (seen in its telemetry; no report received)' },
    });
  }

  /** Devices the rollout changed (of one wave, or all): what a rollback takes back, with what each ran before. */
  async changed(tx: Tx, rolloutId: string, wave: number | null): Promise<{ deviceId: string; fromAssignmentVersion: number | null }[]> {
    return prismaOf(tx).rolloutDevice.findMany({
      // a device refused before download was never given the model: nothing to take back
      where: { rolloutId, state: { in: CHANGED }, assignmentVersion: { not: null }, ...(wave === null ? {} : { wave }) },
      select: { deviceId: true, fromAssignmentVersion: true },
    });
  }

  async markRolledBack(tx: Tx, rolloutId: string, deviceIds: string[]): Promise<void> {
    await prismaOf(tx).rolloutDevice.updateMany({ where: { rolloutId, deviceId: { in: deviceIds } }, data: { state: 'rolled_back' } });
  }

  /**
   * Devices of the wave told to update that have not reported it applied yet, with when their
   * (rate-limited) notification is due.
   */
  async notifiedInWave(
    rolloutId: string,
    wave: number,
  ): Promise<{ deviceId: string; assignmentVersion: number; notifiedAt: Date | null }[]> {
    const rows = await this.db.rolloutDevice.findMany({
      where: { rolloutId, wave, state: 'notified', assignmentVersion: { not: null } },
      select: { deviceId: true, assignmentVersion: true, notifiedAt: true },
    });
    return rows.map((n) => ({ deviceId: n.deviceId, assignmentVersion: n.assignmentVersion ?? 0, notifiedAt: n.notifiedAt }));
  }

  /** When each device's rate-limited notification goes out: what the sweep re-queues a lost one for. */
  async scheduleNotifications(tx: Tx, rolloutId: string, due: readonly { deviceId: string; at: Date }[]): Promise<void> {
    if (due.length === 0) return;
    await prismaOf(tx).$executeRaw`
      UPDATE "RolloutDevice" rd SET "notifiedAt" = u.at
        FROM unnest(${due.map((d) => d.deviceId)}::uuid[], ${due.map((d) => d.at)}::timestamptz[]) AS u(id, at)
       WHERE rd."rolloutId" = ${rolloutId}::uuid AND rd."deviceId" = u.id`;
  }

  /**
   * What each device of the wave showed since it applied the new variant (windows that opened
   * after its report, so none mixes old and new runs), latency at its scenario's tier percentile.
   */
  async evidence(rolloutId: string, wave: number): Promise<(Omit<DeviceEvidence, 'policy'> & { scenario: Scenario })[]> {
    // the wave's earliest start of evidence, as a value: Postgres then plans (and locks) only the day
    // partitions from there on, not every one of the retention (each device's own start is a row's value)
    const [first] = await this.db.$queryRaw<{ at: Date | null }[]>`
      SELECT min(COALESCE("appliedAt", "notifiedAt"))::timestamptz AS at FROM "RolloutDevice"
       WHERE "rolloutId" = ${rolloutId}::uuid AND wave = ${wave} AND state IN ('notified', 'applied', 'failed')`;
    // none notified yet: no window can count (the join's own condition is null), so no partition is needed
    const from = first?.at ?? new Date();
    const rows = await this.db.$queryRaw<
      {
        deviceId: string;
        hardwareClass: string;
        scenario: string;
        state: string;
        reason: string;
        late: boolean;
        windows: bigint;
        inferences: bigint | null;
        errors: bigint | null;
        remote: bigint | null;
        latency: number | null;
        power: number | null;
        powerSource: string | null;
        histograms: SparseHistogram[] | null;
        histogramWindows: bigint;
      }[]
    >`
      SELECT rd."deviceId"::text AS "deviceId", hp."hardwareClass", d.scenario, rd.state, rd.reason, rd.late,
             count(t.id) AS windows, sum(t.inferences) AS inferences, sum(t.errors) AS errors, sum(t."remoteInferences") AS remote,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE p."latencyPercentile" WHEN 'p50' THEN t."latencyP50Ms" WHEN 'p95' THEN t."latencyP95Ms" ELSE t."latencyP99Ms" END) AS latency,
             avg(t."powerW") AS power, max(t."powerSource") AS "powerSource",
             jsonb_agg(t."latencyHistogram") FILTER (WHERE t."latencyHistogram" IS NOT NULL) AS histograms,
             count(t."latencyHistogram") AS "histogramWindows"
        FROM "RolloutDevice" rd
        JOIN "Device" d ON d.id = rd."deviceId"
        JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
        JOIN "Policy" p ON p.scenario = d.scenario
        LEFT JOIN "TelemetryWindow" t ON t."deviceId" = rd."deviceId" AND t."variantId" = rd."targetVariantId"::text
             AND t."windowStart" >= COALESCE(rd."appliedAt", rd."notifiedAt") AND t."windowStart" >= ${from}
             AND t."windowStart" < ${startedBefore(new Date())} AND t.inferences > 0
       WHERE rd."rolloutId" = ${rolloutId}::uuid AND rd.wave = ${wave} AND rd.state IN ('notified', 'applied', 'failed')
       GROUP BY rd."deviceId", hp."hardwareClass", d.scenario, rd.state, rd.reason, rd.late`;
    return rows.map((r) => ({
      deviceId: r.deviceId,
      hardwareClass: r.hardwareClass,
      scenario: r.scenario as Scenario,
      state: r.state,
      failure: r.state === 'failed' ? r.reason : null,
      late: r.late,
      windows: Number(r.windows),
      inferences: Number(r.inferences ?? 0),
      errors: Number(r.errors ?? 0),
      remoteInferences: Number(r.remote ?? 0),
      latencyMs: r.latency,
      histogram: r.histograms ? LatencyHistogram.merged(r.histograms).toSparse() : null,
      histogramWindows: Number(r.histogramWindows),
      powerW: r.power,
      powerSource: r.powerSource,
    }));
  }

  /**
   * Devices of the rollout still on the old model (later waves), per hardware class, over the same
   * period: their windows that ran an inference and ended after `since`. Devices, inferences,
   * errors and each device's merged histogram come from the hourly rollups and the edges read raw
   * ({@link BASELINE_SQL}); the legacy latency, a median of the windows' percentiles, cannot be
   * merged from rollups and is read raw.
   */
  async baseline(rolloutId: string, since: Date): Promise<Map<string, BaselineFigures>> {
    // the day partitions the period reaches, as a value so that Postgres prunes the others when planning (window-span.ts)
    const split = rollupSplit(since);
    const devices = (
      await this.pool.query<BaselineDeviceRow>(BASELINE_SQL, [
        rolloutId,
        since,
        split.startedAfter,
        split.wholeFrom,
        split.edgeFrom,
        split.startedBefore,
      ])
    ).rows.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
    const latency = await this.db.$queryRaw<{ hardwareClass: string; latency: number | null }[]>`
      SELECT hp."hardwareClass",
             percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE p."latencyPercentile" WHEN 'p50' THEN t."latencyP50Ms" WHEN 'p95' THEN t."latencyP95Ms" ELSE t."latencyP99Ms" END) AS latency
        FROM "RolloutDevice" rd
        JOIN "Device" d ON d.id = rd."deviceId"
        JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
        JOIN "Policy" p ON p.scenario = d.scenario
        JOIN "TelemetryWindow" t ON t."deviceId" = rd."deviceId" AND t."windowEnd" > ${since} AND t."windowStart" > ${split.startedAfter}
             AND t."windowStart" < ${split.startedBefore} AND t.inferences > 0
       WHERE rd."rolloutId" = ${rolloutId}::uuid AND rd.state = 'pending'
       GROUP BY hp."hardwareClass"`;
    const medians = new Map(latency.map((r) => [r.hardwareClass, r.latency]));
    const classes = new Map<string, BaselineFigures & { inferences: number; errors: number }>();
    for (const d of devices) {
      const c = classes.get(d.hardwareClass) ?? {
        devices: 0,
        latencyMs: null,
        errorRate: null,
        distributions: [],
        inferences: 0,
        errors: 0,
      };
      classes.set(d.hardwareClass, c);
      c.devices += 1;
      c.inferences += d.inferences;
      c.errors += d.errors;
      if (d.histogramWindows > 0 && d.histograms)
        c.distributions.push({
          deviceId: d.deviceId,
          histogram: LatencyHistogram.merged(d.histograms).toSparse(),
          windows: d.histogramWindows,
        });
    }
    return new Map(
      [...classes].map(([hc, { inferences, errors, ...c }]) => [
        hc,
        { ...c, latencyMs: medians.get(hc) ?? null, errorRate: inferences ? errors / inferences : null },
      ]),
    );
  }

  /** Each device's figures of the wave's gate evaluation. */
  async saveFigures(tx: Tx, rolloutId: string, figures: Map<string, JsonValue>): Promise<void> {
    const ids = [...figures.keys()];
    if (ids.length === 0) return;
    await prismaOf(tx).$executeRaw`
      UPDATE "RolloutDevice" rd SET figures = f.figures
        FROM unnest(${ids}::uuid[], ${ids.map((id) => JSON.stringify(figures.get(id)))}::jsonb[]) AS f("deviceId", figures)
       WHERE rd."rolloutId" = ${rolloutId}::uuid AND rd."deviceId" = f."deviceId"`;
  }

  /**
   * Devices' reports move their rollout states: failed when a device reports a failed update of the
   * rollout's assignment (also after applying it: the local watchdog sent it back), applied when it
   * runs the rollout's variant at (or past) that assignment. Runs for every reported state of every
   * device, so on the pg pool (through Prisma each statement cost ~1 ms of control-plane CPU) and for
   * a batch of reports at once (one by one, 10,000 acknowledgements queued 20,000 statements).
   */
  async recordReports(
    reports: readonly {
      deviceId: string;
      applied: number | null;
      activeVariantId: string | null;
      lastUpdate: { assignmentVersion: number; outcome: string; reasonCode?: string | undefined; message?: string | undefined } | null;
    }[],
  ): Promise<void> {
    // one statement per kind for any number of devices, each at most once (see ReportedIngestService)
    const failed = reports.flatMap((r) => {
      const lu = r.lastUpdate;
      return lu?.outcome === 'failed'
        ? [
            {
              deviceId: r.deviceId,
              why: `${lu.reasonCode ?? 'failed'}${lu.message ? `: ${lu.message}` : ''}`.slice(0, 2_000),
              version: lu.assignmentVersion,
            },
          ]
        : [];
    });
    if (failed.length > 0) {
      await this.pool.query(
        `UPDATE "RolloutDevice" rd SET state = 'failed', reason = u.why
           FROM "Rollout" r, unnest($1::uuid[], $2::text[], $3::int4[]) AS u(device, why, version)
          WHERE r.id = rd."rolloutId" AND r.status = ANY($4::text[]) AND rd."deviceId" = u.device
            AND rd.state IN ('notified', 'applied') AND rd."assignmentVersion" = u.version`,
        [failed.map((f) => f.deviceId), failed.map((f) => f.why), failed.map((f) => f.version), ACTIVE],
      );
    }
    const applied = reports.filter((r) => r.applied !== null && r.activeVariantId !== null);
    if (applied.length > 0) {
      await this.pool.query(
        `UPDATE "RolloutDevice" rd SET state = 'applied', "appliedAt" = now()
           FROM "Rollout" r, unnest($1::uuid[], $2::int4[], $3::text[]) AS u(device, applied, variant)
          WHERE r.id = rd."rolloutId" AND r.status = ANY($4::text[]) AND rd."deviceId" = u.device
            AND rd.state = 'notified' AND rd."assignmentVersion" <= u.applied AND rd."targetVariantId"::text = u.variant`,
        [applied.map((r) => r.deviceId), applied.map((r) => r.applied), applied.map((r) => r.activeVariantId), ACTIVE],
      );
    }
  }

  /** Device counts by wave and state. */
  async counts(rolloutId: string): Promise<{ wave: number; state: string; n: number }[]> {
    const rows = await this.db.rolloutDevice.groupBy({ by: ['wave', 'state'], where: { rolloutId }, _count: { _all: true } });
    return rows.map((r) => ({ wave: r.wave, state: r.state, n: r._count._all }));
  }

  /** Device counts by rollout and state. */
  async countsByRollout(rolloutIds: string[]): Promise<{ rolloutId: string; state: string; n: number }[]> {
    if (rolloutIds.length === 0) return [];
    const rows = await this.db.rolloutDevice.groupBy({
      by: ['rolloutId', 'state'],
      where: { rolloutId: { in: rolloutIds } },
      _count: { _all: true },
    });
    return rows.map((r) => ({ rolloutId: r.rolloutId, state: r.state, n: r._count._all }));
  }

  /** The first 500 devices of the rollout (by wave, then name) with their state. */
  async states(rolloutId: string): Promise<DeviceStateRow[]> {
    return this.db.$queryRaw<DeviceStateRow[]>`
      SELECT rd."deviceId"::text AS "deviceId", d.name, hp."hardwareClass", d.scenario, rd.wave, rd.state, rd.reason, rd.late, rd."notifiedAt", rd."appliedAt", rd.figures
        FROM "RolloutDevice" rd JOIN "Device" d ON d.id = rd."deviceId" JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
       WHERE rd."rolloutId" = ${rolloutId}::uuid ORDER BY rd.wave, d.name LIMIT 500`;
  }
}
