import { Inject, Injectable } from '@nestjs/common';
import type { DeviceTelemetry, TelemetryQuery } from '@edge-fleet/shared/api';
import { AppError } from '../errors.js';
import { TelemetryRepository } from './telemetry.repository.js';

/** Reads of stored telemetry for the API (REST and tRPC call the same method). */
@Injectable()
export class TelemetryQueries {
  constructor(@Inject(TelemetryRepository) private readonly telemetry: TelemetryRepository) {}

  /** A device's windows of the last `sinceMinutes`, oldest first, at most `limit`; an unknown device is `not_found`. */
  async deviceTelemetry(deviceId: string, q: TelemetryQuery): Promise<DeviceTelemetry> {
    if ((await this.telemetry.enrolledAt(deviceId)) === null) throw new AppError('not_found', `device ${deviceId} not found`);
    const points = await this.telemetry.range(deviceId, new Date(Date.now() - q.sinceMinutes * 60_000), q.limit);
    return { deviceId, points };
  }
}
