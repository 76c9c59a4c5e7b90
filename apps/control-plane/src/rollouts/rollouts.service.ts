import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  ACTIVE_ROLLOUT_STATUSES,
  DEFAULT_GATES,
  evaluateGates,
  orderForWaves,
  planWaveSizes,
  RolloutPlanError,
  type CreateRollout,
  type DeviceEvidence,
  type LatencyPercentile,
  type RolloutTarget,
  type Scenario,
  type UpdateOutcome,
} from '@edge-fleet/shared';
import { AssignmentRepository, insertAssignments, type AssignmentItem } from '../assignments/assignment.repository.js';
import { AssignmentsService } from '../assignments/assignments.service.js';
import { DesiredStateQueue, type PublishDesiredJob } from '../assignments/desired-state.queue.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Prisma } from '../generated/prisma/client.js';
import { appendAudit } from '../infra/audit.repository.js';
import type { Logger } from '../infra/logger.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import { PolicyRepository } from '../policies/policy.repository.js';
import { TelemetryIngestService } from '../telemetry/telemetry-ingest.service.js';
import { RolloutQueue } from './rollout.queue.js';
import { RolloutRepository, type RolloutRow, type TargetDevice, type Tx, type WaveRow } from './rollout.repository.js';

/** The stored plan: the create request without target and model. */
export type RolloutPlan = Pick<CreateRollout, 'waves' | 'gates' | 'failurePolicy' | 'notifyRatePerSecond'>;

/** What a step leaves to do once its transaction has committed. */
interface FollowUps {
  desired: PublishDesiredJob[];
  step: { rolloutId: string; step: number; delayMs: number } | null;
}

interface Decided {
  items: (AssignmentItem & { variantId: string })[];
  refused: { id: string; reason: string }[];
}

const none = (): FollowUps => ({ desired: [], step: null });
const TX = { timeout: 120_000, maxWait: 10_000 };
const CHANGED = ['notified', 'applied', 'failed'];

export type RolloutView = Awaited<ReturnType<RolloutsService['get']>>;

export interface RolloutSummary {
  id: string;
  name: string;
  modelVersionId: string;
  model: string;
  status: string;
  reason: string;
  currentWave: number;
  waves: number;
  devices: number;
  byState: Record<string, number>;
  failurePolicy: string;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

/** How long a wave's verdict waits for an ingest that has fallen behind before it looks again. */
const INGEST_CATCH_UP_MS = 1_000;

@Injectable()
export class RolloutsService {
  private readonly log: Logger;

  constructor(
    @Inject(RolloutRepository) private readonly repo: RolloutRepository,
    @Inject(AssignmentRepository) private readonly assignmentRepo: AssignmentRepository,
    @Inject(AssignmentsService) private readonly assignments: AssignmentsService,
    @Inject(PolicyRepository) private readonly policies: PolicyRepository,
    @Inject(RolloutQueue) private readonly queue: RolloutQueue,
    @Inject(DesiredStateQueue) private readonly desired: DesiredStateQueue,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(TelemetryIngestService) private readonly ingest: TelemetryIngestService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('rollouts');
  }

  // ---------------------------------------------------------------- operator actions

  async create(input: CreateRollout, actor: string): Promise<RolloutView> {
    const version = await this.assignmentRepo.versionVariants(input.modelVersionId);
    if (!version) throw new AppError('not_found', `model version ${input.modelVersionId} not found`);
    if (!version.variants.some((v) => v.status === 'ready' && v.sha256))
      throw new AppError(
        'invalid_request',
        `model version ${input.modelVersionId} has no ready variant yet (its variants are still building or all failed)`,
      );
    if (input.target.deviceIds) {
      const unknown = await this.repo.unknownDevices(input.target.deviceIds);
      if (unknown.length)
        throw new AppError(
          'invalid_request',
          `target.deviceIds: ${unknown.length} unknown or revoked device(s): ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}`,
        );
    }
    const devices = await this.repo.targetDevices(input.target);
    let sizes: number[];
    try {
      sizes = planWaveSizes(devices.length, input.waves);
    } catch (e) {
      if (e instanceof RolloutPlanError) throw new AppError('invalid_request', e.message);
      throw e;
    }
    const plan: RolloutPlan = {
      waves: input.waves,
      gates: input.gates ?? [...DEFAULT_GATES],
      failurePolicy: input.failurePolicy,
      notifyRatePerSecond: input.notifyRatePerSecond,
    };
    const name = input.name ?? `${version.name} ${version.version}`;
    const id = await this.repo.db.$transaction(async (tx) => {
      await this.repo.lockMembership(tx);
      const busy = await this.repo.conflicts(
        tx,
        devices.map((d) => d.id),
      );
      if (busy.length) {
        const rollouts = [...new Map(busy.map((b) => [b.rolloutId, `${b.name} (${b.rolloutId})`])).values()];
        throw new AppError(
          'conflict',
          `${busy.length} target device(s) are already in active rollout ${rollouts.join(', ')}: ${busy
            .slice(0, 10)
            .map((b) => b.deviceId)
            .join(', ')}${busy.length > 10 ? ', …' : ''}`,
        );
      }
      const r = await tx.rollout.create({
        data: {
          name,
          modelVersionId: input.modelVersionId,
          target: input.target,
          plan: plan,
          status: 'running',
          step: 1,
          createdBy: actor,
          reason: 'started',
        },
      });
      await tx.rolloutWave.createMany({
        data: input.waves.map((w, index) => ({ rolloutId: r.id, index, soakSeconds: w.soakSeconds, requireApproval: w.requireApproval })),
      });
      const ordered = orderForWaves(devices, r.id, (s) => createHash('sha256').update(s).digest('hex'));
      const rows: Prisma.RolloutDeviceCreateManyInput[] = [];
      let at = 0;
      sizes.forEach((size, wave) => {
        for (const d of ordered.slice(at, at + size)) rows.push({ rolloutId: r.id, deviceId: d.id, wave });
        at += size;
      });
      for (let i = 0; i < rows.length; i += 5_000) await tx.rolloutDevice.createMany({ data: rows.slice(i, i + 5_000) });
      await appendAudit(tx, {
        actor,
        action: 'rollout.created',
        targetType: 'rollout',
        targetId: r.id,
        details: {
          name,
          modelVersionId: input.modelVersionId,
          target: input.target as Prisma.InputJsonValue,
          waveSizes: sizes,
          devices: devices.length,
        },
      });
      return r.id;
    }, TX);
    this.log.info('rollout created', { id, devices: devices.length, waves: sizes });
    await this.queue.enqueue({ rolloutId: id, step: 1 });
    return this.get(id);
  }

  async pause(id: string, actor: string): Promise<RolloutView> {
    await this.act(id, actor, 'pause', async (tx, r) => {
      if (r.status !== 'running' && r.status !== 'awaiting_approval')
        throw new AppError('conflict', `rollout ${id} is ${r.status}; only a running rollout or one awaiting approval can be paused`);
      await this.transition(tx, r, { status: 'paused', reason: `paused by ${actor}` });
      return none();
    });
    return this.get(id);
  }

  /** Resumes a paused rollout; a wave that failed its gates soaks again and is judged afresh. */
  async resume(id: string, actor: string): Promise<RolloutView> {
    await this.act(id, actor, 'resume', async (tx, r, waves) => {
      if (r.status !== 'paused') throw new AppError('conflict', `rollout ${id} is ${r.status}; only a paused rollout can be resumed`);
      const wave = waves[r.currentWave];
      let delayMs = 0;
      if (wave && (wave.status === 'failed' || wave.status === 'soaking')) {
        const soakUntil = new Date(Date.now() + wave.soakSeconds * 1_000);
        await tx.rolloutWave.update({
          where: { rolloutId_index: { rolloutId: id, index: wave.index } },
          data: { status: 'soaking', soakUntil },
        });
        delayMs = wave.soakSeconds * 1_000;
      }
      const step = await this.transition(tx, r, { status: 'running', reason: `resumed by ${actor}` });
      return { desired: [], step: { rolloutId: id, step, delayMs } };
    });
    return this.get(id);
  }

  async approve(id: string, actor: string): Promise<RolloutView> {
    await this.act(id, actor, 'approve', async (tx, r, waves) => {
      const wave = waves[r.currentWave];
      if (r.status !== 'awaiting_approval' || !wave)
        throw new AppError('conflict', `rollout ${id} is ${r.status}; there is no wave awaiting approval`);
      await tx.rolloutWave.update({ where: { rolloutId_index: { rolloutId: id, index: wave.index } }, data: { requireApproval: false } });
      const step = await this.transition(tx, r, { status: 'running', reason: `wave ${wave.index + 1} approved by ${actor}` });
      return { desired: [], step: { rolloutId: id, step, delayMs: 0 } };
    });
    return this.get(id);
  }

  /** Stops the rollout and sends every device it changed back to what it ran before. */
  async abort(id: string, actor: string): Promise<RolloutView> {
    await this.act(id, actor, 'abort', async (tx, r) => {
      if (!isActive(r.status)) throw new AppError('conflict', `rollout ${id} is ${r.status}; it has already ended`);
      const desired = await this.rollBack(tx, r, null, `rollout "${r.name}" aborted by ${actor}`);
      // every wave that reached its devices was undone (a pending wave stays pending: it never started)
      await tx.rolloutWave.updateMany({
        where: { rolloutId: id, status: { in: ['soaking', 'passed', 'failed'] } },
        data: { status: 'rolled_back' },
      });
      await this.transition(tx, r, {
        status: 'aborted',
        reason: `aborted by ${actor}; ${desired.length} device(s) sent back to their previous model`,
      });
      return { desired, step: null };
    });
    return this.get(id);
  }

  private async act(
    id: string,
    actor: string,
    action: string,
    fn: (tx: Tx, r: RolloutRow, waves: WaveRow[]) => Promise<FollowUps>,
  ): Promise<void> {
    const follow = await this.repo.db.$transaction(async (tx) => {
      const r = await this.repo.lockRollout(tx, id);
      if (!r) throw new AppError('not_found', `rollout ${id} not found`);
      const out = await fn(tx, r, await this.repo.waves(tx, id));
      await appendAudit(tx, { actor, action: `rollout.${action}`, targetType: 'rollout', targetId: id, details: { from: r.status } });
      return out;
    }, TX);
    await this.apply(follow);
  }

  // ---------------------------------------------------------------- the state machine

  /** Runs one step if the rollout is still at it; BullMQ calls this (possibly twice, or late). */
  readonly advance = async (job: { rolloutId: string; step: number }): Promise<void> => {
    const follow = await this.repo.db.$transaction(async (tx): Promise<FollowUps> => {
      // NOWAIT: whoever holds the row runs this step; if that one fails, this job's retry finds the step again
      const r = await this.repo.lockRollout(tx, job.rolloutId, false);
      if (!r || r.step !== job.step || r.status !== 'running') return none();
      const waves = await this.repo.waves(tx, r.id);
      const wave = waves[r.currentWave];
      if (!wave) return none();
      const plan = r.plan as RolloutPlan;
      if (wave.status === 'pending') {
        if (wave.requireApproval) {
          await this.transition(tx, r, { status: 'awaiting_approval', reason: `wave ${wave.index + 1} waits for an operator's approval` });
          await appendAudit(tx, {
            actor: 'system',
            action: 'rollout.awaiting_approval',
            targetType: 'rollout',
            targetId: r.id,
            details: { wave: wave.index },
          });
          return none();
        }
        return this.startWave(tx, r, wave, plan);
      }
      if (wave.status === 'soaking') {
        const left = (wave.soakUntil?.getTime() ?? 0) - Date.now();
        if (left > 0) {
          const step = await this.transition(tx, r, {});
          return { desired: [], step: { rolloutId: r.id, step, delayMs: left } };
        }
        if (this.ingestBlind()) {
          // windows the devices sent are still waiting for Postgres: judging now would count them
          // as silence (row 19), so the wave is judged once the ingest has caught up
          const step = await this.transition(tx, r, {});
          return { desired: [], step: { rolloutId: r.id, step, delayMs: INGEST_CATCH_UP_MS } };
        }
        return this.evaluateWave(tx, r, wave, waves.length, plan);
      }
      return none();
    }, TX);
    await this.apply(follow);
  };

  /** This replica's ingest failed its last flush or holds windows older than one catch-up period. */
  private ingestBlind(): boolean {
    const h = this.ingest.health();
    return h.consecutiveFailedFlushes > 0 || h.oldestBufferedSeconds * 1_000 > INGEST_CATCH_UP_MS;
  }

  private async startWave(tx: Tx, r: RolloutRow, wave: WaveRow, plan: RolloutPlan): Promise<FollowUps> {
    const pending = await tx.rolloutDevice.findMany({
      where: { rolloutId: r.id, wave: wave.index, state: 'pending' },
      select: { deviceId: true },
    });
    const ids = pending.map((p) => p.deviceId);
    const devices = await this.repo.targetDevices({}, ids, tx);
    const { desired, skipped } = await this.notify(tx, r, await this.decideFor(r, devices), false);
    const gone = ids.filter((id) => !devices.some((d) => d.id === id));
    if (gone.length)
      await tx.rolloutDevice.updateMany({
        where: { rolloutId: r.id, deviceId: { in: gone } },
        data: { state: 'skipped', reason: 'revoked before its wave' },
      });
    const now = new Date();
    // the soak starts for the last device when its (rate-limited) notification goes out
    const spreadMs = Math.ceil((desired.length / plan.notifyRatePerSecond) * 1_000);
    const soakUntil = new Date(now.getTime() + spreadMs + wave.soakSeconds * 1_000);
    await tx.rolloutWave.update({
      where: { rolloutId_index: { rolloutId: r.id, index: wave.index } },
      data: { status: 'soaking', startedAt: now, soakUntil },
    });
    const step = await this.transition(tx, r, {
      reason: `wave ${wave.index + 1} started: ${desired.length} device(s) notified${skipped ? `, ${skipped} refused (no variant fits)` : ''}`,
    });
    await appendAudit(tx, {
      actor: 'system',
      action: 'rollout.wave_started',
      targetType: 'rollout',
      targetId: r.id,
      details: { wave: wave.index, notified: desired.length, skipped: skipped + gone.length, soakUntil: soakUntil.toISOString() },
    });
    return {
      desired: spread(desired, plan.notifyRatePerSecond),
      step: { rolloutId: r.id, step, delayMs: soakUntil.getTime() - now.getTime() },
    };
  }

  /** Which variant each device gets (reads only: done before the caller takes locks where it can). */
  private async decideFor(r: Pick<RolloutRow, 'name' | 'modelVersionId'>, devices: TargetDevice[]): Promise<Decided> {
    const items: Decided['items'] = [];
    const refused: Decided['refused'] = [];
    for (const [scenario, group] of groupBy(devices, (d) => d.scenario)) {
      for (const d of await this.assignments.decide(scenario, r.modelVersionId, group)) {
        if (d.choice)
          items.push({
            device: d.device,
            choice: d.choice,
            reason: `rollout "${r.name}": ${d.decision.reason}`,
            variantId: d.choice.variantId,
          });
        else refused.push({ id: d.device.id, reason: d.decision.reason });
      }
    }
    return { items, refused };
  }

  /** Gives these devices the rollout's model (the variant that fits each), in the caller's transaction. */
  private async notify(
    tx: Tx,
    r: RolloutRow,
    { items, refused }: Decided,
    late: boolean,
  ): Promise<{ desired: PublishDesiredJob[]; skipped: number }> {
    const states = await insertAssignments(tx, items, `rollout:${r.id}`, this.assignments.build);
    const variantOf = new Map(items.map((i) => [i.device.id, i.variantId]));
    if (states.length) {
      const ids = states.map((s) => s.deviceId);
      await tx.$executeRaw`
        UPDATE "RolloutDevice" rd SET state = 'notified', "notifiedAt" = now(), "assignmentVersion" = u.v, "fromAssignmentVersion" = u.v - 1, "targetVariantId" = u.variant, late = rd.late OR ${late}
          FROM unnest(${ids}::uuid[], ${states.map((s) => s.assignmentVersion)}::int[], ${ids.map((id) => variantOf.get(id) ?? null)}::uuid[]) AS u(id, v, variant)
         WHERE rd."rolloutId" = ${r.id}::uuid AND rd."deviceId" = u.id`;
    }
    // a device the model cannot run on fails the wave's update gate: a wave of such devices used to
    // pass empty, and the rollout completed and moved the scenario to a model no device could run
    for (const x of refused)
      await tx.rolloutDevice.update({
        where: { rolloutId_deviceId: { rolloutId: r.id, deviceId: x.id } },
        data: { state: 'failed', reason: `refused before download: ${x.reason}`.slice(0, 2_000) },
      });
    return { desired: states.map((s) => ({ deviceId: s.deviceId, assignmentVersion: s.assignmentVersion })), skipped: refused.length };
  }

  private async evaluateWave(tx: Tx, r: RolloutRow, wave: WaveRow, waveCount: number, plan: RolloutPlan): Promise<FollowUps> {
    const rows = await this.repo.evidence(r.id, wave.index);
    const policies = new Map((await this.policies.list()).map((p) => [p.scenario, p]));
    const evidence: DeviceEvidence[] = rows.map(({ scenario, ...e }) => {
      const p = policies.get(scenario);
      return {
        ...e,
        policy: {
          latencyTargetMs: p?.latencyTargetMs ?? Infinity,
          latencyPercentile: (p?.latencyPercentile ?? 'p99') as LatencyPercentile,
          errorRateMax: p?.errorRateMax ?? 1,
          powerBudgetW: p?.powerBudgetW ?? null,
        },
      };
    });
    // a device whose report was lost (broker restart) but whose telemetry shows the new variant runs it
    const running = evidence.filter((e) => e.state === 'notified' && e.windows > 0).map((e) => e.deviceId);
    if (running.length) {
      await tx.rolloutDevice.updateMany({
        where: { rolloutId: r.id, deviceId: { in: running }, state: 'notified' },
        data: { state: 'applied', appliedAt: new Date(), reason: 'applied (seen in its telemetry; no report received)' },
      });
      for (const e of evidence) if (running.includes(e.deviceId)) e.state = 'applied';
    }
    const baseline = await this.repo.baseline(r.id, wave.startedAt ?? new Date(0));
    // a wave's own gates replace the rollout's (a stricter canary, a looser last wave)
    const gates = plan.waves[wave.index]?.gates ?? plan.gates ?? DEFAULT_GATES;
    const result = evaluateGates(evidence, gates, (hc) => baseline.get(hc) ?? null, new Date());
    const figures = new Map<string, Prisma.InputJsonValue>(
      evidence.map((e) => [
        e.deviceId,
        {
          windows: e.windows,
          inferences: e.inferences,
          errors: e.errors,
          latencyMs: e.latencyMs,
          percentile: e.policy.latencyPercentile,
          targetMs: Number.isFinite(e.policy.latencyTargetMs) ? e.policy.latencyTargetMs : null,
          powerW: e.powerW,
          powerSource: e.powerSource,
        },
      ]),
    );
    const stored = { ...result, baseline: Object.fromEntries(baseline) };
    const failedGates = result.gates.filter((g) => !g.passed);
    const summary = failedGates
      .map(
        (g) =>
          `${g.metric} (${g.failing} of ${g.judged} device(s): ${g.failingDevices
            .slice(0, 3)
            .map((d) => d.why)
            .join('; ')})`,
      )
      .join(', ');
    await appendAudit(tx, {
      actor: 'system',
      action: result.passed ? 'rollout.wave_passed' : 'rollout.wave_failed',
      targetType: 'rollout',
      targetId: r.id,
      details: { wave: wave.index, gate: stored as unknown as Prisma.InputJsonValue },
    });
    if (result.passed) {
      await this.repo.saveGate(tx, r.id, wave.index, 'passed', stored, figures);
      if (wave.index + 1 >= waveCount) {
        const target = r.target;
        const wholeScenario = target.scenario !== undefined && !target.labels && !target.deviceIds;
        if (wholeScenario)
          await tx.policy.update({ where: { scenario: target.scenario as Scenario }, data: { modelVersionId: r.modelVersionId } });
        await this.transition(tx, r, {
          status: 'completed',
          reason: `all ${waveCount} wave(s) passed their gates${wholeScenario ? `; ${target.scenario} now runs this model version` : ''}`,
        });
        return none();
      }
      const step = await this.transition(tx, r, { currentWave: wave.index + 1, reason: `wave ${wave.index + 1} passed its gates` });
      return { desired: [], step: { rolloutId: r.id, step, delayMs: 0 } };
    }
    const why = `wave ${wave.index + 1} failed its gates: ${summary}`;
    if (plan.failurePolicy === 'pause') {
      await this.repo.saveGate(tx, r.id, wave.index, 'failed', stored, figures);
      await this.transition(tx, r, { status: 'paused', reason: why });
      return none();
    }
    await this.repo.saveGate(tx, r.id, wave.index, 'rolled_back', stored, figures);
    const desired = await this.rollBack(tx, r, wave.index, `rollout "${r.name}" rolled back: ${why}`);
    await this.transition(tx, r, {
      status: 'rolled_back',
      reason: `${why}; ${desired.length} device(s) sent back to their previous model`,
    });
    return { desired, step: null };
  }

  /**
   * A new, higher-numbered assignment pinning what each changed device ran before the rollout (the
   * agent's anti-rollback watermark accepts it because the number is new).
   */
  private async rollBack(tx: Tx, r: RolloutRow, wave: number | null, reason: string): Promise<PublishDesiredJob[]> {
    const rows = await tx.rolloutDevice.findMany({
      // a device refused before download was never given the model: nothing to take back
      where: { rolloutId: r.id, state: { in: CHANGED }, assignmentVersion: { not: null }, ...(wave === null ? {} : { wave }) },
      select: { deviceId: true, fromAssignmentVersion: true },
    });
    if (rows.length === 0) return [];
    const previous = await tx.$queryRaw<{ deviceId: string; modelVariantId: string | null }[]>`
      SELECT a."deviceId"::text AS "deviceId", a."modelVariantId"::text AS "modelVariantId" FROM "Assignment" a
        JOIN unnest(${rows.map((x) => x.deviceId)}::uuid[], ${rows.map((x) => x.fromAssignmentVersion ?? 0)}::int[]) AS p(id, v) ON a."deviceId" = p.id AND a.version = p.v`;
    const prevOf = new Map(previous.map((p) => [p.deviceId, p.modelVariantId]));
    const choices = await this.assignmentRepo.choicesOf([
      ...new Set(previous.flatMap((p) => (p.modelVariantId ? [p.modelVariantId] : []))),
    ]);
    const devices = await this.repo.targetDevices(
      {},
      rows.map((x) => x.deviceId),
      tx,
    );
    const items: AssignmentItem[] = [];
    const fresh: TargetDevice[] = [];
    for (const d of devices) {
      if (!prevOf.has(d.id))
        fresh.push(d); // had no assignment before (joined at enrollment)
      else {
        const v = prevOf.get(d.id);
        items.push({ device: d, choice: v ? (choices.get(v) ?? null) : null, reason });
      }
    }
    // a device that had nothing before gets what its scenario runs outside the rollout, if anything
    for (const [scenario, group] of groupBy(fresh, (d) => d.scenario)) {
      const mv = await this.assignmentRepo.scenarioModelVersion(scenario);
      const decisions =
        mv && mv !== r.modelVersionId
          ? await this.assignments.decide(scenario, mv, group)
          : group.map((device) => ({ device, choice: null }));
      for (const d of decisions) items.push({ device: d.device, choice: d.choice, reason });
    }
    const states = await insertAssignments(tx, items, `rollout:${r.id}`, this.assignments.build);
    await tx.rolloutDevice.updateMany({
      where: { rolloutId: r.id, deviceId: { in: states.map((s) => s.deviceId) } },
      data: { state: 'rolled_back' },
    });
    return states.map((s) => ({ deviceId: s.deviceId, assignmentVersion: s.assignmentVersion }));
  }

  /** Moves the rollout on one step (stale jobs for the old step then do nothing) and records why. */
  private async transition(tx: Tx, r: RolloutRow, data: { status?: string; reason?: string; currentWave?: number }): Promise<number> {
    const step = r.step + 1;
    await tx.rollout.update({
      where: { id: r.id },
      data: { ...data, ...(data.reason ? { reason: data.reason.slice(0, 4_000) } : {}), step },
    });
    if (data.status && data.status !== r.status) {
      await appendAudit(tx, {
        actor: 'system',
        action: 'rollout.status',
        targetType: 'rollout',
        targetId: r.id,
        details: { from: r.status, to: data.status, reason: data.reason ?? '' },
      });
    }
    r.step = step;
    if (data.status) r.status = data.status;
    return step;
  }

  private async apply(f: FollowUps): Promise<void> {
    if (f.desired.length) await this.desired.enqueue(f.desired);
    if (f.step) await this.queue.enqueue({ rolloutId: f.step.rolloutId, step: f.step.step }, f.step.delayMs);
  }

  // ---------------------------------------------------------------- devices

  /** A report from a device moves its state in its active rollout (applied, or failed with the reason). */
  async onReported(
    deviceId: string,
    r: { appliedAssignmentVersion: number | null; activeVariantId: string | null; lastUpdate: UpdateOutcome | null },
  ): Promise<void> {
    await this.repo.recordReport(deviceId, {
      applied: r.appliedAssignmentVersion,
      activeVariantId: r.activeVariantId,
      lastUpdate: r.lastUpdate,
    });
  }

  /** A device enrolled into an active rollout's target joins its current wave (notified at once if that wave runs). */
  async joinIfTargeted(deviceId: string): Promise<void> {
    // reads first, without locks: most enrollments meet no active rollout
    let match: { r: RolloutRow; device: TargetDevice } | null = null;
    for (const r of await this.repo.activeRollouts(this.repo.db)) {
      const [device] = await this.repo.targetDevices(r.target, [deviceId]);
      if (device) {
        match = { r, device };
        break;
      }
    }
    if (!match) return;
    const decided = await this.decideFor(match.r, [match.device]);
    const follow = await this.repo.db.$transaction(async (tx): Promise<FollowUps> => {
      await this.repo.lockMembership(tx);
      if ((await this.repo.conflicts(tx, [deviceId])).length) return none();
      const r = await this.repo.lockRollout(tx, match.r.id);
      if (!r || !isActive(r.status)) return none();
      const wave = (await this.repo.waves(tx, r.id))[r.currentWave];
      if (!wave) return none();
      await tx.rolloutDevice.create({ data: { rolloutId: r.id, deviceId, wave: wave.index, late: true } });
      const now = wave.status === 'soaking' && r.status === 'running';
      const { desired } = now ? await this.notify(tx, r, decided, true) : { desired: [] };
      await appendAudit(tx, {
        actor: 'system',
        action: 'rollout.device_joined',
        targetType: 'rollout',
        targetId: r.id,
        details: { deviceId, wave: wave.index, notified: desired.length > 0 },
      });
      return { desired, step: null };
    }, TX);
    await this.apply(follow);
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Makes sure every running rollout has its current step queued (ids are deterministic, so this is
   * a no-op when it is): after a restart, or when a replica died between commit and enqueue. The
   * worker's maintenance job scheduler runs it every ROLLOUT_SWEEP_MS.
   */
  async sweep(): Promise<void> {
    for (const r of await this.repo.runningRollouts()) {
      const wave = (await this.repo.waves(this.repo.db, r.id))[r.currentWave];
      const delayMs = wave?.status === 'soaking' ? Math.max(0, (wave.soakUntil?.getTime() ?? 0) - Date.now()) : 0;
      await this.queue.enqueue({ rolloutId: r.id, step: r.step }, delayMs);
      if (wave?.status === 'soaking') {
        const notified = await this.repo.db.rolloutDevice.findMany({
          where: { rolloutId: r.id, wave: wave.index, state: 'notified', assignmentVersion: { not: null } },
          select: { deviceId: true, assignmentVersion: true },
        });
        await this.desired.enqueue(notified.map((n) => ({ deviceId: n.deviceId, assignmentVersion: n.assignmentVersion ?? 0 })));
      }
    }
  }

  // ---------------------------------------------------------------- views

  async list(): Promise<RolloutSummary[]> {
    const rows = await this.repo.db.rollout.findMany({
      orderBy: { createdAt: 'desc' },
      take: 200,
      include: { modelVersion: { select: { version: true, model: { select: { name: true } } } }, _count: { select: { waves: true } } },
    });
    const counts = rows.length
      ? await this.repo.db.rolloutDevice.groupBy({
          by: ['rolloutId', 'state'],
          where: { rolloutId: { in: rows.map((r) => r.id) } },
          _count: { _all: true },
        })
      : [];
    return rows.map((r) => {
      const byState: Record<string, number> = {};
      for (const c of counts) if (c.rolloutId === r.id) byState[c.state] = c._count._all;
      return {
        id: r.id,
        name: r.name,
        modelVersionId: r.modelVersionId,
        model: `${r.modelVersion.model.name} ${r.modelVersion.version}`,
        status: r.status,
        reason: r.reason,
        currentWave: r.currentWave,
        waves: r._count.waves,
        devices: Object.values(byState).reduce((a, b) => a + b, 0),
        byState,
        failurePolicy: (r.plan as RolloutPlan).failurePolicy,
        createdAt: r.createdAt.toISOString(),
        createdBy: r.createdBy,
        updatedAt: r.updatedAt.toISOString(),
      };
    });
  }

  async get(id: string) {
    const r = await this.repo.db.rollout.findUnique({
      where: { id },
      include: { modelVersion: { select: { version: true, model: { select: { name: true } } } } },
    });
    if (!r) throw new AppError('not_found', `rollout ${id} not found`);
    const [waves, counts, devices] = await Promise.all([
      this.repo.waves(this.repo.db, id),
      this.repo.counts(id),
      this.repo.db.$queryRaw<
        {
          deviceId: string;
          name: string;
          hardwareClass: string;
          scenario: string;
          wave: number;
          state: string;
          reason: string;
          late: boolean;
          notifiedAt: Date | null;
          appliedAt: Date | null;
          figures: unknown;
        }[]
      >`
        SELECT rd."deviceId"::text AS "deviceId", d.name, hp."hardwareClass", d.scenario, rd.wave, rd.state, rd.reason, rd.late, rd."notifiedAt", rd."appliedAt", rd.figures
          FROM "RolloutDevice" rd JOIN "Device" d ON d.id = rd."deviceId" JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"
         WHERE rd."rolloutId" = ${id}::uuid ORDER BY rd.wave, d.name LIMIT 500`,
    ]);
    const plan = r.plan as RolloutPlan;
    return {
      id: r.id,
      name: r.name,
      modelVersionId: r.modelVersionId,
      model: `${r.modelVersion.model.name} ${r.modelVersion.version}`,
      status: r.status,
      reason: r.reason,
      currentWave: r.currentWave,
      target: r.target as RolloutTarget,
      plan,
      createdAt: r.createdAt.toISOString(),
      createdBy: r.createdBy,
      updatedAt: r.updatedAt.toISOString(),
      devices: counts.reduce((a, c) => a + c.n, 0),
      waves: waves.map((w) => {
        const byState: Record<string, number> = {};
        for (const c of counts) if (c.wave === w.index) byState[c.state] = c.n;
        return {
          index: w.index,
          soakSeconds: w.soakSeconds,
          requireApproval: w.requireApproval,
          status: w.status,
          size: Object.values(byState).reduce((a, b) => a + b, 0),
          byState,
          startedAt: w.startedAt?.toISOString() ?? null,
          soakUntil: w.soakUntil?.toISOString() ?? null,
          evaluatedAt: w.evaluatedAt?.toISOString() ?? null,
          gate: (w.gate ?? null) as (ReturnType<typeof evaluateGates> & { baseline: Record<string, unknown> }) | null,
        };
      }),
      deviceStates: devices.map((d) => ({
        ...d,
        notifiedAt: d.notifiedAt?.toISOString() ?? null,
        appliedAt: d.appliedAt?.toISOString() ?? null,
        figures: (d.figures ?? null) as Record<string, number | string | null> | null,
      })),
    };
  }
}

/** A rollout in one of these statuses holds its devices (one active rollout per device). */
function isActive(status: string): boolean {
  return (ACTIVE_ROLLOUT_STATUSES as readonly string[]).includes(status);
}

function groupBy<T, K>(xs: readonly T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const x of xs) {
    const k = key(x);
    const l = m.get(k) ?? [];
    l.push(x);
    m.set(k, l);
  }
  return m;
}

/** Notifications at the rollout's rate, each with up to one slot of random jitter. */
function spread(jobs: PublishDesiredJob[], perSecond: number): PublishDesiredJob[] {
  const slot = 1_000 / perSecond;
  return jobs.map((j, i) => ({ ...j, delayMs: Math.floor(i * slot + Math.random() * slot) }));
}
