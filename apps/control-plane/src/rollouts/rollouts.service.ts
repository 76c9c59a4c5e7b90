import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_GATES, orderForWaves, planWaveSizes, RolloutPlanError, type CreateRollout, type UpdateOutcome } from '@edge-fleet/shared';
import { AssignmentRepository } from '../assignments/assignment.repository.js';
import type { DeviceScope } from '../auth/scope.js';
import { AppError } from '../errors.js';
import { AuditRepository } from '../infra/audit.repository.js';
import type { Logger } from '../infra/logger.js';
import { LOGGER } from '../infra/tokens.js';
import { UnitOfWork, type Tx } from '../infra/unit-of-work.js';
import { isActive, none, ROLLOUT_TX, type FollowUps, type RolloutPlan } from './rollout-plan.js';
import { RolloutDeviceRepository } from './rollout-device.repository.js';
import { RolloutReportsService } from './rollout-reports.service.js';
import { RolloutRollbackService } from './rollout-rollback.service.js';
import { RolloutStepsService } from './rollout-steps.service.js';
import { RolloutSweepService } from './rollout-sweep.service.js';
import { RolloutTransitionsService } from './rollout-transitions.service.js';
import { RolloutViewsService, type RolloutSummary, type RolloutView } from './rollout-views.service.js';
import { RolloutQueue } from './rollout.queue.js';
import { RolloutRepository, type RolloutRow, type TargetDevice, type WaveRow } from './rollout.repository.js';

export type { RolloutPlan } from './rollout-plan.js';
export type { RolloutSummary, RolloutView } from './rollout-views.service.js';

/**
 * The rollouts domain's public face: operator actions (create, pause, resume, approve, abort) live
 * here; the step engine, device reports, the sweep and the views are their own services, reached
 * through this one by the edges and the entry points.
 */
@Injectable()
export class RolloutsService {
  private readonly log: Logger;

  constructor(
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
    @Inject(RolloutRepository) private readonly rollouts: RolloutRepository,
    @Inject(RolloutDeviceRepository) private readonly members: RolloutDeviceRepository,
    @Inject(AssignmentRepository) private readonly assignmentReads: AssignmentRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(RolloutTransitionsService) private readonly transitions: RolloutTransitionsService,
    @Inject(RolloutRollbackService) private readonly rollback: RolloutRollbackService,
    @Inject(RolloutStepsService) private readonly steps: RolloutStepsService,
    @Inject(RolloutReportsService) private readonly reports: RolloutReportsService,
    @Inject(RolloutSweepService) private readonly sweeper: RolloutSweepService,
    @Inject(RolloutViewsService) private readonly views: RolloutViewsService,
    @Inject(RolloutQueue) private readonly queue: RolloutQueue,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('rollouts');
  }

  // ---------------------------------------------------------------- operator actions

  async create(input: CreateRollout, actor: string): Promise<RolloutView> {
    const version = await this.assignmentReads.versionVariants(input.modelVersionId);
    if (!version) throw new AppError('not_found', `model version ${input.modelVersionId} not found`);
    if (!version.variants.some((v) => v.status === 'ready' && v.sha256))
      throw new AppError(
        'invalid_request',
        `model version ${input.modelVersionId} has no ready variant yet (its variants are still building or all failed)`,
      );
    if (input.target.deviceIds) await this.refuseUnknown(input.target.deviceIds);
    const devices = await this.rollouts.targetDevices(input.target);
    const sizes = waveSizes(devices.length, input.waves);
    const plan: RolloutPlan = {
      waves: input.waves,
      gates: input.gates ?? [...DEFAULT_GATES],
      failurePolicy: input.failurePolicy,
      notifyRatePerSecond: input.notifyRatePerSecond,
    };
    const name = input.name ?? `${version.name} ${version.version}`;
    // Redis away: 503 now, no rollout stored (its steps could not be queued)
    await this.queue.assertReachable();
    const id = await this.uow.run(async (tx) => {
      await this.rollouts.lockMembership(tx);
      await this.refuseBusy(
        tx,
        devices.map((d) => d.id),
      );
      const id = await this.rollouts.create(tx, {
        name,
        modelVersionId: input.modelVersionId,
        target: input.target,
        plan,
        createdBy: actor,
        waves: input.waves,
      });
      await this.members.add(tx, id, placeInWaves(devices, id, sizes));
      await this.audit.append(tx, {
        actor,
        action: 'rollout.created',
        targetType: 'rollout',
        targetId: id,
        details: { name, modelVersionId: input.modelVersionId, target: input.target, waveSizes: sizes, devices: devices.length },
      });
      return id;
    }, ROLLOUT_TX);
    this.log.info('rollout created', { id, devices: devices.length, waves: sizes });
    // Redis gone since the check: the rollout is committed, and the sweep queues its step once Redis is back
    await this.queue.enqueue({ rolloutId: id, step: 1 }).catch((e: unknown) =>
      this.log.warn('could not queue the first rollout step; the rollout sweep will', {
        id,
        error: e instanceof Error ? e.message : String(e),
      }),
    );
    return this.get(id);
  }

  async pause(id: string, actor: string): Promise<RolloutView> {
    await this.act(id, actor, 'pause', async (tx, r) => {
      if (r.status !== 'running' && r.status !== 'awaiting_approval')
        throw new AppError('conflict', `rollout ${id} is ${r.status}; only a running rollout or one awaiting approval can be paused`);
      await this.transitions.transition(tx, r, { status: 'paused', reason: `paused by ${actor}` });
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
      if (wave && (wave.status === 'failed' || wave.status === 'soaking' || wave.status === 'insufficient_evidence')) {
        const soakUntil = new Date(Date.now() + wave.soakSeconds * 1_000);
        await this.rollouts.updateWave(tx, id, wave.index, { status: 'soaking', soakUntil });
        delayMs = wave.soakSeconds * 1_000;
      }
      const step = await this.transitions.transition(tx, r, { status: 'running', reason: `resumed by ${actor}` });
      return { desired: [], step: { rolloutId: id, step, delayMs } };
    });
    return this.get(id);
  }

  async approve(id: string, actor: string): Promise<RolloutView> {
    await this.act(id, actor, 'approve', async (tx, r, waves) => {
      const wave = waves[r.currentWave];
      if (r.status !== 'awaiting_approval' || !wave)
        throw new AppError('conflict', `rollout ${id} is ${r.status}; there is no wave awaiting approval`);
      await this.rollouts.updateWave(tx, id, wave.index, { requireApproval: false });
      const step = await this.transitions.transition(tx, r, { status: 'running', reason: `wave ${wave.index + 1} approved by ${actor}` });
      return { desired: [], step: { rolloutId: id, step, delayMs: 0 } };
    });
    return this.get(id);
  }

  /** Stops the rollout and sends every device it changed back to what it ran before. */
  async abort(id: string, actor: string): Promise<RolloutView> {
    await this.act(id, actor, 'abort', async (tx, r) => {
      if (!isActive(r.status)) throw new AppError('conflict', `rollout ${id} is ${r.status}; it has already ended`);
      const desired = await this.rollback.rollBack(tx, r, null, `rollout "${r.name}" aborted by ${actor}`);
      await this.rollouts.markStartedWavesRolledBack(tx, id);
      await this.transitions.transition(tx, r, {
        status: 'aborted',
        reason: `aborted by ${actor}; ${desired.length} device(s) sent back to their previous model`,
      });
      return { desired, step: null };
    });
    return this.get(id);
  }

  /** An operator action on a locked rollout, audited in its transaction; its follow-ups go out after the commit. */
  private async act(
    id: string,
    actor: string,
    action: string,
    fn: (tx: Tx, r: RolloutRow, waves: WaveRow[]) => Promise<FollowUps>,
  ): Promise<void> {
    const follow = await this.uow.run(async (tx) => {
      const r = await this.rollouts.lockRollout(tx, id);
      if (!r) throw new AppError('not_found', `rollout ${id} not found`);
      const out = await fn(tx, r, await this.rollouts.waves(id, tx));
      await this.audit.append(tx, { actor, action: `rollout.${action}`, targetType: 'rollout', targetId: id, details: { from: r.status } });
      return out;
    }, ROLLOUT_TX);
    await this.transitions.apply(follow);
  }

  private async refuseUnknown(deviceIds: string[]): Promise<void> {
    const unknown = await this.rollouts.unknownDevices(deviceIds);
    if (unknown.length)
      throw new AppError(
        'invalid_request',
        `target.deviceIds: ${unknown.length} unknown or revoked device(s): ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}`,
      );
  }

  /** One active rollout per device: a target overlapping another active rollout is refused. */
  private async refuseBusy(tx: Tx, deviceIds: string[]): Promise<void> {
    const busy = await this.members.conflicts(tx, deviceIds);
    if (!busy.length) return;
    const rollouts = [...new Map(busy.map((b) => [b.rolloutId, `${b.name} (${b.rolloutId})`])).values()];
    throw new AppError(
      'conflict',
      `${busy.length} target device(s) are already in active rollout ${rollouts.join(', ')}: ${busy
        .slice(0, 10)
        .map((b) => b.deviceId)
        .join(', ')}${busy.length > 10 ? ', …' : ''}`,
    );
  }

  // ---------------------------------------------------------------- the rest of the domain

  /** Runs one step if the rollout is still at it (the rollout queue's handler). */
  readonly advance = (job: { rolloutId: string; step: number }): Promise<void> => this.steps.advance(job);

  onReported(
    reports: readonly {
      deviceId: string;
      appliedAssignmentVersion: number | null;
      activeVariantId: string | null;
      lastUpdate: UpdateOutcome | null;
    }[],
  ): Promise<void> {
    return this.reports.onReported(reports);
  }

  sweep(): Promise<void> {
    return this.sweeper.sweep();
  }

  /** `scope`: a scoped token's reach; it sees only the rollouts whose target lies inside it. */
  list(scope?: DeviceScope): Promise<RolloutSummary[]> {
    return this.views.list(scope);
  }

  get(id: string, scope?: DeviceScope): Promise<RolloutView> {
    return this.views.get(id, scope);
  }
}

function waveSizes(devices: number, waves: CreateRollout['waves']): number[] {
  try {
    return planWaveSizes(devices, waves);
  } catch (e) {
    if (e instanceof RolloutPlanError) throw new AppError('invalid_request', e.message);
    throw e;
  }
}

/** Each device's wave: a stable pseudo-random order per rollout, cut into the planned sizes. */
function placeInWaves(devices: TargetDevice[], rolloutId: string, sizes: number[]): { deviceId: string; wave: number }[] {
  const ordered = orderForWaves(devices, rolloutId, (s) => createHash('sha256').update(s).digest('hex'));
  const out: { deviceId: string; wave: number }[] = [];
  let at = 0;
  sizes.forEach((size, wave) => {
    for (const d of ordered.slice(at, at + size)) out.push({ deviceId: d.id, wave });
    at += size;
  });
  return out;
}
