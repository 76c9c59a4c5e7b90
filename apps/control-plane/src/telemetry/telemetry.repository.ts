import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { TelemetryWindow } from '@edge-fleet/shared';
import type { TelemetryPoint } from '@edge-fleet/shared/api';
import { DeviceRepository } from '../devices/device.repository.js';
import { withTransaction } from '../infra/pg-transaction.js';
import type { Config } from '../config.js';
import { CONFIG, PG_POOL } from '../infra/tokens.js';
import { asBulkTx } from '../infra/unit-of-work.js';
import { TelemetryRollupRepository } from './telemetry-rollup.repository.js';
import { rollupWindows } from './telemetry-rollup.js';
import { startedAfter, startedBefore, WINDOW_SPAN_MAX_MS } from './window-span.js';

/** The fleet list's latest windows are looked for in this many days' partitions first. */
export const LATEST_RECENT_DAYS = 2;

/** The window's columns as the insert sends them, with their Postgres types. */
export const TELEMETRY_COLUMNS = [
  ['deviceId', 'uuid'],
  ['bootId', 'uuid'],
  ['seq', 'int8'],
  ['windowStart', 'timestamptz'],
  ['windowEnd', 'timestamptz'],
  ['modelVersionId', 'text'],
  ['variantId', 'text'],
  ['precision', 'text'],
  ['inferences', 'int4'],
  ['errors', 'int4'],
  ['latencyP50Ms', 'float8'],
  ['latencyP95Ms', 'float8'],
  ['latencyP99Ms', 'float8'],
  ['latencyMaxMs', 'float8'],
  ['powerW', 'float8'],
  ['powerSource', 'text'],
  ['powerDetail', 'text'],
  ['rssMb', 'float8'],
  ['heapUsedMb', 'float8'],
  ['cacheHits', 'int4'],
  ['fallbacks', 'int4'],
  ['source', 'text'],
  ['queueP50Ms', 'float8'],
  ['queueP95Ms', 'float8'],
  ['queueP99Ms', 'float8'],
  ['queueMaxMs', 'float8'],
  ['latencyHistogram', 'jsonb'],
  ['remoteInferences', 'int4'],
  ['remoteErrors', 'int4'],
  ['remoteP50Ms', 'float8'],
  ['remoteP95Ms', 'float8'],
  ['remoteP99Ms', 'float8'],
  ['remoteMaxMs', 'float8'],
  ['cacheSavedMs', 'float8'],
  ['remoteBytesSent', 'int8'],
  ['remoteBytesReceived', 'int8'],
] as const;

const COLUMNS = TELEMETRY_COLUMNS;
const NAMES = COLUMNS.map(([c]) => `"${c}"`).join(', ');

/**
 * The batch reaches Postgres by COPY (text format) into a temporary table of the connection's, and
 * one statement stores it from there: Postgres spends ×0.69–0.74 of the CPU it spent parsing one
 * array parameter a column (`pnpm bench:telemetry-insert`). The statement is idempotent on
 * (device, boot, seq). The window table is partitioned by day and Postgres wants the partition key
 * in every unique key, so the idempotency key has its own table: the batch's keys go there first
 * (ON CONFLICT DO NOTHING) and only the windows whose key was new are stored, whatever start a
 * redelivery claims; the first of a key repeated within the batch (lowest `ord`) wins.
 */
const STAGE = 'telemetry_in';
/**
 * Created if missing before every batch, not remembered per connection: a creation in a
 * transaction that then rolls back is undone, and a pooler may hand the session's table to no one.
 * The table empties itself at commit.
 */
const STAGE_SQL = `CREATE TEMP TABLE IF NOT EXISTS ${STAGE} (${COLUMNS.map(([c, t]) => `"${c}" ${t}`).join(', ')}, ord int4) ON COMMIT DELETE ROWS`;
const COPY_SQL = `COPY ${STAGE} (${NAMES}, ord) FROM STDIN`;
const newWindows = (input: string) => `input AS (
  SELECT DISTINCT ON ("deviceId", "bootId", "seq") * FROM ${input}
   ORDER BY "deviceId", "bootId", "seq", ord
), fresh AS (
  INSERT INTO "TelemetryWindowKey" ("deviceId", "bootId", "seq", "windowStart")
  SELECT "deviceId", "bootId", "seq", "windowStart" FROM input ON CONFLICT DO NOTHING
  RETURNING "deviceId", "bootId", "seq"
)`;
const STORE = `INSERT INTO "TelemetryWindow" (${NAMES})
SELECT ${COLUMNS.map(([c]) => `input."${c}"`).join(', ')} FROM input JOIN fresh USING ("deviceId", "bootId", "seq")`;

/** TELEMETRY_ROLLUPS=ingest: the new rows' keys come back, and only those windows are added to the rollups. */
const INSERT_SQL = `WITH ${newWindows(STAGE)}
${STORE}
RETURNING "deviceId", "bootId", "seq"::text AS seq`;

/**
 * TELEMETRY_ROLLUPS=fold: each new row's id goes to the pending table in the same statement (and
 * so the same transaction), for the worker's fold to add to the rollups; a window is pending
 * exactly when it is stored.
 */
export const insertPendingSql = (input: string) => `WITH ${newWindows(input)}, stored AS (
${STORE}
RETURNING "id", "windowStart"
)
INSERT INTO "TelemetryRollupPending" ("windowId", "windowStart") SELECT "id", "windowStart" FROM stored`;
const INSERT_PENDING_SQL = insertPendingSql(STAGE);

const windowKey = (w: { deviceId: string; bootId: string; seq: number | string }) => `${w.deviceId}|${w.bootId}|${w.seq}`;

/** The windows of `rows` the insert stored (the first of any repeated within the batch). */
function insertedOf(rows: TelemetryWindow[], returned: { deviceId: string; bootId: string; seq: string }[]): TelemetryWindow[] {
  const keys = new Set(returned.map(windowKey));
  return rows.filter((w) => keys.delete(windowKey(w)));
}

const COPY_SPECIAL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value in COPY's text format: \N for null; backslash, tab, newline and carriage return escaped. */
function copyText(v: TelemetryValue): string {
  if (v === null) return '\\N';
  const s = typeof v === 'string' ? v : String(v);
  COPY_SPECIAL.lastIndex = 0;
  return COPY_SPECIAL.test(s) ? s.replace(COPY_SPECIAL, (c) => COPY_ESCAPES[c] ?? c) : s;
}

/** The batch as COPY text: one line a window, its values in column order, then its position. */
function copyLines(rows: TelemetryWindow[]): string {
  let out = '';
  rows.forEach((w, i) => {
    for (const v of telemetryValuesOf(w)) out += `${copyText(v)}\t`;
    out += `${i}\n`;
  });
  return out;
}

/** Streams the batch into the connection's stage table (created when missing). */
async function stage(client: PoolClient, rows: TelemetryWindow[]): Promise<void> {
  await client.query(STAGE_SQL);
  const stream = client.query(copyFrom(COPY_SQL));
  await new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
    stream.end(copyLines(rows));
  });
}

/** A column's value as the insert sends it (dates as ISO text, JSON as its text). */
export type TelemetryValue = string | number | null;

/** One window's values in {@link TELEMETRY_COLUMNS}' order. */
export function telemetryValuesOf(w: TelemetryWindow): TelemetryValue[] {
  return [
    w.deviceId,
    w.bootId,
    w.seq,
    w.windowStart,
    w.windowEnd,
    w.modelVersionId,
    w.variantId,
    w.precision,
    w.inferences,
    w.errors,
    w.latencyMs?.p50 ?? null,
    w.latencyMs?.p95 ?? null,
    w.latencyMs?.p99 ?? null,
    w.latencyMs?.max ?? null,
    w.power.watts,
    w.power.source,
    w.power.detail,
    w.memory.rssMb,
    w.memory.heapUsedMb,
    w.cacheHits,
    w.fallbacks,
    w.source,
    w.queueMs?.p50 ?? null,
    w.queueMs?.p95 ?? null,
    w.queueMs?.p99 ?? null,
    w.queueMs?.max ?? null,
    w.latencyHistogram ? JSON.stringify(w.latencyHistogram) : null,
    w.remote?.inferences ?? 0,
    w.remote?.errors ?? 0,
    w.remote?.latencyMs?.p50 ?? null,
    w.remote?.latencyMs?.p95 ?? null,
    w.remote?.latencyMs?.p99 ?? null,
    w.remote?.latencyMs?.max ?? null,
    w.cacheSavedMs ?? null,
    w.remote?.bytesSent ?? null,
    w.remote?.bytesReceived ?? null,
  ];
}

/** The shape is the API contract's (`TelemetryPointSchema`). */
export type { TelemetryPoint };

/** A row as Postgres returns it: dates as Date, no derived figures. */
type PointRow = Omit<TelemetryPoint, 'windowStart' | 'windowEnd' | 'errorRate'> & { windowStart: Date; windowEnd: Date };

@Injectable()
export class TelemetryRepository {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DeviceRepository) private readonly devices: DeviceRepository,
    @Inject(TelemetryRollupRepository) private readonly rollupTables: TelemetryRollupRepository,
    @Inject(CONFIG) config: Config,
  ) {
    this.rollups = config.TELEMETRY_ROLLUPS;
  }

  /**
   * How new windows reach the rollups (TELEMETRY_ROLLUPS): `fold` (pending, folded in by the
   * worker) or `ingest` (in the insert's transaction). `none` only in the storage benchmark, to
   * measure the insert alone.
   */
  rollups: Config['TELEMETRY_ROLLUPS'] | 'none';

  /**
   * Inserts a batch and marks its devices as seen, in one transaction; returns how many rows were
   * new (duplicates are ignored).
   */
  async insertBatch(rows: TelemetryWindow[]): Promise<number> {
    if (rows.length === 0) return 0;
    return withTransaction(this.pool, async (client) => {
      const deviceIds = [...new Set(rows.map((r) => r.deviceId))];
      // named: each pooled connection parses and plans the statement once, not once per batch
      await stage(client, rows);
      if (this.rollups === 'fold') {
        const res = await client.query({ name: 'telemetry-insert-pending', text: INSERT_PENDING_SQL });
        await this.devices.markSeen(asBulkTx(client), deviceIds);
        return res.rowCount ?? 0;
      }
      const res = await client.query<{ deviceId: string; bootId: string; seq: string }>({
        name: 'telemetry-insert',
        text: INSERT_SQL,
      });
      await this.devices.markSeen(asBulkTx(client), deviceIds);
      if (this.rollups === 'ingest' && res.rows.length > 0) {
        const groups = await this.rollupTables.groupsOf(client, deviceIds);
        await this.rollupTables.add(
          client,
          rollupWindows(insertedOf(rows, res.rows), (id) => groups.get(id)),
        );
      }
      return res.rowCount ?? 0;
    });
  }

  /** When each of the devices enrolled, in one query; a device that does not exist is absent. */
  async enrolledAtOf(deviceIds: readonly string[]): Promise<Map<string, Date>> {
    const r = await this.pool.query<{ id: string; at: Date }>({
      name: 'telemetry-enrolled-at',
      text: `SELECT id::text AS id, "enrolledAt" AT TIME ZONE 'UTC' AS at FROM "Device" WHERE id = ANY($1::uuid[])`,
      values: [deviceIds],
    });
    return new Map(r.rows.map((x) => [x.id, x.at]));
  }

  /**
   * A device's windows that ended at or after `since`, oldest first, at most `limit` (the newest);
   * null when there is no such device. One statement: the device's row (its primary key) and its
   * windows, so the device page's chart is one round trip (it was two: the device, then its windows).
   */
  async range(deviceId: string, since: Date, limit: number): Promise<TelemetryPoint[] | null> {
    const res = await this.pool.query<{ [K in keyof PointRow]: PointRow[K] | null }>(
      `SELECT w.* FROM "Device" d LEFT JOIN LATERAL (
         SELECT "windowStart", "windowEnd", "modelVersionId", "variantId", "precision", "inferences", "errors",
                "latencyP50Ms" AS p50, "latencyP95Ms" AS p95, "latencyP99Ms" AS p99, "latencyMaxMs" AS max,
                "powerW", "powerSource", "powerDetail", "rssMb", "source",
                "queueP50Ms" AS "queueP50", "queueP99Ms" AS "queueP99", "cacheHits",
                "remoteInferences", "remoteErrors", "remoteP50Ms" AS "remoteP50", "remoteP99Ms" AS "remoteP99", "cacheSavedMs"
           FROM "TelemetryWindow"
          -- windowStart bounds which day partitions are planned and read, on both sides (window-span.ts)
          WHERE "deviceId" = d.id AND "windowEnd" >= $2 AND "windowStart" >= $4 AND "windowStart" < $5
          ORDER BY "windowEnd" DESC LIMIT $3) w ON true
        WHERE d.id = $1::uuid`,
      [deviceId, since, limit, startedAfter(since), startedBefore(new Date())],
    );
    if (res.rows.length === 0) return null;
    // a device without windows in the range is one row of nulls
    const rows = res.rows.filter((r): r is PointRow => r.windowStart !== null);
    return rows.reverse().map((r) => ({
      ...r,
      windowStart: r.windowStart.toISOString(),
      windowEnd: r.windowEnd.toISOString(),
      errorRate: r.inferences > 0 ? r.errors / r.inferences : 0,
    }));
  }

  /**
   * Latest window per device, for the fleet list: one index probe per device (LATERAL … LIMIT 1
   * on (deviceId, windowEnd); DISTINCT ON read every window the page's devices ever sent) of the
   * last {@link LATEST_RECENT_DAYS} days' partitions only. A window found there that ended in the
   * last day is the latest of all (an older start ends before it: window-span.ts); a device with
   * none (silent for a day) is looked up again over every partition, in a second statement, so the
   * usual page plans, locks and probes two or three partitions, not the whole retention. Neither
   * plans the partitions created ahead, where no stored window starts (window-span.ts).
   */
  async latestFor(deviceIds: string[], now = new Date()): Promise<Map<string, TelemetryPoint>> {
    if (deviceIds.length === 0) return new Map();
    const recent = new Date(now.getTime() - LATEST_RECENT_DAYS * WINDOW_SPAN_MAX_MS);
    const before = startedBefore(now);
    const found = await this.latestOf(deviceIds, recent, before);
    const sure = new Date(recent.getTime() + WINDOW_SPAN_MAX_MS);
    for (const [id, p] of found) if (Date.parse(p.windowEnd) < sure.getTime()) found.delete(id);
    const rest = deviceIds.filter((id) => !found.has(id));
    if (rest.length > 0) for (const [id, p] of await this.latestOf(rest, '-infinity', before)) found.set(id, p);
    return found;
  }

  /** Each device's latest window among those that started in [`from`, `before`): values, so that Postgres prunes the partitions when it plans. */
  private async latestOf(deviceIds: string[], from: Date | '-infinity', before: Date): Promise<Map<string, TelemetryPoint>> {
    const res = await this.pool.query<PointRow & { deviceId: string }>(
      `SELECT ids.id AS "deviceId", w."windowStart", w."windowEnd", w."modelVersionId", w."variantId", w."precision",
              w."inferences", w."errors", w."latencyP50Ms" AS p50, w."latencyP95Ms" AS p95, w."latencyP99Ms" AS p99,
              w."latencyMaxMs" AS max, w."powerW", w."powerSource", w."powerDetail", w."rssMb",
              w."source", w."queueP50Ms" AS "queueP50", w."queueP99Ms" AS "queueP99", w."cacheHits",
              w."remoteInferences", w."remoteErrors", w."remoteP50Ms" AS "remoteP50", w."remoteP99Ms" AS "remoteP99",
              w."cacheSavedMs"
         FROM unnest($1::uuid[]) AS ids(id)
         CROSS JOIN LATERAL (
           SELECT * FROM "TelemetryWindow" t
            WHERE t."deviceId" = ids.id AND t."windowStart" >= $2 AND t."windowStart" < $3
            ORDER BY t."windowEnd" DESC LIMIT 1
         ) w`,
      [deviceIds, from, before],
    );
    return new Map(
      res.rows.map((r) => [
        r.deviceId,
        {
          ...r,
          windowStart: r.windowStart.toISOString(),
          windowEnd: r.windowEnd.toISOString(),
          errorRate: r.inferences > 0 ? r.errors / r.inferences : 0,
        },
      ]),
    );
  }
}
