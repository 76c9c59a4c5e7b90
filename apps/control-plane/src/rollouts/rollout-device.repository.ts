import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import {
  ACTIVE_ROLLOUT_STATUSES,
  LatencyHistogram,
  type BaselineFigures,
  type DeviceDistribution,
  type DeviceEvidence,
  type Scenario,
  type SparseHistogram,
} from '@edge-fleet/shared';
import type { JsonValue } from '../infra/json.js';
import type { Db } from '../infra/prisma.js';
import { PG_POOL, PRISMA } from '../infra/tokens.js';
import { prismaOf, type Tx } from '../infra/unit-of-work.js';
import { startedAfter } from '../telemetry/window-span.js';

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
             AND t."windowStart" >= COALESCE(rd."appliedAt", rd."notifiedAt") AND t."windowStart" >= ${from} AND t.inferences > 0
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

  /** Devices of the rollout still on the old model (later waves), per hardware class, over the same period. */
  async baseline(rolloutId: string, since: Date): Promise<Map<string, BaselineFigures>> {
    // the day partitions the period reaches, as a value so that Postgres prunes the others when planning (window-span.ts)
    const started = startedAfter(since);
    const rows = await this.db.$queryRaw<
      { hardwareClass: string; devices: bigint; latency: number | null; inferences: bigint | null; errors: bigint | null }[]
    >`
      SELECT hp."hardwareClass", count(DISTINCT t."deviceId") AS devices,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE p."latencyPercentile" WHEN 'p50' THEN t."latencyP50Ms" WHEN 'p95' THEN t."latencyP95Ms" ELSE t."latencyP99Ms" END) AS latency,
             sum(t.inferences) AS inferences, sum(t.errors) AS errors
        FROM "RolloutDevice" rd
        JOIN "Device" d ON d.id = rd."deviceId"
        JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
        JOIN "Policy" p ON p.scenario = d.scenario
        JOIN "TelemetryWindow" t ON t."deviceId" = rd."deviceId" AND t."windowEnd" > ${since} AND t."windowStart" > ${started} AND t.inferences > 0
       WHERE rd."rolloutId" = ${rolloutId}::uuid AND rd.state = 'pending'
       GROUP BY hp."hardwareClass"`;
    const perDevice = await this.db.$queryRaw<
      { deviceId: string; hardwareClass: string; histograms: SparseHistogram[]; windows: bigint }[]
    >`
      SELECT t."deviceId"::text AS "deviceId", hp."hardwareClass", jsonb_agg(t."latencyHistogram") AS histograms, count(*) AS windows
        FROM "RolloutDevice" rd
        JOIN "Device" d ON d.id = rd."deviceId"
        JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
        JOIN "TelemetryWindow" t ON t."deviceId" = rd."deviceId" AND t."windowEnd" > ${since} AND t."windowStart" > ${started} AND t.inferences > 0
             AND t."latencyHistogram" IS NOT NULL
       WHERE rd."rolloutId" = ${rolloutId}::uuid AND rd.state = 'pending'
       GROUP BY t."deviceId", hp."hardwareClass"`;
    const distributions = (hc: string): DeviceDistribution[] =>
      perDevice
        .filter((d) => d.hardwareClass === hc)
        .map((d) => ({ deviceId: d.deviceId, histogram: LatencyHistogram.merged(d.histograms).toSparse(), windows: Number(d.windows) }));
    return new Map(
      rows.map((r) => [
        r.hardwareClass,
        {
          devices: Number(r.devices),
          latencyMs: r.latency,
          errorRate: r.inferences ? Number(r.errors ?? 0) / Number(r.inferences) : null,
          distributions: distributions(r.hardwareClass),
        },
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
