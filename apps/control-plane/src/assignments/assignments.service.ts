import { Inject, Injectable } from '@nestjs/common';
import { PrecisionSchema, topics, type DesiredState, type HealthTargets, type Scenario, type VariantCandidate } from '@edge-fleet/shared';
import type { AssignmentDecision as DecisionView, AssignmentSummary } from '@edge-fleet/shared/api';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../infra/logger.js';
import { CONFIG, DESIRED_QUEUE, LOGGER, MQTT_BUS, SIGNING } from '../infra/tokens.js';
import type { MessageBus } from '../mqtt/mqtt-bus.js';
import { PolicyRepository } from '../policies/policy.repository.js';
import type { SigningService } from '../signing/signing.service.js';
import { planAssignments, type DeviceDecision } from './assignment-planner.js';
import { AssignmentRepository, type AssignableDevice, type PublishableDesired, type VariantChoice } from './assignment.repository.js';
import type { DesiredStateQueue } from './desired-state.queue.js';

/** The shapes are the API contract's (`AssignmentDecisionSchema`, `AssignmentSummarySchema`). */
export type { AssignmentSummary, DecisionView };

function view(d: DeviceDecision): DecisionView {
  const a = d.decision.kind === 'assign' ? d.decision : null;
  return {
    deviceId: d.device.id,
    name: d.device.name,
    hardwareClass: d.device.hardwareProfile.hardwareClass,
    outcome: d.decision.kind,
    precision: a?.precision ?? null,
    variantId: a?.variantId ?? null,
    placement: a?.placement ?? null,
    predictedLatencyMs: a?.predictedLatencyMs ?? null,
    latencySource: a?.latencySource ?? null,
    reason: d.decision.reason,
  };
}

@Injectable()
export class AssignmentsService {
  private readonly log: Logger;

  constructor(
    @Inject(AssignmentRepository) private readonly repo: AssignmentRepository,
    @Inject(PolicyRepository) private readonly policies: PolicyRepository,
    @Inject(MQTT_BUS) private readonly bus: MessageBus,
    @Inject(DESIRED_QUEUE) private readonly queue: DesiredStateQueue,
    @Inject(SIGNING) private readonly signing: SigningService,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('assignments');
  }

  /** The full desired state of one device: Postgres keeps it, MQTT carries a retained copy. */
  readonly build = (
    deviceId: string,
    version: number,
    scenario: Scenario,
    c: VariantChoice | null,
    reason: string,
    health: HealthTargets | null,
  ): DesiredState => {
    const issuedAt = new Date();
    const model = c
      ? {
          modelId: c.modelId,
          modelVersionId: c.modelVersionId,
          variantId: c.variantId,
          name: c.name,
          version: c.version,
          precision: PrecisionSchema.parse(c.precision),
          artifactUrl: `${this.config.publicUrl}/api/v1/artifacts/${c.sha256}`,
          sha256: c.sha256,
          sizeBytes: c.sizeBytes,
          inputs: c.inputs,
          manifest: this.signing.signManifest({
            schema: 1,
            deviceId,
            modelVersionId: c.modelVersionId,
            variantId: c.variantId,
            precision: PrecisionSchema.parse(c.precision),
            sha256: c.sha256,
            sizeBytes: c.sizeBytes,
            version,
            hardwareClasses: [],
            issuedAt: issuedAt.toISOString(),
            expiresAt: new Date(issuedAt.getTime() + this.config.MANIFEST_TTL_SECONDS * 1_000).toISOString(),
          }),
        }
      : null;
    return {
      schema: 1,
      deviceId,
      assignmentVersion: version,
      issuedAt: issuedAt.toISOString(),
      scenario,
      reason,
      model,
      runtime: {
        targetRateHz: this.config.DEVICE_RATE_HZ,
        windowSeconds: this.config.TELEMETRY_WINDOW_SECONDS,
        intraOpThreads: 1,
        ...(health ? { health } : {}),
      },
    };
  };

  /** Which variant of the model version each device (all of this scenario) gets, with the reason; writes nothing. */
  async decide(scenario: Scenario, modelVersionId: string, devices: AssignableDevice[]): Promise<DeviceDecision[]> {
    const [v, policy] = await Promise.all([
      this.repo.versionVariants(modelVersionId),
      this.policies.list().then((l) => l.find((p) => p.scenario === scenario)),
    ]);
    if (!v) throw new AppError('not_found', `model version ${modelVersionId} not found`);
    if (!policy) throw new AppError('not_found', `no policy for scenario ${scenario}`);
    const fleet: Map<string, VariantCandidate['fleet']> = await this.repo.fleetLatency(v.variants.map((x) => x.id));
    return planAssignments(devices, policy, v, fleet, { requiredRateHz: this.config.DEVICE_RATE_HZ });
  }

  private summary(scenario: Scenario, modelVersionId: string, decisions: DeviceDecision[]): AssignmentSummary {
    const views = decisions.map(view);
    const byPrecision: Record<string, number> = {};
    for (const d of views) if (d.precision) byPrecision[d.precision] = (byPrecision[d.precision] ?? 0) + 1;
    const assigned = views.filter((d) => d.outcome === 'assign').length;
    return { scenario, modelVersionId, devices: views.length, assigned, refused: views.length - assigned, byPrecision, decisions: views };
  }

  /** What each device of the scenario would run with this model version; writes nothing. */
  async preview(scenario: Scenario, modelVersionId: string): Promise<AssignmentSummary> {
    return this.summary(scenario, modelVersionId, await this.decide(scenario, modelVersionId, await this.repo.scenarioDevices(scenario)));
  }

  /**
   * Gives the scenario this model version: each device gets the variant that fits it (committed
   * in one transaction, then published retained through the queue); a device for which nothing
   * fits is refused with the reason and keeps what it runs.
   */
  async assignScenario(scenario: Scenario, modelVersionId: string, actor: string): Promise<AssignmentSummary> {
    const busy = await this.repo.devicesInActiveRollouts(scenario);
    if (busy.length > 0) {
      throw new AppError(
        'conflict',
        `${busy.length} device(s) of ${scenario} are in active rollout(s) ${[...new Set(busy.map((b) => b.rolloutId))].join(', ')} (${busy
          .slice(0, 10)
          .map((b) => b.deviceId)
          .join(', ')}${busy.length > 10 ? ', …' : ''}); finish or abort the rollout first`,
      );
    }
    const decisions = await this.decide(scenario, modelVersionId, await this.repo.scenarioDevices(scenario));
    const chosen = decisions.flatMap((d) => (d.choice ? [{ device: d.device, choice: d.choice, reason: d.decision.reason }] : []));
    const refused = decisions.filter((d) => !d.choice).map((d) => ({ device: d.device, reason: d.decision.reason }));
    const states = await this.repo.writeAssignments(scenario, modelVersionId, chosen, refused, actor, this.build);
    await this.queue.enqueue(states.map((s) => ({ deviceId: s.deviceId, assignmentVersion: s.assignmentVersion })));
    this.log.info('scenario assigned', { scenario, modelVersionId, assigned: chosen.length, refused: refused.length });
    return this.summary(scenario, modelVersionId, decisions);
  }

  /**
   * Re-issues, with fresh manifests, the desired states whose manifests expire within the refresh
   * window (same model, same reason, a new assignment number), so a healthy device never holds
   * expired metadata; devices in an active rollout are left to it. One replica at a time.
   */
  async refreshExpiringManifests(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - (this.config.MANIFEST_TTL_SECONDS - this.config.MANIFEST_REFRESH_AHEAD_SECONDS) * 1_000);
    const states = await this.repo.refreshAssignments(cutoff, 'system:manifest-refresh', this.build);
    if (states.length) {
      await this.queue.enqueue(states.map((s) => ({ deviceId: s.deviceId, assignmentVersion: s.assignmentVersion })));
      this.log.info('manifests refreshed', { devices: states.length });
    }
    return states.length;
  }

  /** republish() for many devices: their latest desired states read in one query and published together. */
  async republishMany(deviceIds: string[]): Promise<void> {
    const states = await this.repo.latestDesiredMany(deviceIds);
    const have = new Set(states.map((s) => s.desired.deviceId));
    await Promise.all([
      this.publishSigned(states),
      // a device with no assignment yet goes the single way, which may give it its scenario's model
      ...deviceIds.filter((id) => !have.has(id)).map((id) => this.republish(id)),
    ]);
  }

  /** Re-publishes a device's desired state from Postgres; a device with none gets its scenario's model if one fits. */
  async republish(deviceId: string): Promise<void> {
    const [stored] = await this.repo.latestDesiredMany([deviceId]);
    if (stored) return this.publishSigned([stored]);
    const device = await this.repo.device(deviceId);
    const mv = device ? await this.repo.scenarioModelVersion(device.scenario) : null;
    if (!device || !mv) return;
    const [d] = await this.decide(device.scenario, mv, [device]);
    if (!d) return;
    const chosen = d.choice ? [{ device, choice: d.choice, reason: d.decision.reason }] : [];
    const refused = d.choice ? [] : [{ device, reason: d.decision.reason }];
    const written = await this.repo.writeAssignments(device.scenario, null, chosen, refused, 'system', this.build);
    // just issued: its number is the device's high-water mark
    await this.publishSigned(written.map((desired) => ({ desired, highWaterMark: desired.assignmentVersion })));
  }

  /**
   * The only way a desired state reaches the broker: signed as a whole at publish time, with the
   * device's high-water mark and an expiry, so a device can refuse anything forged, meant for another
   * device, replayed past its expiry, or numbered beyond what this control plane ever issued. Postgres
   * keeps the plain state; every publish (assignment, rollout wave or rollback, refresh, republish on
   * reconnect) comes through here.
   */
  private async publishSigned(states: readonly PublishableDesired[]): Promise<void> {
    const signedAt = new Date();
    const expiresAt = new Date(signedAt.getTime() + this.config.MANIFEST_TTL_SECONDS * 1_000).toISOString();
    await Promise.all(
      states.map(({ desired, highWaterMark }) => {
        const signed = this.signing.signDesired({
          ...desired,
          highWaterMark,
          signedAt: signedAt.toISOString(),
          expiresAt,
        });
        return this.bus.publish(topics.desired(desired.deviceId), JSON.stringify(signed), { retain: true });
      }),
    );
  }
}
