import { Inject, Injectable } from '@nestjs/common';
import type { DeviceTelemetry, TelemetryPoint, TelemetryQuery } from '@edge-fleet/shared/api';
import { AppError } from '../errors.js';
import { type StoredDeviceRollup, TelemetryRollupRepository } from './telemetry-rollup.repository.js';
import { figuresOf, type RollupBucketSeconds, type RollupFigures } from './telemetry-rollup.js';
import { TelemetryRepository } from './telemetry.repository.js';

/** Ranges up to this long are read window by window; longer ones from the rollups. */
export const RAW_RANGE_MAX_MINUTES = 60;
/**
 * Ranges up to this long are read from 1-minute rollups (at most 360 points a source); longer ones
 * from 1-hour rollups (a day is 24 points): a day of minutes, 1,440 points, is some 600 KB of JSON
 * a request, which 32 connections cannot get within 50 ms on two cores (pnpm bench:telemetry-storage).
 */
export const MINUTE_ROLLUP_RANGE_MAX_MINUTES = 6 * 60;
/** The scenario overview's period: the last 24 h, to whole hours (hourly rollups). */
export const OVERVIEW_HOURS = 24;

/** One chart point from a device's rollup of a minute or an hour: the windows it merges, as one. */
function rollupPoint(r: StoredDeviceRollup): TelemetryPoint {
  const f = figuresOf([r]);
  return {
    windowStart: r.firstWindowStart.toISOString(),
    windowEnd: r.lastWindowEnd.toISOString(),
    modelVersionId: r.modelVersionId,
    variantId: r.variantId === '' ? null : r.variantId,
    precision: r.precision,
    inferences: f.inferences,
    errors: f.errors,
    errorRate: f.errorRate,
    p50: f.p50,
    p95: f.p95,
    p99: f.p99,
    max: f.max,
    powerW: f.powerW ?? 0,
    powerSource: r.powerSource,
    powerDetail: r.powerDetail,
    rssMb: r.rssMaxMb,
    source: r.source === 'traffic' ? 'traffic' : 'probe',
    queueP50: null,
    queueP99: r.queueP99MaxMs,
    cacheHits: r.cacheHits,
    // nor the time cache hits saved
    cacheSavedMs: null,
    // the rollups do not keep forwarded requests (hybrid placement landed beside them): unknown, not 0
    remoteInferences: null,
    remoteErrors: null,
    remoteP50: null,
    remoteP99: null,
  };
}

/** Reads of stored telemetry for the API (REST and tRPC call the same method). */
@Injectable()
export class TelemetryQueries {
  constructor(
    @Inject(TelemetryRepository) private readonly telemetry: TelemetryRepository,
    @Inject(TelemetryRollupRepository) private readonly rollups: TelemetryRollupRepository,
  ) {}

  /**
   * A device's telemetry of the last `sinceMinutes`, oldest first, at most `limit` points (the
   * newest); an unknown device is `not_found`. Up to an hour: its windows. Longer: one point per
   * minute (up to 6 h) or per hour, per source and variant, from the rollups, so a 24 h chart reads
   * 24 rows per source and variant, not every window.
   */
  async deviceTelemetry(deviceId: string, q: TelemetryQuery): Promise<DeviceTelemetry> {
    const notFound = () => new AppError('not_found', `device ${deviceId} not found`);
    const since = new Date(Date.now() - q.sinceMinutes * 60_000);
    if (q.sinceMinutes <= RAW_RANGE_MAX_MINUTES) {
      // one round trip: the device's existence and its windows
      const points = await this.telemetry.range(deviceId, since, q.limit);
      if (points === null) throw notFound();
      return { deviceId, points };
    }
    const resolution: RollupBucketSeconds = q.sinceMinutes <= MINUTE_ROLLUP_RANGE_MAX_MINUTES ? 60 : 3_600;
    // one round trip: the device's existence and its rollups
    const rows = await this.rollups.deviceRange(deviceId, resolution, since, q.limit);
    if (rows === null) throw notFound();
    return { deviceId, points: rows.map(rollupPoint) };
  }

  /**
   * Per scenario, the figures of the last {@link OVERVIEW_HOURS} hours (whole hours), from the hourly
   * rollups, merged in Postgres: one row a scenario, whatever its variants, classes and sources.
   */
  async scenarioFigures(now: Date): Promise<Map<string, RollupFigures>> {
    const since = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000 - (OVERVIEW_HOURS - 1) * 3_600_000);
    const rows = await this.rollups.scenarioTotalsSince(3_600, since);
    return new Map(rows.map((r) => [r.scenario, figuresOf([r])]));
  }
}
