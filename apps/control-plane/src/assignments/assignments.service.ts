import { Inject, Injectable } from '@nestjs/common';
import type { DesiredState, Scenario, VariantCandidate } from '@edge-fleet/shared';
import type { AssignmentDecision as DecisionView, AssignmentSummary } from '@edge-fleet/shared/api';
import type { Config } from '../config.js';
import type { AssignmentItem } from '../desired-state/desired-state.builder.js';
import { DesiredStateService } from '../desired-state/desired-state.service.js';
import { AppError } from '../errors.js';
import { AuditRepository, type AuditInput } from '../infra/audit.repository.js';
import type { Logger } from '../infra/logger.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import { UnitOfWork } from '../infra/unit-of-work.js';
import { PolicyRepository } from '../policies/policy.repository.js';
import { planAssignments, type DeviceDecision } from './assignment-planner.js';
import { AssignmentRepository, type AssignableDevice } from './assignment.repository.js';

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
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('assignments');
  }

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
    // Redis away: 503 now, nothing written (issue 14: the request waited for the whole outage)
    await this.desired.assertCanNotify();
    const states = await this.write(scenario, modelVersionId, chosen, refused, actor);
    await this.desired.notifyIssued(states);
    this.log.info('scenario assigned', { scenario, modelVersionId, assigned: chosen.length, refused: refused.length });
    return this.summary(scenario, modelVersionId, decisions);
  }

  /** republish() for many devices: their latest desired states read in one query and published together. */
  async republishMany(deviceIds: string[]): Promise<void> {
    const states = await this.desired.stored(deviceIds);
    const have = new Set(states.map((s) => s.desired.deviceId));
    await Promise.all([
      this.desired.publish(states),
      // a device with no assignment yet goes the single way, which may give it its scenario's model
      ...deviceIds.filter((id) => !have.has(id)).map((id) => this.republish(id)),
    ]);
  }

  /** Re-publishes a device's desired state from Postgres; a device with none gets its scenario's model if one fits. */
  async republish(deviceId: string): Promise<void> {
    const [stored] = await this.desired.stored([deviceId]);
    if (stored) return this.desired.publish([stored]);
    const device = await this.repo.device(deviceId);
    const mv = device ? await this.repo.scenarioModelVersion(device.scenario) : null;
    if (!device || !mv) return;
    const [d] = await this.decide(device.scenario, mv, [device]);
    if (!d) return;
    const chosen = d.choice ? [{ device, choice: d.choice, reason: d.decision.reason }] : [];
    const refused = d.choice ? [] : [{ device, reason: d.decision.reason }];
    const written = await this.write(device.scenario, null, chosen, refused, 'system');
    await this.desired.publishIssued(written);
  }

  /**
   * Writes a new, higher-numbered assignment for each chosen device, points the scenario at the
   * model version (when given), and audits every refusal, in one transaction; set-based, on the pg
   * driver (see BulkTx). Returns the desired states to publish.
   */
  private write(
    scenario: Scenario,
    modelVersionId: string | null,
    chosen: (AssignmentItem & { device: AssignableDevice })[],
    refused: { device: AssignableDevice; reason: string }[],
    actor: string,
  ): Promise<DesiredState[]> {
    return this.uow.runBulk(async (tx) => {
      if (modelVersionId) await this.policies.setScenarioModel(tx, scenario, modelVersionId);
      const states = await this.desired.issue(tx, chosen, actor);
      const audits: AuditInput[] = refused.map((r) => ({
        actor,
        action: 'assignment.refused',
        targetType: 'device',
        targetId: r.device.id,
        details: { scenario, modelVersionId, reason: r.reason },
      }));
      if (modelVersionId) {
        audits.push({
          actor,
          action: 'scenario.assign_model',
          targetType: 'scenario',
          targetId: scenario,
          details: { modelVersionId, assigned: states.length, refused: refused.length },
        });
      }
      await this.audit.appendMany(tx, audits);
      return states;
    });
  }
}
