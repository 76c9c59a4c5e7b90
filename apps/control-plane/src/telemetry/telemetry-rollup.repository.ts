import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import type { DeviceGroup, DeviceRollup, GroupRollup, RollupBucketSeconds, RollupStats, StoredStats } from './telemetry-rollup.js';
import { PG_POOL } from '../infra/tokens.js';

type Col = readonly [name: string, type: string, merge: 'key' | 'sum' | 'min' | 'max' | 'hist' | 'latest', value: (r: never) => unknown];

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

const DEVICE_COLUMNS: readonly Col[] = [
  ['deviceId', 'uuid', 'key', (r: DeviceRollup) => r.deviceId],
  ['bucketSeconds', 'int4', 'key', (r: DeviceRollup) => r.bucketSeconds],
  ['bucketStart', 'timestamptz', 'key', (r: DeviceRollup) => r.bucketStart],
  ['source', 'text', 'key', (r: DeviceRollup) => r.source],
  ['variantId', 'text', 'key', (r: DeviceRollup) => r.variantId],
  ...STAT_COLUMNS,
  ['rssMaxMb', 'float8', 'max', stat('rssMaxMb')],
  ['powerDetail', 'text', 'latest', stat('powerDetail')],
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

/** How a stored rollup and a new one merge, column by column, in `ON CONFLICT DO UPDATE`. */
function mergeSql(name: string, merge: Col[2], table: string): string {
  const [old, add] = [`"${table}"."${name}"`, `EXCLUDED."${name}"`];
  switch (merge) {
    case 'key':
      return '';
    case 'sum':
      return `${old} + ${add}`;
    case 'min':
      return `LEAST(${old}, ${add})`;
    case 'max':
      return `GREATEST(${old}, ${add})`;
    case 'latest':
      return `CASE WHEN EXCLUDED."lastWindowEnd" >= "${table}"."lastWindowEnd" THEN ${add} ELSE ${old} END`;
    case 'hist':
      // add the counts bucket by bucket: the merged histogram is the histogram of all the windows
      return `CASE WHEN ${old} IS NULL THEN ${add} WHEN ${add} IS NULL THEN ${old} ELSE (
        SELECT jsonb_agg(jsonb_build_array(k, c) ORDER BY k) FROM (
          SELECT (e->>0)::int AS k, sum((e->>1)::bigint) AS c FROM jsonb_array_elements(${old} || ${add}) e GROUP BY 1) h) END`;
  }
}

function upsertSql(table: string, columns: readonly Col[]): string {
  const keys = columns.filter(([, , m]) => m === 'key').map(([c]) => `"${c}"`);
  const sets = columns.filter(([, , m]) => m !== 'key').map(([c, , m]) => `"${c}" = ${mergeSql(c, m, table)}`);
  return `INSERT INTO "${table}" (${columns.map(([c]) => `"${c}"`).join(', ')})
SELECT * FROM unnest(${columns.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ')})
ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ${sets.join(', ')}`;
}

const DEVICE_UPSERT = upsertSql('TelemetryDeviceRollup', DEVICE_COLUMNS);
const GROUP_UPSERT = upsertSql('TelemetryGroupRollup', GROUP_COLUMNS);

function toColumns<R>(rows: readonly R[], columns: readonly Col[]): unknown[][] {
  return columns.map(([, , , value]) => rows.map((r) => (value as (r: R) => unknown)(r)));
}

// rows in key order, so that two replicas upserting the same rollups lock them in the same order
const byKey =
  <R>(key: (r: R) => string) =>
  (a: R, b: R): number =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
const deviceKey = (r: DeviceRollup) => `${r.deviceId}|${r.bucketSeconds}|${r.bucketStart.toISOString()}|${r.source}|${r.variantId}`;
const groupKey = (r: GroupRollup) =>
  `${r.scenario}|${r.bucketSeconds}|${r.bucketStart.toISOString()}|${r.variantId}|${r.hardwareClass}|${r.source}`;

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

/** The rollup tables: written in ingest's transaction, read by charts and overviews. */
@Injectable()
export class TelemetryRollupRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** Scenario and hardware class of each device, the group its windows roll up into. */
  async groupsOf(client: PoolClient, deviceIds: string[]): Promise<Map<string, DeviceGroup>> {
    const r = await client.query<{ id: string; scenario: string; hardwareClass: string }>(
      `SELECT d.id, d.scenario, hp."hardwareClass" FROM "Device" d JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
        WHERE d.id = ANY($1::uuid[])`,
      [deviceIds],
    );
    return new Map(r.rows.map((x) => [x.id, { scenario: x.scenario, hardwareClass: x.hardwareClass }]));
  }

  /** Adds the rollups of newly stored windows to the stored ones (inside the windows' transaction). */
  async add(client: PoolClient, rollups: { devices: DeviceRollup[]; groups: GroupRollup[] }): Promise<void> {
    if (rollups.devices.length > 0)
      await client.query(DEVICE_UPSERT, toColumns([...rollups.devices].sort(byKey(deviceKey)), DEVICE_COLUMNS));
    if (rollups.groups.length > 0) await client.query(GROUP_UPSERT, toColumns([...rollups.groups].sort(byKey(groupKey)), GROUP_COLUMNS));
  }

  /** A device's rollups of one resolution whose bucket ends after `since`, oldest first, at most `limit` (the newest). */
  async deviceRange(deviceId: string, bucketSeconds: RollupBucketSeconds, since: Date, limit: number): Promise<StoredDeviceRollup[]> {
    const r = await this.pool.query<StoredDeviceRollup>(
      `SELECT ${READ_COLUMNS}, "rssMaxMb", "powerDetail" FROM "TelemetryDeviceRollup"
        WHERE "deviceId" = $1::uuid AND "bucketSeconds" = $2 AND "bucketStart" > $3::timestamptz - make_interval(secs => $2)
        ORDER BY "bucketStart" DESC, "source", "variantId" LIMIT $4`,
      [deviceId, bucketSeconds, since, limit],
    );
    return r.rows.reverse();
  }

  /** Every scenario's rollups of one resolution whose bucket started at or after `since` (every variant, class and source). */
  async groupsSince(
    bucketSeconds: RollupBucketSeconds,
    since: Date,
  ): Promise<(StoredRollup & { scenario: string; hardwareClass: string })[]> {
    const r = await this.pool.query<StoredRollup & { scenario: string; hardwareClass: string }>(
      `SELECT ${READ_COLUMNS}, "scenario", "hardwareClass" FROM "TelemetryGroupRollup"
        WHERE "bucketSeconds" = $1 AND "bucketStart" >= $2`,
      [bucketSeconds, since],
    );
    return r.rows;
  }
}
