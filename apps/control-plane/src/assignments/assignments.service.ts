import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import type { DesiredState, Scenario, VariantCandidate } from '@edge-fleet/shared';
import type { AssignmentDecision as DecisionView, AssignmentSummary } from '@edge-fleet/shared/api';
import type { Config } from '../config.js';
import type { AssignmentItem } from '../desired-state/desired-state.builder.js';
import type { PreparedPublish } from '../desired-state/desired-state.publisher.js';
import { DesiredStateService, type IssueStages } from '../desired-state/desired-state.service.js';
import { AppError } from '../errors.js';
import { AuditRepository, type AuditInput } from '../infra/audit.repository.js';
import { isDatabaseUnreachable } from '../infra/pg-errors.js';
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
   * Gives the scenario this model version: each device gets the variant that fits it; a device for
   * which nothing fits is refused with the reason and keeps what it runs. `whole` (the default):
   * one transaction for all (all or nothing); its states are signed for publishing on the signing
   * threads while it writes and commits them, and published from memory once it has, as the answer
   * goes (a delayed fallback job publishes any the process did not, PUBLISH_FALLBACK_SECONDS). `chunks`: ASSIGNMENT_CHUNK_SIZE devices per transaction, each chunk's devices published
   * from the states just written as soon as it commits, while the next one is written; measured
   * slower to notify the whole fleet on 2 cores (README, Performance), so not the default.
   */
  async assignScenario(
    scenario: Scenario,
    modelVersionId: string,
    actor: string,
    commit: AssignCommit = 'whole',
  ): Promise<AssignmentSummary> {
    const t0 = performance.now();
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
    const devices = await this.repo.scenarioDevices(scenario);
    const tRead = performance.now();
    const decisions = await this.decide(scenario, modelVersionId, devices);
    // Redis away: 503 now, nothing written (issue 14: the request waited for the whole outage)
    await this.desired.assertCanNotify();
    const tDecided = performance.now();
    let tWritten = tDecided;
    const writeStages: IssueStages = {};
    if (commit === 'whole') {
      const { chosen, refused } = split(decisions);
      // this thread signs manifests beside the signing threads (it would only wait for them); the
      // envelopes are signed on the threads alone while the transaction writes and commits the states
      // (measured: sharing those too was slower, Postgres needs the other core then)
      const next: { publish?: Promise<PreparedPublish>; signedMs?: number } = {};
      const states = await this.write(scenario, modelVersionId, chosen, refused, actor, {
        shareSigning: true,
        stages: writeStages,
        onBuilt: (built) => {
          const t = performance.now();
          next.publish = this.desired.prepareIssued(built);
          // a transaction that fails publishes nothing
          next.publish.then(() => (next.signedMs = Math.round(performance.now() - t))).catch(() => undefined);
        },
      });
      tWritten = performance.now();
      // answered once committed (and its fallback queued): its devices are sent their states meanwhile
      const { delivered } = await this.desired.publishCommitted(states, next.publish);
      void delivered.then(() =>
        this.log.info('scenario published', {
          scenario,
          modelVersionId,
          devices: states.length,
          ms: Math.round(performance.now() - tWritten),
          // the envelopes, signed on the signing threads from when the states were built (during the write)
          envelopesSignedMs: next.signedMs,
        }),
      );
    } else {
      await this.writeInChunks(scenario, modelVersionId, decisions, actor);
      tWritten = performance.now(); // each chunk is published as the next one is written
    }
    const tDone = performance.now();
    const summary = this.summary(scenario, modelVersionId, decisions);
    // where an assignment's time went, for the operator who wonders why a fleet-wide one took seconds
    const ms = (a: number, b: number): number => Math.round(b - a);
    this.log.info('scenario assigned', {
      scenario,
      modelVersionId,
      commit,
      assigned: summary.assigned,
      refused: summary.refused,
      ms: {
        read: ms(t0, tRead),
        decide: ms(tRead, tDecided),
        write: ms(tDecided, tWritten),
        // whole: the write's parts (IssueStages); the rest of it is the audit and the commit
        ...(commit === 'whole' ? { writeStages } : {}),
        // whole: queueing the fallback (publishing goes on: "scenario published"); chunks: the last chunk's publish
        afterWrite: ms(tWritten, tDone),
        total: ms(t0, tDone),
      },
    });
    return summary;
  }

  /**
   * One transaction per chunk, in device order; the first also points the scenario at the model
   * version. A chunk that fails stops the assignment: the chunks before it stay committed and
   * published, it and those after are untouched, and the error says which devices are which.
   */
  private async writeInChunks(scenario: Scenario, modelVersionId: string, decisions: DeviceDecision[], actor: string): Promise<void> {
    const size = this.config.ASSIGNMENT_CHUNK_SIZE;
    const chunks = Math.max(1, Math.ceil(decisions.length / size));
    const publishing: Promise<void>[] = [];
    const assigned: string[] = [];
    for (let c = 0; c < chunks; c++) {
      const { chosen, refused } = split(decisions.slice(c * size, (c + 1) * size));
      let states: DesiredState[];
      try {
        states = await this.retryUnreachable(`chunk ${c + 1} of ${chunks}`, () =>
          this.write(scenario, c === 0 ? modelVersionId : null, chosen, refused, actor, {
            auditModel: modelVersionId,
            ...(chunks > 1 ? { chunk: { index: c + 1, of: chunks } } : {}),
          }),
        );
      } catch (e) {
        await Promise.all(publishing);
        throw incomplete({ scenario, modelVersionId, decisions, assigned, failed: c, size, chunks }, e);
      }
      for (const st of states) assigned.push(st.deviceId);
      // not awaited here: the next chunk is written while this one is published
      publishing.push(this.desired.publishCommitted(states).then((p) => p.delivered));
    }
    await Promise.all(publishing);
  }

  /**
   * A chunk's transaction again after Postgres could not be reached (a connection not had within the
   * pool's timeout under load, a restart): twenty transactions meet such a moment more often than one,
   * and a chunk that did not commit is whole to write again. A retried commit whose first outcome was
   * unknown at worst gives its devices one more assignment number for the same model.
   */
  private async retryUnreachable<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (attempt >= CHUNK_ATTEMPTS || !isDatabaseUnreachable(e)) throw e;
        this.log.warn('assignment chunk: database unreachable, trying again', {
          what,
          attempt,
          error: e instanceof Error ? e.message : String(e),
        });
        await sleep(CHUNK_RETRY_MS * attempt);
      }
    }
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
   * model version (when given), and audits every refusal and the assignment (`auditModel`, of this
   * chunk when `chunk`), in one transaction; set-based, on the pg driver (see BulkTx). Returns the
   * desired states to publish.
   */
  private write(
    scenario: Scenario,
    modelVersionId: string | null,
    chosen: (AssignmentItem & { device: AssignableDevice })[],
    refused: { device: AssignableDevice; reason: string }[],
    actor: string,
    o: {
      auditModel?: string;
      chunk?: { index: number; of: number };
      shareSigning?: boolean;
      onBuilt?: (states: readonly DesiredState[]) => void;
      stages?: IssueStages;
    } = {},
  ): Promise<DesiredState[]> {
    const auditModel = o.auditModel ?? modelVersionId;
    return this.uow.runBulk(async (tx) => {
      if (modelVersionId) await this.policies.setScenarioModel(tx, scenario, modelVersionId);
      const states = await this.desired.issue(tx, chosen, actor, {
        shareSigning: o.shareSigning ?? false,
        ...(o.onBuilt ? { onBuilt: o.onBuilt } : {}),
        ...(o.stages ? { stages: o.stages } : {}),
      });
      const audits: AuditInput[] = refused.map((r) => ({
        actor,
        action: 'assignment.refused',
        targetType: 'device',
        targetId: r.device.id,
        details: { scenario, modelVersionId: auditModel, reason: r.reason },
      }));
      if (auditModel) {
        audits.push({
          actor,
          action: 'scenario.assign_model',
          targetType: 'scenario',
          targetId: scenario,
          details: { modelVersionId: auditModel, assigned: states.length, refused: refused.length, ...(o.chunk ? { chunk: o.chunk } : {}) },
        });
      }
      await this.audit.appendMany(tx, audits);
      return states;
    });
  }
}

/** How a scenario assignment commits: per chunk (default) or all in one transaction. */
export type AssignCommit = 'chunks' | 'whole';

/** Tries of one chunk when Postgres is unreachable, the waits between them growing by CHUNK_RETRY_MS. */
const CHUNK_ATTEMPTS = 3;
const CHUNK_RETRY_MS = 500;

function split(decisions: readonly DeviceDecision[]): {
  chosen: (AssignmentItem & { device: AssignableDevice })[];
  refused: { device: AssignableDevice; reason: string }[];
} {
  return {
    chosen: decisions.flatMap((d) => (d.choice ? [{ device: d.device, choice: d.choice, reason: d.decision.reason }] : [])),
    refused: decisions.flatMap((d) => (d.choice ? [] : [{ device: d.device, reason: d.decision.reason }])),
  };
}

/**
 * The answer to an assignment stopped by a failed chunk: which devices were assigned (and notified),
 * which were not, by id, and whether the scenario already points at the model version.
 */
function incomplete(
  at: {
    scenario: Scenario;
    modelVersionId: string;
    decisions: readonly DeviceDecision[];
    /** The devices the committed chunks wrote a new assignment for (one deleted meanwhile is not among them). */
    assigned: readonly string[];
    failed: number;
    size: number;
    chunks: number;
  },
  cause: unknown,
): AppError {
  const { scenario, modelVersionId, decisions, failed, size, chunks } = at;
  const applied = at.assigned;
  const done = new Set(applied);
  const committed = decisions.slice(0, failed * size);
  const refused = committed.filter((d) => !d.choice).map((d) => d.device.id);
  const unchanged = decisions.filter((d) => d.choice && !done.has(d.device.id)).map((d) => d.device.id);
  const why = cause instanceof Error ? cause.message : String(cause);
  return new AppError(
    'incomplete',
    `assignment of ${modelVersionId} to ${scenario} stopped at chunk ${failed + 1} of ${chunks}: ${applied.length} device(s) of chunks 1–${failed} ` +
      `were assigned and their states published (${refused.length} refused there); ${unchanged.length} device(s) are unchanged` +
      `${failed === 0 ? ' and the scenario still points at its previous model version' : ''} (${why}); repeat the assignment to finish it`,
    {
      scenario,
      modelVersionId,
      chunks,
      failedChunk: failed + 1,
      scenarioModelSet: failed > 0,
      assigned: applied,
      refused,
      unchanged,
    },
  );
}
