import { Inject, Injectable } from '@nestjs/common';
import { publishOptions, topicOf, type PublishArgs } from '@edge-fleet/shared';
import type { Config } from '../config.js';
import { HybridPlacementService } from '../hybrid/hybrid-placement.service.js';
import type { Logger } from '../infra/logger.js';
import { CONFIG, LOGGER, MQTT_BUS, SIGNING } from '../infra/tokens.js';
import type { SigningService, SigningShare } from '../signing/signing.service.js';
import { DesiredStateRepository, type PublishableDesired } from './desired-state.repository.js';
import { PublishedVersions } from './published-versions.js';

/** What publishing needs of the broker connection (the MQTT bus provides it). */
export interface RetainedPublisher {
  publish(topic: string, payload: string | Buffer, opts: PublishArgs['options']): Promise<void>;
}

/** States signed for publishing (prepare()), each with its envelope's bytes, not yet published (deliver()). */
export interface PreparedPublish {
  states: readonly PublishableDesired[];
  envelopes: readonly Buffer[];
}

/** Times a publish overtaken by a newer one publishes the devices' latest states again before it gives up (logged). */
const MAX_REPUBLISH_ROUNDS = 3;

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
  private readonly log: Logger;

  constructor(
    @Inject(MQTT_BUS) private readonly bus: RetainedPublisher,
    @Inject(SIGNING) private readonly signing: SigningService,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(HybridPlacementService) private readonly hybrid: HybridPlacementService,
    @Inject(PublishedVersions) private readonly published: PublishedVersions,
    @Inject(DesiredStateRepository) private readonly repo: DesiredStateRepository,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('desired-state-publisher');
  }

  /**
   * Signs and publishes (retained) these states, never one older than a state of the same device
   * already published (issue 15): a state read from Postgres before a newer one was issued and
   * published (a reconnect's republish racing an assignment, here or on another replica) is dropped
   * (see PublishedVersions); one overtaken between its claim and the broker is followed by the
   * device's latest state.
   */
  async publishSigned(states: readonly PublishableDesired[], round = 0): Promise<void> {
    await this.deliver(await this.prepare(states), round);
  }

  /**
   * Signs these states for publishing without publishing them: a caller can have the signing
   * threads do it while its transaction commits, and deliver() once it has (prepare nothing that
   * may not commit: a prepared state is only published by deliver()).
   */
  async prepare(states: readonly PublishableDesired[], o: SigningShare = {}): Promise<PreparedPublish> {
    // a key rotated through another replica a moment ago signs this publish already
    await this.signing.refresh();
    const signedAt = new Date();
    const expiresAt = new Date(signedAt.getTime() + this.config.MANIFEST_TTL_SECONDS * 1_000).toISOString();
    const placements = await this.hybrid.placementsFor(
      states.map((s) => s.desired.deviceId),
      signedAt,
    );
    // signed together, each envelope's bytes written on the signing threads for a batch, so the event loop keeps serving the broker
    const envelopes = await this.signing.signDesiredEnvelopes(
      states.map(({ desired, highWaterMark }) => {
        const hybrid = placements.get(desired.deviceId);
        return { ...desired, highWaterMark, signedAt: signedAt.toISOString(), expiresAt, ...(hybrid === undefined ? {} : { hybrid }) };
      }),
      o,
    );
    return { states, envelopes };
  }

  /** Publishes (retained) states prepared by prepare(), never one older than a state of the same device already published. */
  async deliver({ states, envelopes }: PreparedPublish, round = 0): Promise<void> {
    const versions = states.map(({ desired }) => ({ deviceId: desired.deviceId, version: desired.assignmentVersion }));
    // claimed right before the publish: a newer state claimed by anyone since we read ours wins
    const admitted = await this.published.claim(versions);
    const options = publishOptions('desired');
    await Promise.all(
      states.flatMap(({ desired }, i) => {
        if (!admitted[i]) return [];
        const envelope = envelopes[i];
        if (!envelope) throw new Error(`desired state of ${desired.deviceId} missing from the signed batch`);
        return [this.bus.publish(topicOf('desired', desired.deviceId), envelope, options)];
      }),
    );
    // a newer state claimed between our claim and our publish may have reached the broker first
    const behind = await this.published.overtaken(versions.filter((_, i) => admitted[i]));
    if (behind.length === 0) return;
    if (round >= MAX_REPUBLISH_ROUNDS) {
      this.log.warn('desired states overtaken again and again; left to the next publish', { devices: behind.length });
      return;
    }
    await this.publishSigned(await this.repo.latestMany(behind), round + 1);
  }
}
