import { Inject, Injectable } from '@nestjs/common';
import { parseMessage } from '@edge-fleet/shared';
import { ReportedIngestService } from '../reported/reported-ingest.service.js';
import { TelemetryIngestService } from '../telemetry/telemetry-ingest.service.js';
import { PresenceService } from './presence.service.js';

/**
 * Routes device messages: parsed against the MQTT contract, dispatched on their kind, each kind's
 * refusals handled by its service (dead letters). The topic's device id is the authenticated one.
 */
@Injectable()
export class DeviceMessagesHandler {
  constructor(
    @Inject(TelemetryIngestService) private readonly ingest: TelemetryIngestService,
    @Inject(ReportedIngestService) private readonly reportedIngest: ReportedIngestService,
    @Inject(PresenceService) private readonly presence: PresenceService,
  ) {}

  readonly handle = async (topic: string, payload: Buffer): Promise<void> => {
    const m = parseMessage(topic, payload);
    switch (m.kind) {
      case 'telemetry': {
        const r = await this.ingest.accept(topic, m, payload);
        // a window the ingest could not take now must not be acknowledged (the broker leaves it
        // unacknowledged on an error); a malformed one is kept as rejected and acknowledged
        if (!r.ok && r.retry) throw new Error(r.reason);
        return;
      }
      case 'reported':
        return this.reportedIngest.accept(topic, m, payload);
      case 'status':
        return this.presence.statusMessage(topic, m, payload);
      // not a device topic, or a kind devices do not send to the control plane
      case null:
      case 'desired':
      case 'commands':
      case 'commands/ack':
        return;
    }
  };
}
