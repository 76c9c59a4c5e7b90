import { Inject, Injectable } from '@nestjs/common';
import { publishArgs, type PublishArgs } from '@edge-fleet/shared';
import type { Config } from '../config.js';
import { HybridPlacementService } from '../hybrid/hybrid-placement.service.js';
import { CONFIG, MQTT_BUS, SIGNING } from '../infra/tokens.js';
import type { SigningService } from '../signing/signing.service.js';
import type { PublishableDesired } from './desired-state.repository.js';

/** What publishing needs of the broker connection (the MQTT bus provides it). */
export interface RetainedPublisher {
  publish(topic: string, payload: string, opts: PublishArgs['options']): Promise<void>;
}

/**
 * The only way a desired state reaches the broker: signed as a whole at publish time, with the
 * device's high-water mark and an expiry, so a device can refuse anything forged, meant for another
 * device, replayed past its expiry, or numbered beyond what this control plane ever issued. Postgres
 * keeps the plain state; every publish (assignment, rollout wave or rollback, refresh, republish on
 * reconnect) comes through here. A hybrid device's state also names its scenario's cloud nodes and
 * carries a fresh forwarding grant, minted here and never stored.
 */
@Injectable()
export class DesiredStatePublisher {
  constructor(
    @Inject(MQTT_BUS) private readonly bus: RetainedPublisher,
    @Inject(SIGNING) private readonly signing: SigningService,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(HybridPlacementService) private readonly hybrid: HybridPlacementService,
  ) {}

  async publishSigned(states: readonly PublishableDesired[]): Promise<void> {
    // a key rotated through another replica a moment ago signs this publish already
    await this.signing.refresh();
    const signedAt = new Date();
    const expiresAt = new Date(signedAt.getTime() + this.config.MANIFEST_TTL_SECONDS * 1_000).toISOString();
    const placements = await this.hybrid.placementsFor(
      states.map((s) => s.desired.deviceId),
      signedAt,
    );
    // signed together: on the signing threads for a batch, so the event loop keeps serving the broker
    const signed = await this.signing.signDesiredMany(
      states.map(({ desired, highWaterMark }) => {
        const hybrid = placements.get(desired.deviceId);
        return { ...desired, highWaterMark, signedAt: signedAt.toISOString(), expiresAt, ...(hybrid === undefined ? {} : { hybrid }) };
      }),
    );
    await Promise.all(
      states.map(({ desired }, i) => {
        const envelope = signed[i];
        if (!envelope) throw new Error(`desired state of ${desired.deviceId} missing from the signed batch`);
        const m = publishArgs('desired', desired.deviceId, envelope);
        return this.bus.publish(m.topic, m.payload, m.options);
      }),
    );
  }
}
