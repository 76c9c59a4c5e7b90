import { Inject, Injectable } from '@nestjs/common';
import { parseTopic } from '@edge-fleet/shared';
import { ReportedIngestService } from '../reported/reported-ingest.service.js';
import { parseJson } from '../infra/validate.js';
import { TelemetryIngestService } from '../telemetry/telemetry-ingest.service.js';
import { PresenceService } from './presence.service.js';

/** Routes device messages: parse, validate, delegate. The topic's device id is the authenticated one. */
@Injectable()
export class DeviceMessagesHandler {
  constructor(
    @Inject(TelemetryIngestService) private readonly ingest: TelemetryIngestService,
    @Inject(ReportedIngestService) private readonly reportedIngest: ReportedIngestService,
    @Inject(PresenceService) private readonly presence: PresenceService,
  ) {}

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
        return this.status(topic, t.deviceId, payload);
      case 'desired':
      case 'commands':
      case 'commands/ack':
        return;
    }
  };

  private async status(topic: string, deviceId: string, payload: Buffer): Promise<void> {
    // an empty payload clears a retained status: nothing to store
    if (payload.length === 0) return;
    await this.presence.statusMessage(deviceId, topic, parseJson(payload), payload);
  }
}
