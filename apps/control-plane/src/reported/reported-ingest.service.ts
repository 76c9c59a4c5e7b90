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
import { TurnBatch, roundsByKey } from '../infra/turn-batch.js';
import { ReportedStateRepository, type StoredReport } from './reported-state.repository.js';

/** Reports stored in one batch at most (a socket read of 10,000 devices' acknowledgements is several). */
const REPORT_BATCH_MAX = 1_000;

/** A report that passed the checks of its own content, waiting for its batch. */
interface Report {
  topic: string;
  deviceId: string;
  s: ReportedState;
  payload: Buffer;
}

/** A report as the repository stores it. */
function stored(x: Report): StoredReport & { deviceId: string } {
  return {
    deviceId: x.deviceId,
    bootId: x.s.bootId,
    phase: x.s.phase,
    appliedAssignmentVersion: x.s.appliedAssignmentVersion,
    activeVariantId: x.s.active?.variantId ?? null,
    activeSha256: x.s.active?.sha256 ?? null,
    payload: x.s,
    reportedAt: new Date(x.s.reportedAt),
  };
}

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

  /** Reports handed in during one turn of the event loop are checked and stored together (see TurnBatch). */
  private readonly batch = new TurnBatch<Report, void>((items) => this.storeAll(items), REPORT_BATCH_MAX);

  /**
   * Handles one MQTT reported state, parsed against the contract; its device is the topic's (the
   * authenticated one). Resolves once it is stored or refused (a dead letter); throws, so the
   * message is not taken as handled, when the database is away.
   */
  async accept(topic: string, m: Parsed<'reported'>, payload: Buffer, now = Date.now()): Promise<void> {
    const deviceId = m.deviceId;
    if (!m.ok) return this.refuse(topic, deviceId, m.error.reason, payload);
    // the contract takes any bounded ids (agents driven by test fixtures use readable ones); a stored
    // report names only what the control plane issued
    const r = StoredReportedStateSchema.safeParse(m.payload);
    if (!r.success) return this.refuse(topic, deviceId, `schema: ${issuesText(r.error.issues, 5)}`, payload);
    const s = r.data;
    const skewMs = this.config.TELEMETRY_FUTURE_SKEW_SECONDS * 1000;
    // a report dated ahead would win the newest-report-wins ordering and freeze the stored state
    if (Date.parse(s.reportedAt) > now + skewMs)
      return this.refuse(topic, deviceId, `reportedAt ${s.reportedAt} is in the future`, payload);
    return this.batch.add({ topic, deviceId, s, payload });
  }

  /**
   * A batch of reports: a device that reported more than once in it has its reports handled in
   * turn, in arrival order (round k holds each device's k-th report), so each round names a device
   * once and takes three statements (checks, store, rollout states) whatever its size.
   */
  private async storeAll(items: readonly Report[]): Promise<PromiseSettledResult<void>[]> {
    // a throw (the database away) fails the whole batch, stored rounds too: sent again, they are stored again alike
    for (const round of roundsByKey(items, (x) => x.deviceId)) await this.storeRound(round.map((x) => x.item));
    return items.map(() => ({ status: 'fulfilled', value: undefined }));
  }

  private async storeRound(round: readonly Report[]): Promise<void> {
    const refs = await this.reports.reportRefs(round.map((x) => ({ deviceId: x.deviceId, active: x.s.active })));
    const valid: Report[] = [];
    const refusals: Promise<void>[] = [];
    round.forEach((x, i) => {
      const problem = this.problem(x.s, refs[i] ?? null);
      if (problem) refusals.push(this.refuse(x.topic, x.deviceId, problem, x.payload));
      else valid.push(x);
    });
    await Promise.all(refusals);
    const saved = await this.save(valid);
    await this.rollouts.onReported(
      saved.map((x) => ({
        deviceId: x.deviceId,
        appliedAssignmentVersion: x.s.appliedAssignmentVersion,
        activeVariantId: x.s.active?.variantId ?? null,
        lastUpdate: x.s.lastUpdate,
      })),
    );
    for (const x of saved) {
      // a cloud node's (new) address reaches its scenario's hybrid devices now, not at the next grant refresh
      if (x.s.inferenceUrl !== undefined)
        void this.desired
          .cloudNodeReported(x.deviceId, x.s.inferenceUrl)
          .catch((e: unknown) =>
            this.log.warn('cloud node not announced; the grant refresh will', { deviceId: x.deviceId, error: errorText(e) }),
          );
    }
  }

  /**
   * Stores the reports in one statement; one the database refuses (a data error) fails that
   * statement, so then each is stored alone and the refused ones become dead letters. Returns the
   * reports stored. Any other error (the database away) is thrown: nothing is taken as handled.
   */
  private async save(valid: readonly Report[]): Promise<Report[]> {
    try {
      await this.reports.saveReported(valid.map(stored));
      return [...valid];
    } catch (e) {
      if (!isDataError(e)) throw e;
    }
    const saved: Report[] = [];
    for (const x of valid) {
      try {
        await this.reports.saveReported([stored(x)]);
        saved.push(x);
      } catch (e) {
        if (!isDataError(e)) throw e;
        await this.refuse(x.topic, x.deviceId, `database refused the report: ${errorText(e)}`, x.payload);
      }
    }
    return saved;
  }

  /** Why the report cannot be true of this device (checked against `refs`, null: not enrolled), or null. */
  private problem(s: ReportedState, refs: { assignmentVersion: number; activeExists: boolean } | null): string | null {
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
