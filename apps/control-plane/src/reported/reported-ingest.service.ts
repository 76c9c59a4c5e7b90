import { Inject, Injectable } from '@nestjs/common';
import { StoredReportedStateSchema, type Parsed, type ReportedState } from '@edge-fleet/shared';
import type { Config } from '../config.js';
import { RateLimitedLog, type Logger } from '../infra/logger.js';
import { errorText, isDataError } from '../infra/pg-errors.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import { DesiredStateService } from '../desired-state/desired-state.service.js';
import { issuesText } from '../infra/validate.js';
import { RolloutsService } from '../rollouts/rollouts.service.js';
import { DeadLetterRepository } from '../infra/dead-letter.repository.js';
import { ReportedStateRepository } from './reported-state.repository.js';

/**
 * Reported states: every field the control plane stores or shows is checked to its type and
 * against what exists (the active variant, the assignment numbers issued) before anything is
 * written; a report that fails any check is kept whole as a dead letter, never stored in part.
 */
@Injectable()
export class ReportedIngestService {
  private readonly log: Logger;
  /** Refusals a device can cause at will: rate-limited per device. */
  private readonly refusals: RateLimitedLog;

  constructor(
    @Inject(ReportedStateRepository) private readonly reports: ReportedStateRepository,
    @Inject(RolloutsService) private readonly rollouts: RolloutsService,
    @Inject(DeadLetterRepository) private readonly deadLetters: DeadLetterRepository,
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('reported-ingest');
    this.refusals = new RateLimitedLog(this.log);
  }

  /** Handles one MQTT reported state, parsed against the contract; its device is the topic's (the authenticated one). */
  async accept(topic: string, m: Parsed<'reported'>, payload: Buffer, now = Date.now()): Promise<void> {
    const deviceId = m.deviceId;
    if (!m.ok) return this.refuse(topic, deviceId, m.error.reason, payload);
    // the contract takes any bounded ids (agents driven by test fixtures use readable ones); a stored
    // report names only what the control plane issued
    const r = StoredReportedStateSchema.safeParse(m.payload);
    if (!r.success) return this.refuse(topic, deviceId, `schema: ${issuesText(r.error.issues, 5)}`, payload);
    const s = r.data;
    const problem = await this.problem(deviceId, s, now);
    if (problem) return this.refuse(topic, deviceId, problem, payload);
    try {
      await this.reports.saveReported(deviceId, {
        bootId: s.bootId,
        phase: s.phase,
        appliedAssignmentVersion: s.appliedAssignmentVersion,
        activeVariantId: s.active?.variantId ?? null,
        activeSha256: s.active?.sha256 ?? null,
        payload: s,
        reportedAt: new Date(s.reportedAt),
      });
    } catch (e) {
      // the database is away: thrown, so the message is not taken as handled
      if (!isDataError(e)) throw e;
      return this.refuse(topic, deviceId, `database refused the report: ${errorText(e)}`, payload);
    }
    await this.rollouts.onReported(deviceId, {
      appliedAssignmentVersion: s.appliedAssignmentVersion,
      activeVariantId: s.active?.variantId ?? null,
      lastUpdate: s.lastUpdate,
    });
    // a cloud node's (new) address reaches its scenario's hybrid devices now, not at the next grant refresh
    if (s.inferenceUrl !== undefined)
      void this.desired
        .cloudNodeReported(deviceId, s.inferenceUrl)
        .catch((e: unknown) => this.log.warn('cloud node not announced; the grant refresh will', { deviceId, error: errorText(e) }));
  }

  /** Why the report cannot be true of this device, or null. */
  private async problem(deviceId: string, s: ReportedState, now: number): Promise<string | null> {
    const skewMs = this.config.TELEMETRY_FUTURE_SKEW_SECONDS * 1000;
    // a report dated ahead would win the newest-report-wins ordering and freeze the stored state
    if (Date.parse(s.reportedAt) > now + skewMs) return `reportedAt ${s.reportedAt} is in the future`;
    const refs = await this.reports.reportRefs(deviceId, s.active);
    if (!refs) return 'the device is not enrolled';
    for (const [field, n] of [
      ['appliedAssignmentVersion', s.appliedAssignmentVersion],
      ['lastUpdate.assignmentVersion', s.lastUpdate?.assignmentVersion ?? null],
    ] as const) {
      if (n !== null && n > refs.assignmentVersion) return `${field} ${n} was never issued (highest: ${refs.assignmentVersion})`;
    }
    if (s.active && !refs.activeExists) {
      return `active.variantId ${s.active.variantId} is not a variant of model version ${s.active.modelVersionId}`;
    }
    return null;
  }

  private async refuse(topic: string, deviceId: string, reason: string, payload: Buffer): Promise<void> {
    this.refusals.warn(deviceId, 'reported state rejected', { deviceId, reason });
    await this.deadLetters.add({ topic, deviceId, code: 'reported', reason, payload });
  }
}
