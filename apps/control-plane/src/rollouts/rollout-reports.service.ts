import { Inject, Injectable } from '@nestjs/common';
import type { UpdateOutcome } from '@edge-fleet/shared';
import { AuditRepository } from '../infra/audit.repository.js';
import { UnitOfWork } from '../infra/unit-of-work.js';
import { isActive, none, ROLLOUT_TX, type FollowUps } from './rollout-plan.js';
import { RolloutDeviceRepository } from './rollout-device.repository.js';
import { RolloutTargetingService } from './rollout-targeting.service.js';
import { RolloutTransitionsService } from './rollout-transitions.service.js';
import { RolloutRepository, type RolloutRow, type TargetDevice } from './rollout.repository.js';

/** What devices tell rollouts: their update reports, and their enrollment into a rollout's target. */
@Injectable()
export class RolloutReportsService {
  constructor(
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
    @Inject(RolloutRepository) private readonly rollouts: RolloutRepository,
    @Inject(RolloutDeviceRepository) private readonly members: RolloutDeviceRepository,
    @Inject(RolloutTargetingService) private readonly targeting: RolloutTargetingService,
    @Inject(RolloutTransitionsService) private readonly transitions: RolloutTransitionsService,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /** Reports from devices (each device once) move their states in their active rollouts (applied, or failed with the reason). */
  async onReported(
    reports: readonly {
      deviceId: string;
      appliedAssignmentVersion: number | null;
      activeVariantId: string | null;
      lastUpdate: UpdateOutcome | null;
    }[],
  ): Promise<void> {
    await this.members.recordReports(
      reports.map((r) => ({
        deviceId: r.deviceId,
        applied: r.appliedAssignmentVersion,
        activeVariantId: r.activeVariantId,
        lastUpdate: r.lastUpdate,
      })),
    );
  }

  /** The enrollment hook (see EnrollmentListener): a new device may belong to an active rollout. */
  deviceEnrolled(deviceId: string): Promise<void> {
    return this.joinIfTargeted(deviceId);
  }

  /** A device enrolled into an active rollout's target joins its current wave (notified at once if that wave runs). */
  async joinIfTargeted(deviceId: string): Promise<void> {
    // reads first, without locks: most enrollments meet no active rollout
    let match: { r: RolloutRow; device: TargetDevice } | null = null;
    for (const r of await this.rollouts.activeRollouts()) {
      const [device] = await this.rollouts.targetDevices(r.target, [deviceId]);
      if (device) {
        match = { r, device };
        break;
      }
    }
    if (!match) return;
    const decided = await this.targeting.decideFor(match.r, [match.device]);
    const follow = await this.uow.run(async (tx): Promise<FollowUps> => {
      await this.rollouts.lockMembership(tx);
      if ((await this.members.conflicts(tx, [deviceId])).length) return none();
      const r = await this.rollouts.lockRollout(tx, match.r.id);
      if (!r || !isActive(r.status)) return none();
      const wave = (await this.rollouts.waves(r.id, tx))[r.currentWave];
      if (!wave) return none();
      await this.members.addLate(tx, r.id, deviceId, wave.index);
      const now = wave.status === 'soaking' && r.status === 'running';
      const { desired } = now ? await this.targeting.notify(tx, r, decided, true) : { desired: [] };
      await this.audit.append(tx, {
        actor: 'system',
        action: 'rollout.device_joined',
        targetType: 'rollout',
        targetId: r.id,
        details: { deviceId, wave: wave.index, notified: desired.length > 0 },
      });
      return { desired, step: null };
    }, ROLLOUT_TX);
    await this.transitions.apply(follow);
  }
}
