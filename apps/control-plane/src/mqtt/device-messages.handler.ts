import { Inject, Injectable } from '@nestjs/common';
import { ReportedStateSchema, parseTopic } from '@edge-fleet/shared';
import { AssignmentRepository } from '../assignments/assignment.repository.js';
import type { Logger } from '../infra/logger.js';
import { LOGGER } from '../infra/tokens.js';
import { RolloutsService } from '../rollouts/rollouts.service.js';
import { PresenceService } from './presence.service.js';
import { TelemetryIngestService } from '../telemetry/telemetry-ingest.service.js';

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Routes device messages: parse, validate, delegate. The topic's device id is the authenticated one. */
@Injectable()
export class DeviceMessagesHandler {
  private readonly log: Logger;

  constructor(
    @Inject(TelemetryIngestService) private readonly ingest: TelemetryIngestService,
    @Inject(AssignmentRepository) private readonly assignments: AssignmentRepository,
    @Inject(RolloutsService) private readonly rollouts: RolloutsService,
    @Inject(PresenceService) private readonly presence: PresenceService,
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
        return this.reported(t.deviceId, payload);
      case 'status':
        return this.status(topic, t.deviceId, payload);
      case 'desired':
      case 'commands':
      case 'commands/ack':
        return;
    }
  };

  private async reported(deviceId: string, payload: Buffer): Promise<void> {
    const r = ReportedStateSchema.safeParse(parseJson(payload));
    if (!r.success || r.data.deviceId !== deviceId) {
      this.log.warn('reported state rejected', {
        deviceId,
        reason: r.success ? 'deviceId does not match topic' : r.error.message.slice(0, 300),
      });
      return;
    }
    const s = r.data;
    await this.assignments.saveReported(deviceId, {
      bootId: s.bootId,
      phase: s.phase,
      appliedAssignmentVersion: s.appliedAssignmentVersion,
      activeVariantId: s.active?.variantId ?? null,
      activeSha256: s.active?.sha256 ?? null,
      payload: s,
      reportedAt: new Date(s.reportedAt),
    });
    await this.rollouts.onReported(deviceId, {
      appliedAssignmentVersion: s.appliedAssignmentVersion,
      activeVariantId: s.active?.variantId ?? null,
      lastUpdate: s.lastUpdate,
    });
  }

  private async status(topic: string, deviceId: string, payload: Buffer): Promise<void> {
    // an empty payload clears a retained status: nothing to store
    if (payload.length === 0) return;
    await this.presence.statusMessage(deviceId, topic, parseJson(payload), payload);
  }
}
