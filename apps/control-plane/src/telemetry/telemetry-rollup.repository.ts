import { Inject, Injectable } from '@nestjs/common';
import type { ClientBase, Pool, PoolClient } from 'pg';
import type { ParkedWindows } from '@edge-fleet/shared/api';
import { HISTOGRAM_MAX_BUCKETS } from '@edge-fleet/shared/histogram';
import { errorText, isDataError } from '../infra/pg-errors.js';
import { withTransaction } from '../infra/pg-transaction.js';
import { type AnyTx, txExecute } from '../infra/unit-of-work.js';
import type { RollupWindowTable } from '../infra/metrics.js';
import { PG_POOL } from '../infra/tokens.js';
import {
  type DeviceGroup,
  type DeviceRollup,
  type DeviceRollupKey,
  type GroupRollup,
  type RollupBucketSeconds,
  type RollupInput,
  type ClassSums,
  type RollupStats,
  type StoredStats,
  rollupWindows,
} from './telemetry-rollup.js';

type Col = readonly [
  name: string,
  type: string,
  merge: 'key' | 'sum' | 'nsum' | 'min' | 'max' | 'hist' | 'latest',
  value: (r: never) => unknown,
];

const stat =
  <K extends keyof RollupStats>(k: K) =>
  (r: RollupStats) =>
    r[k];
const STAT_COLUMNS: readonly Col[] = [
  ['modelVersionId', 'text', 'latest', stat('modelVersionId')],
  ['precision', 'text', 'latest', stat('precision')],
  ['windows', 'int4', 'sum', stat('windows')],
  ['inferences', 'int8', 'sum', stat('inferences')],
  ['errors', 'int8', 'sum', stat('errors')],
  ['cacheHits', 'int8', 'sum', stat('cacheHits')],
  ['fallbacks', 'int8', 'sum', stat('fallbacks')],
  [
    'latencyHistogram',
    'jsonb',
    'hist',
    (r: RollupStats) => (r.histogram ? JSON.stringify([...r.histogram].sort((a, b) => a[0] - b[0])) : null),
  ],
  ['approxInferences', 'int8', 'sum', stat('approxInferences')],
  ['approxP50Sum', 'float8', 'sum', stat('approxP50Sum')],
  ['approxP95Sum', 'float8', 'sum', stat('approxP95Sum')],
  ['approxP99Sum', 'float8', 'sum', stat('approxP99Sum')],
  ['latencyMaxMs', 'float8', 'max', stat('latencyMaxMs')],
  ['queueP99MaxMs', 'float8', 'max', stat('queueP99MaxMs')],
  ['powerSumW', 'float8', 'sum', stat('powerSumW')],
  ['powerMinW', 'float8', 'min', stat('powerMinW')],
  ['powerMaxW', 'float8', 'max', stat('powerMaxW')],
  ['energyJ', 'float8', 'sum', stat('energyJ')],
  ['durationS', 'float8', 'sum', stat('durationS')],
  ['firstWindowStart', 'timestamptz', 'min', stat('firstWindowStart')],
  ['powerSource', 'text', 'latest', stat('powerSource')],
] as const;
// the 'latest' columns follow the window that ended last (SET expressions read the stored row's values)
const LAST: Col = ['lastWindowEnd', 'timestamptz', 'max', stat('lastWindowEnd')];

const sum =
  <K extends keyof ClassSums>(k: K) =>
  (r: RollupStats) =>
    r.sums[k];
/** What the energy report and the gate baseline read (telemetry-rollup.ts ClassSums); LEAST/GREATEST skip NULLs. */
const CLASS_SUM_COLUMNS: readonly Col[] = [
  ['simWindows', 'int4', 'sum', sum('simWindows')],
  ['simInferences', 'int8', 'sum', sum('simInferences')],
  ['simEnergyJ', 'float8', 'sum', sum('simEnergyJ')],
  ['simDurationS', 'float8', 'sum', sum('simDurationS')],
  ['simRemoteBytesSent', 'int8', 'nsum', sum('simBytesSent')],
  ['simRemoteBytesReceived', 'int8', 'nsum', sum('simBytesReceived')],
  ['simPrecision', 'text', 'max', sum('simPrecision')],
  ['simFirstWindowStart', 'timestamptz', 'min', sum('simFirstWindowStart')],
  ['simLastWindowEnd', 'timestamptz', 'max', sum('simLastWindowEnd')],
  ['sensorWindows', 'int4', 'sum', sum('sensorWindows')],
  ['estimateWindows', 'int4', 'sum', sum('estimateWindows')],
  ['realRemoteBytesSent', 'int8', 'nsum', sum('realBytesSent')],
  ['realRemoteBytesReceived', 'int8', 'nsum', sum('realBytesReceived')],
  ['realPrecision', 'text', 'max', sum('realPrecision')],
  ['realFirstWindowStart', 'timestamptz', 'min', sum('realFirstWindowStart')],
  ['realLastWindowEnd', 'timestamptz', 'max', sum('realLastWindowEnd')],
  ['activeWindows', 'int4', 'sum', sum('activeWindows')],
  ['activeHistogramWindows', 'int4', 'sum', sum('activeHistogramWindows')],
];

const DEVICE_COLUMNS: readonly Col[] = [
  ['deviceId', 'uuid', 'key', (r: DeviceRollup) => r.deviceId],
  ['bucketSeconds', 'int4', 'key', (r: DeviceRollup) => r.bucketSeconds],
  ['bucketStart', 'timestamptz', 'key', (r: DeviceRollup) => r.bucketStart],
  ['source', 'text', 'key', (r: DeviceRollup) => r.source],
  ['variantId', 'text', 'key', (r: DeviceRollup) => r.variantId],
  ...STAT_COLUMNS,
  ['rssMaxMb', 'float8', 'max', stat('rssMaxMb')],
  ['powerDetail', 'text', 'latest', stat('powerDetail')],
  ...CLASS_SUM_COLUMNS,
  LAST,
];

const GROUP_COLUMNS: readonly Col[] = [
  ['scenario', 'text', 'key', (r: GroupRollup) => r.scenario],
  ['bucketSeconds', 'int4', 'key', (r: GroupRollup) => r.bucketSeconds],
  ['bucketStart', 'timestamptz', 'key', (r: GroupRollup) => r.bucketStart],
  ['variantId', 'text', 'key', (r: GroupRollup) => r.variantId],
  ['hardwareClass', 'text', 'key', (r: GroupRollup) => r.hardwareClass],
  ['source', 'text', 'key', (r: GroupRollup) => r.source],
  ...STAT_COLUMNS,
  LAST,
];

/**
 * How a stored rollup (relation `stored`) and a new one (relation `added`) merge, column by column:
 * in `ON CONFLICT DO UPDATE` (the table and EXCLUDED) or in an UPDATE from the new rows.
 */
function mergeSql(name: string, merge: Col[2], stored: string, added: string): string {
  const [old, add] = [`${stored}."${name}"`, `${added}."${name}"`];
  switch (merge) {
    case 'key':
      return '';
    case 'sum':
      return `${old} + ${add}`;
    case 'nsum':
      // NULL while neither side has any (a plain + would turn one side's NULL into NULL)
      return `COALESCE(${old} + ${add}, ${old}, ${add})`;
    case 'min':
      return `LEAST(${old}, ${add})`;
    case 'max':
      return `GREATEST(${old}, ${add})`;
    case 'latest':
      return `CASE WHEN ${added}."lastWindowEnd" >= ${stored}."lastWindowEnd" THEN ${add} ELSE ${old} END`;
    case 'hist':
      // add the counts bucket by bucket: the merged histogram is the histogram of all the windows
      return `CASE WHEN ${old} IS NULL THEN ${add} WHEN ${add} IS NULL THEN ${old} ELSE (
        SELECT jsonb_agg(jsonb_build_array(k, c) ORDER BY k) FROM (
          SELECT (e->>0)::int AS k, sum((e->>1)::bigint) AS c FROM jsonb_array_elements(${old} || ${add}) e GROUP BY 1) h) END`;
  }
}

function upsertSql(table: string, columns: readonly Col[]): string {
  const keys = columns.filter(([, , m]) => m === 'key').map(([c]) => `"${c}"`);
  const sets = columns.filter(([, , m]) => m !== 'key').map(([c, , m]) => `"${c}" = ${mergeSql(c, m, `"${table}"`, 'EXCLUDED')}`);
  return `INSERT INTO "${table}" (${columns.map(([c]) => `"${c}"`).join(', ')})
SELECT * FROM unnest(${columns.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ')})
ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ${sets.join(', ')}`;
}

/**
 * The UPDATE of stored rollups (t) from new ones (u) whose histograms were already merged with the
 * stored ones in the control plane ({@link TelemetryRollupRepository.lockStored}): every other
 * column merges as in the upsert.
 */
function updateSql(table: string, columns: readonly Col[]): string {
  const keys = columns.filter(([, , m]) => m === 'key').map(([c]) => `t."${c}" = u."${c}"`);
  const sets = columns
    .filter(([, , m]) => m !== 'key')
    .map(([c, , m]) => `"${c}" = ${m === 'hist' ? `u."${c}"` : mergeSql(c, m, 't', 'u')}`);
  return `UPDATE "${table}" AS t SET ${sets.join(', ')}
  FROM unnest(${columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')}) AS u(${columns.map(([c]) => `"${c}"`).join(', ')})
 WHERE ${keys.join(' AND ')}`;
}

/** The stored rollups among the given keys, with their histograms, locked (FOR UPDATE) in key order. */
function lockSql(table: string, columns: readonly Col[]): string {
  const keys = columns.filter(([, , m]) => m === 'key');
  return `SELECT ${keys.map(([c]) => `t."${c}"`).join(', ')}, t."latencyHistogram" FROM "${table}" AS t
  JOIN unnest(${keys.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')}) AS u(${keys.map(([c]) => `"${c}"`).join(', ')})
    ON ${keys.map(([c]) => `t."${c}" = u."${c}"`).join(' AND ')}
 ORDER BY ${keys.map(([c]) => `t."${c}"`).join(', ')} FOR UPDATE OF t`;
}

const DEVICE_UPSERT = upsertSql('TelemetryDeviceRollup', DEVICE_COLUMNS);
const DEVICE_UPDATE = updateSql('TelemetryDeviceRollup', DEVICE_COLUMNS);
const DEVICE_LOCK = lockSql('TelemetryDeviceRollup', DEVICE_COLUMNS);
const GROUP_UPSERT = upsertSql('TelemetryGroupRollup', GROUP_COLUMNS);

function toColumns<R>(rows: readonly R[], columns: readonly Col[]): unknown[][] {
  return columns.map(([, , , value]) => rows.map((r) => (value as (r: R) => unknown)(r)));
}

/**
 * Rows in key order, so that two replicas upserting the same rollups lock them in the same order,
 * each with its key (made once a row, not once a comparison).
 */
function inKeyOrder<R>(rows: readonly R[], key: (r: R) => string): [string, R][] {
  return rows.map((r): [string, R] => [key(r), r]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
const deviceKey = (r: DeviceRollupKey) => `${r.deviceId}|${r.bucketSeconds}|${r.bucketStart.toISOString()}|${r.source}|${r.variantId}`;
const groupKey = (r: GroupRollup) =>
  `${r.scenario}|${r.bucketSeconds}|${r.bucketStart.toISOString()}|${r.variantId}|${r.hardwareClass}|${r.source}`;

/** A histogram the control plane holds and a stored one (jsonb [bucket, count] pairs), added bucket by bucket. */
function mergedHistogram(mine: Map<number, number> | null, stored: [number, number][] | null): Map<number, number> | null {
  if (stored === null) return mine;
  const merged = new Map(mine ?? []);
  for (const [k, c] of stored) merged.set(k, (merged.get(k) ?? 0) + Number(c));
  return merged;
}

/** A stored rollup row as readers get it (sums as numbers: they stay far below 2^53). */
export interface StoredRollup extends StoredStats {
  bucketSeconds: RollupBucketSeconds;
  bucketStart: Date;
  source: string;
  variantId: string;
  modelVersionId: string | null;
  precision: string | null;
  cacheHits: number;
  queueP99MaxMs: number | null;
  durationS: number;
  powerSource: string;
  firstWindowStart: Date;
  lastWindowEnd: Date;
}

/** A device's rollup: what a chart point needs besides. */
export interface StoredDeviceRollup extends StoredRollup {
  rssMaxMb: number;
  powerDetail: string;
}

const READ_COLUMNS = `"bucketSeconds", "bucketStart", "source", "variantId", "modelVersionId", "precision", "windows",
  "inferences"::float8 AS inferences, "errors"::float8 AS errors, "cacheHits"::float8 AS "cacheHits", "latencyHistogram",
  "approxInferences"::float8 AS "approxInferences", "approxP50Sum", "approxP95Sum", "approxP99Sum", "latencyMaxMs",
  "queueP99MaxMs", "powerSumW", "energyJ", "durationS", "powerSource", "firstWindowStart", "lastWindowEnd"`;

/**
 * Per scenario, the merged statistics of its group rollups of one resolution since a time. A scope
 * condition on the scenario goes in the CTE's WHERE (both parts read only its rows).
 */
export const SCENARIO_TOTALS_SQL = `WITH r AS (
  SELECT "scenario", "windows", "inferences", "errors", "latencyHistogram", "approxInferences", "approxP50Sum", "approxP95Sum",
         "approxP99Sum", "latencyMaxMs", "powerSumW", "energyJ"
    FROM "TelemetryGroupRollup" WHERE "bucketSeconds" = $1 AND "bucketStart" >= $2
), h AS (
  SELECT r."scenario", (e->>0)::int AS k, sum((e->>1)::float8) AS c
    FROM r CROSS JOIN LATERAL jsonb_array_elements(r."latencyHistogram") e
   WHERE (e->>0)::int >= 0 AND (e->>0)::int < $3
   GROUP BY 1, 2 HAVING sum((e->>1)::float8) > 0
)
SELECT t.*, (SELECT jsonb_agg(jsonb_build_array(h.k, h.c) ORDER BY h.k) FROM h WHERE h."scenario" = t."scenario") AS "latencyHistogram"
  FROM (SELECT "scenario", sum("windows")::float8 AS windows, sum("inferences")::float8 AS inferences, sum("errors")::float8 AS errors,
               sum("approxInferences")::float8 AS "approxInferences", sum("approxP50Sum") AS "approxP50Sum",
               sum("approxP95Sum") AS "approxP95Sum", sum("approxP99Sum") AS "approxP99Sum", max("latencyMaxMs") AS "latencyMaxMs",
               sum("powerSumW") AS "powerSumW", sum("energyJ") AS "energyJ"
          FROM r GROUP BY "scenario") t`;

/** Only one fold at a time, whichever worker runs it (a second one finds the lock taken and leaves). */
const FOLD_LOCK = 0x7e1e_0002;

/**
 * Takes (deletes) the oldest pending windows. The ids come as an array (an InitPlan), so the delete
 * is `windowId = ANY(…)` on the primary key: as a join, Postgres hashed them and scanned the whole
 * pending table, a backlog's worth of rows per fold. It answers one row, not one a window: the ids as
 * an array literal (handed back to Postgres as it is, never parsed here), how many, and their
 * earliest and latest starts, rather than 5,000 rows a fold to parse (a Date each).
 */
export const TAKE_PENDING_SQL = `WITH taken AS (
  DELETE FROM "TelemetryRollupPending"
   WHERE "windowId" = ANY(ARRAY(SELECT "windowId" FROM "TelemetryRollupPending" ORDER BY "windowId" LIMIT $1))
  RETURNING "windowId", "windowStart"
)
SELECT array_agg("windowId")::text AS ids, count(*)::int AS n, min("windowStart") AS first, max("windowStart") AS last FROM taken`;

/** Windows taken from the pending table: their ids (a Postgres array literal), how many, and their start range. */
export interface TakenWindows {
  ids: string;
  n: number;
  first: Date;
  last: Date;
}

/** Takes (deletes) up to `limit` of the oldest pending windows, in the caller's transaction; null when none wait. */
export async function takePending(client: ClientBase, limit: number): Promise<TakenWindows | null> {
  const r = await client.query<{ ids: string | null; n: number; first: Date | null; last: Date | null }>(TAKE_PENDING_SQL, [limit]);
  const t = r.rows[0];
  return t && t.n > 0 && t.ids !== null && t.first !== null && t.last !== null
    ? { ids: t.ids, n: t.n, first: t.first, last: t.last }
    : null;
}

/**
 * What the rollups need of the taken windows, each with its device's group as it is now. The
 * taken windows' earliest and latest starts come as values, so Postgres plans (and locks) only the
 * day partitions between them, each probed by its primary key; a window whose partition retention
 * dropped meanwhile is simply not found. (A LATERAL probe per window pruned at run time: every
 * partition planned and locked, and a fold waited for the retention job's drop of an old day.)
 */
export const PENDING_WINDOWS_SQL = `SELECT w.id AS "windowId", w."deviceId", w."windowStart", w."windowEnd", w."modelVersionId", w."variantId", w."precision", w."inferences",
       w."errors", w."cacheHits", w."fallbacks", w."source", w."latencyP50Ms", w."latencyP95Ms", w."latencyP99Ms", w."latencyMaxMs",
       w."latencyHistogram", w."queueP99Ms", w."powerW", w."powerSource", w."powerDetail", w."rssMb",
       w."remoteBytesSent"::float8 AS "remoteBytesSent", w."remoteBytesReceived"::float8 AS "remoteBytesReceived", d."scenario", hp."hardwareClass"
  FROM "TelemetryWindow" w
  LEFT JOIN "Device" d ON d.id = w."deviceId" LEFT JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
 WHERE w.id = ANY($1::bigint[]) AND w."windowStart" >= $2 AND w."windowStart" <= $3`;

/** A taken window's row: the stored columns of the contract window's nested fields, and its device's group. */
type PendingRow = Omit<RollupInput, 'latencyMs' | 'latencyHistogram' | 'queueMs' | 'power' | 'memory' | 'remote'> & {
  windowId: string;
  remoteBytesSent: number | null;
  remoteBytesReceived: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  latencyP99Ms: number | null;
  latencyMaxMs: number | null;
  latencyHistogram: [number, number][] | null;
  queueP99Ms: number | null;
  powerW: number;
  powerSource: string;
  powerDetail: string;
  rssMb: number;
  scenario: string | null;
  hardwareClass: string | null;
};

/** A stored window as the rollups read it (the columns the contract window's fields were stored in). */
function rollupInputOf(r: PendingRow): RollupInput {
  // each field named, not `...r`: the spread of the 26-column row made this the fold's costliest
  // function in a CPU profile of bench:ingest (4 % of the control plane's samples, the fold in process)
  return {
    deviceId: r.deviceId,
    windowStart: r.windowStart,
    windowEnd: r.windowEnd,
    modelVersionId: r.modelVersionId,
    variantId: r.variantId,
    precision: r.precision,
    inferences: r.inferences,
    errors: r.errors,
    cacheHits: r.cacheHits,
    fallbacks: r.fallbacks,
    source: r.source,
    latencyHistogram: r.latencyHistogram,
    latencyMs:
      r.latencyP50Ms === null
        ? null
        : { p50: r.latencyP50Ms, p95: r.latencyP95Ms ?? 0, p99: r.latencyP99Ms ?? 0, max: r.latencyMaxMs ?? 0 },
    queueMs: r.queueP99Ms === null ? null : { p99: r.queueP99Ms },
    power: { watts: r.powerW, source: r.powerSource, detail: r.powerDetail },
    memory: { rssMb: r.rssMb },
    remote: { bytesSent: r.remoteBytesSent ?? undefined, bytesReceived: r.remoteBytesReceived ?? undefined },
  };
}

/**
 * What one fold did: windows taken off the pending table, those of them still stored and added to
 * the rollups, and those set aside because the database refused their rollup.
 */
export interface FoldResult {
  taken: number;
  folded: number;
  parked: number;
}

/** A window the fold set aside, and the database's reason. */
interface Refused {
  row: PendingRow;
  reason: string;
}

const PARK_SQL = `INSERT INTO "TelemetryRollupParked" ("windowId", "windowStart", "reason")
SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) ON CONFLICT ("windowId") DO NOTHING`;

/** The rollup tables: kept by the fold (or in the ingest's transaction), read by charts and overviews. */
@Injectable()
export class TelemetryRollupRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /**
   * Whether the fold merges stored histograms in the worker ({@link add}'s `mergeHere`). Always in
   * the product; false only in the storage benchmark, to time the SQL merge beside it in one run.
   */
  foldMergesHere = true;

  /** Scenario and hardware class of each device, the group its windows roll up into. */
  async groupsOf(client: PoolClient, deviceIds: string[]): Promise<Map<string, DeviceGroup>> {
    const r = await client.query<{ id: string; scenario: string; hardwareClass: string }>(
      `SELECT d.id, d.scenario, hp."hardwareClass" FROM "Device" d JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
        WHERE d.id = ANY($1::uuid[])`,
      [deviceIds],
    );
    return new Map(r.rows.map((x) => [x.id, { scenario: x.scenario, hardwareClass: x.hardwareClass }]));
  }

  /**
   * Adds the rollups of newly stored windows to the stored ones (inside the caller's transaction).
   * With `mergeHere` (the fold, the one writer while it holds its lock), the device rollups already
   * stored are locked and read first, their histograms merged here and written by an UPDATE, and
   * only the new ones go through the upsert: merging two histograms in SQL (a jsonb subquery a row)
   * was ~65 % of the fold's upsert time. Without it (the ingest's transaction, where replicas write
   * at once) every row merges in the upsert, whose conflict path also covers a row another writer
   * stored meanwhile.
   */
  async add(client: PoolClient, rollups: { devices: DeviceRollup[]; groups: GroupRollup[] }, mergeHere = false): Promise<void> {
    if (rollups.devices.length > 0) {
      const devices = inKeyOrder(rollups.devices, deviceKey);
      const stored = mergeHere ? await this.lockStored(client, devices) : new Map<string, [number, number][] | null>();
      const update: DeviceRollup[] = [];
      const insert: DeviceRollup[] = [];
      for (const [key, r] of devices) {
        const had = stored.get(key);
        if (had === undefined) insert.push(r);
        else update.push({ ...r, histogram: mergedHistogram(r.histogram, had) });
      }
      if (update.length > 0) await client.query(DEVICE_UPDATE, toColumns(update, DEVICE_COLUMNS));
      if (insert.length > 0) await client.query(DEVICE_UPSERT, toColumns(insert, DEVICE_COLUMNS));
    }
    if (rollups.groups.length > 0)
      await client.query(
        GROUP_UPSERT,
        toColumns(
          inKeyOrder(rollups.groups, groupKey).map(([, r]) => r),
          GROUP_COLUMNS,
        ),
      );
  }

  /** The stored device rollups of these keys, locked until the transaction ends: key → stored histogram. */
  private async lockStored(client: PoolClient, devices: [string, DeviceRollup][]): Promise<Map<string, [number, number][] | null>> {
    const keys = devices.map(([, r]) => r);
    const r = await client.query<DeviceRollupKey & { latencyHistogram: [number, number][] | null }>(
      DEVICE_LOCK,
      toColumns(
        keys,
        DEVICE_COLUMNS.filter(([, , m]) => m === 'key'),
      ),
    );
    return new Map(r.rows.map((x) => [deviceKey(x), x.latencyHistogram]));
  }

  /**
   * Adds the rollups of `rows` under a savepoint; when the database refuses them for their data (a
   * sum past its column's range, say), splits the rows in halves and tries each, down to the single
   * windows it refuses, which it returns instead of adding. Any other error (the connection, a
   * timeout) is thrown: it says nothing about the rows. k refused windows of n cost O(k log n) tries.
   */
  private async addIsolating(client: PoolClient, rows: PendingRow[], groups: Map<string, DeviceGroup>): Promise<Refused[]> {
    await client.query('SAVEPOINT fold_part');
    try {
      await this.add(
        client,
        rollupWindows(rows.map(rollupInputOf), (id) => groups.get(id)),
        this.foldMergesHere,
      );
      await client.query('RELEASE SAVEPOINT fold_part');
      return [];
    } catch (e) {
      if (!isDataError(e)) throw e;
      await client.query('ROLLBACK TO SAVEPOINT fold_part');
      await client.query('RELEASE SAVEPOINT fold_part');
      const [row] = rows;
      if (rows.length === 1 && row) return [{ row, reason: errorText(e) }];
      const half = Math.ceil(rows.length / 2);
      return [
        ...(await this.addIsolating(client, rows.slice(0, half), groups)),
        ...(await this.addIsolating(client, rows.slice(half), groups)),
      ];
    }
  }

  /**
   * Folds up to `limit` pending windows into the rollups, oldest first, and deletes them from the
   * pending table in the same transaction: a crash leaves both as they were, so every window is
   * added exactly once. A window whose rollup the database refuses is set aside in
   * TelemetryRollupParked with the reason, in the same transaction, and the others are folded: one
   * such window would otherwise fail every fold of every device from then on. Null when another
   * fold holds the lock.
   */
  async foldPending(limit: number): Promise<FoldResult | null> {
    try {
      return await this.foldTaken(limit, false);
    } catch (e) {
      // the whole fold rolled back: take the same windows again, this time isolating the refused ones
      if (!isDataError(e)) throw e;
      return this.foldTaken(limit, true);
    }
  }

  /**
   * One fold's transaction. Without `isolate` the rollups are written as they are (a refused one
   * fails the fold); with it, under savepoints that isolate and park the refused windows. Only a fold
   * that failed on its data isolates: savepoints on every fold made the row 19 blackhole test
   * (postgres-outage.int.spec.ts) fail in 4 of 8 runs on this machine, against 0 of 4 without (cause
   * not found; see the issue 15 note of stop 22).
   */
  private async foldTaken(limit: number, isolate: boolean): Promise<FoldResult | null> {
    return withTransaction(this.pool, async (client) => {
      const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [FOLD_LOCK]);
      if (!lock.rows[0]?.ok) return null;
      const taken = await takePending(client, limit);
      if (!taken) return { taken: 0, folded: 0, parked: 0 };
      const stored = (await client.query<PendingRow>(PENDING_WINDOWS_SQL, [taken.ids, taken.first, taken.last])).rows;
      const groups = new Map<string, DeviceGroup>();
      for (const x of stored)
        if (x.scenario !== null && x.hardwareClass !== null)
          groups.set(x.deviceId, { scenario: x.scenario, hardwareClass: x.hardwareClass });
      if (!isolate) {
        if (stored.length > 0)
          await this.add(
            client,
            rollupWindows(stored.map(rollupInputOf), (id) => groups.get(id)),
            this.foldMergesHere,
          );
        return { taken: taken.n, folded: stored.length, parked: 0 };
      }
      const refused = stored.length > 0 ? await this.addIsolating(client, stored, groups) : [];
      if (refused.length > 0)
        await client.query(PARK_SQL, [
          refused.map((r) => r.row.windowId),
          refused.map((r) => r.row.windowStart),
          refused.map((r) => r.reason),
        ]);
      return { taken: taken.n, folded: stored.length - refused.length, parked: refused.length };
    });
  }

  /** How many stored windows wait to be folded in. */
  async pendingCount(): Promise<number> {
    const r = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM "TelemetryRollupPending"`);
    return Number(r.rows[0]?.n ?? 0);
  }

  /** The windows the fold set aside: how many, the oldest start, and the most frequent reasons (at most 20). */
  async parkedSummary(): Promise<ParkedWindows> {
    const total = await this.pool.query<{ n: number; oldest: Date | null }>(
      `SELECT count(*)::int AS n, min("windowStart") AS oldest FROM "TelemetryRollupParked"`,
    );
    const reasons = await this.pool.query<{ reason: string; windows: number; first: Date; last: Date }>(
      `SELECT reason, count(*)::int AS windows, min("parkedAt") AS first, max("parkedAt") AS last
         FROM "TelemetryRollupParked" GROUP BY reason ORDER BY count(*) DESC, reason LIMIT 20`,
    );
    const oldest = total.rows[0]?.oldest ?? null;
    return {
      windows: total.rows[0]?.n ?? 0,
      oldestWindowStart: oldest === null ? null : oldest.toISOString(),
      reasons: reasons.rows.map((r) => ({
        reason: r.reason,
        windows: r.windows,
        firstParkedAt: r.first.toISOString(),
        lastParkedAt: r.last.toISOString(),
      })),
    };
  }

  /**
   * Moves every parked window back to the pending table (in the caller's transaction), so that the
   * next fold tries it again; returns how many. A window still refused is parked again.
   */
  async requeueParked(tx: AnyTx): Promise<number> {
    return txExecute(
      tx,
      `WITH moved AS (DELETE FROM "TelemetryRollupParked" RETURNING "windowId", "windowStart")
       INSERT INTO "TelemetryRollupPending" ("windowId", "windowStart") SELECT "windowId", "windowStart" FROM moved ON CONFLICT DO NOTHING`,
    );
  }

  /**
   * How many stored windows wait to be folded in ('pending') or were set aside by the fold
   * ('parked'), counted up to `cap` (the answer is `cap` when at least that many): what a scrape
   * reads, its cost bounded however far the fold falls behind.
   */
  async windowsUpTo(which: RollupWindowTable, cap: number): Promise<number> {
    const table = which === 'pending' ? '"TelemetryRollupPending"' : '"TelemetryRollupParked"';
    const r = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM (SELECT 1 FROM ${table} LIMIT $1) p`, [cap]);
    return Number(r.rows[0]?.n ?? 0);
  }

  /**
   * A device's rollups of one resolution whose bucket ends after `since`, oldest first, at most
   * `limit` (the newest); null when there is no such device. One statement: the device's row (its
   * primary key) and its rollups (their primary key, backwards), so a chart is one round trip.
   */
  async deviceRange(
    deviceId: string,
    bucketSeconds: RollupBucketSeconds,
    since: Date,
    limit: number,
  ): Promise<StoredDeviceRollup[] | null> {
    const r = await this.pool.query<StoredDeviceRollup & { device: string }>(
      `SELECT d.id AS device, r.* FROM "Device" d LEFT JOIN LATERAL (
         SELECT ${READ_COLUMNS}, "rssMaxMb", "powerDetail" FROM "TelemetryDeviceRollup"
          WHERE "deviceId" = d.id AND "bucketSeconds" = $2 AND "bucketStart" > $3::timestamptz - make_interval(secs => $2)
          ORDER BY "bucketStart" DESC, "source", "variantId" LIMIT $4) r ON true
        WHERE d.id = $1::uuid`,
      [deviceId, bucketSeconds, since, limit],
    );
    if (r.rows.length === 0) return null;
    // a device without rollups in the range: its one row has no rollup columns
    return r.rows.filter((x) => x.bucketStart !== null).reverse();
  }

  /**
   * Each scenario's rollups of one resolution whose bucket started at or after `since`, merged in
   * Postgres into one row a scenario (every variant, class and source): sums, max, and the histogram
   * added bucket by bucket (in-range buckets with counts, in order), so {@link figuresOf} of the row
   * gives what it gives of the rows it merges. Read through the ("bucketSeconds", "bucketStart")
   * index: one resolution's rows of the period, not the other's too.
   */
  async scenarioTotalsSince(bucketSeconds: RollupBucketSeconds, since: Date): Promise<(StoredStats & { scenario: string })[]> {
    const r = await this.pool.query<StoredStats & { scenario: string }>(SCENARIO_TOTALS_SQL, [bucketSeconds, since, HISTOGRAM_MAX_BUCKETS]);
    return r.rows;
  }
}
