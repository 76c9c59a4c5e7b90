import { Inject, Injectable } from '@nestjs/common';
import { DesiredStateService } from '../desired-state/desired-state.service.js';
import { RolloutDeviceRepository } from './rollout-device.repository.js';
import { RolloutQueue } from './rollout.queue.js';
import { RolloutRepository } from './rollout.repository.js';

/** Recovery: every running rollout has its current step queued, and its soaking wave's notifications sent. */
@Injectable()
export class RolloutSweepService {
  constructor(
    @Inject(RolloutRepository) private readonly rollouts: RolloutRepository,
    @Inject(RolloutDeviceRepository) private readonly members: RolloutDeviceRepository,
    @Inject(RolloutQueue) private readonly queue: RolloutQueue,
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
  ) {}

  /**
   * Makes sure every running rollout has its current step queued (ids are deterministic, so this is
   * a no-op when it is): after a restart, or when a replica died between commit and enqueue. The
   * worker's maintenance job scheduler runs it every ROLLOUT_SWEEP_MS.
   */
  async sweep(): Promise<void> {
    for (const r of await this.rollouts.runningRollouts()) {
      const wave = (await this.rollouts.waves(r.id))[r.currentWave];
      const delayMs = wave?.status === 'soaking' ? Math.max(0, (wave.soakUntil?.getTime() ?? 0) - Date.now()) : 0;
      await this.queue.enqueue({ rolloutId: r.id, step: r.step }, delayMs);
      if (wave?.status !== 'soaking') continue;
      // a notification lost between commit and enqueue goes out at its own time (the rollout's rate);
      // one already queued or sent has a job under the same id, and is not sent again
      const now = Date.now();
      const notified = await this.members.notifiedInWave(r.id, wave.index);
      await this.desired.enqueueEach(
        notified.map((n) => ({
          deviceId: n.deviceId,
          assignmentVersion: n.assignmentVersion,
          delayMs: Math.max(0, (n.notifiedAt?.getTime() ?? 0) - now),
        })),
      );
    }
  }
}
