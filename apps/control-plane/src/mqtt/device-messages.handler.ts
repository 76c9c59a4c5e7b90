import { Inject, Injectable } from '@nestjs/common';
import { StatusMessageSchema, parseTopic } from '@edge-fleet/shared';
import { AssignmentsService } from '../assignments/assignments.service.js';
import { ReportedIngestService } from '../assignments/reported-ingest.service.js';
import { DeviceRepository } from '../devices/device.repository.js';
import type { Logger } from '../infra/logger.js';
import { LOGGER } from '../infra/tokens.js';
import { parseJson } from '../infra/validate.js';
import { TelemetryIngestService } from '../telemetry/telemetry-ingest.service.js';

/** Routes device messages: parse, validate, delegate. The topic's device id is the authenticated one. */
@Injectable()
export class DeviceMessagesHandler {
  private readonly log: Logger;

  constructor(
    @Inject(TelemetryIngestService) private readonly ingest: TelemetryIngestService,
    @Inject(DeviceRepository) private readonly devices: DeviceRepository,
    @Inject(AssignmentsService) private readonly assign: AssignmentsService,
    @Inject(ReportedIngestService) private readonly reportedIngest: ReportedIngestService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('device-messages');
  }

  readonly handle = async (topic: string, payload: Buffer): Promise<void> => {
    const t = parseTopic(topic);
    if (!t) return;
    switch (t.kind) {
      case 'telemetry': {
        const r = await this.ingest.accept(topic, t.deviceId, payload);
        // a window the ingest could not take now must not be acknowledged (the broker leaves it
        // unacknowledged on an error); a malformed one is kept as rejected and acknowledged
        if (!r.ok && r.retry) throw new Error(r.reason);
        return;
      }
      case 'reported':
        return this.reportedIngest.accept(topic, t.deviceId, payload);
      case 'status':
        return this.status(t.deviceId, payload);
      case 'desired':
      case 'commands':
      case 'commands/ack':
        return;
    }
  };

  private async status(deviceId: string, payload: Buffer): Promise<void> {
    if (payload.length === 0) return;
    const r = StatusMessageSchema.safeParse(parseJson(payload));
    if (!r.success) {
      this.log.warn('status rejected', { deviceId });
      return;
    }
    await this.devices.setPresence(deviceId, r.data.state, r.data.bootId ?? null, new Date());
    if (r.data.state === 'online') await this.assign.republish(deviceId);
  }
}
