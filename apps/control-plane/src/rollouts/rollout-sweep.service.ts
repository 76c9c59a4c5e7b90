import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '../config.js';
import { DesiredStateService } from '../desired-state/desired-state.service.js';
import type { Logger } from '../infra/logger.js';
import { CONFIG, LOGGER, ROLLOUT_QUEUE } from '../infra/tokens.js';
import { RolloutDeviceRepository } from './rollout-device.repository.js';
import type { RolloutQueue } from './rollout.queue.js';
import { RolloutRepository } from './rollout.repository.js';

/** Recovery: every running rollout has its current step queued, and its soaking wave's notifications sent. */
@Injectable()
export class RolloutSweepService {
  private readonly log: Logger;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(RolloutRepository) private readonly rollouts: RolloutRepository,
    @Inject(RolloutDeviceRepository) private readonly members: RolloutDeviceRepository,
    @Inject(ROLLOUT_QUEUE) private readonly queue: RolloutQueue,
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('rollouts');
  }

  /**
   * Makes sure every running rollout has its current step queued (ids are deterministic, so this is
   * a no-op when it is): after a restart, or when a replica died between commit and enqueue.
   */
  async sweep(): Promise<void> {
    for (const r of await this.rollouts.runningRollouts()) {
      const wave = (await this.rollouts.waves(r.id))[r.currentWave];
      const delayMs = wave?.status === 'soaking' ? Math.max(0, (wave.soakUntil?.getTime() ?? 0) - Date.now()) : 0;
      await this.queue.enqueue({ rolloutId: r.id, step: r.step }, delayMs);
      if (wave?.status === 'soaking') await this.desired.enqueue(await this.members.notifiedInWave(r.id, wave.index));
    }
  }

  startSweeping(): void {
    const run = () =>
      void this.sweep().catch((e: unknown) => this.log.warn('rollout sweep failed', { error: e instanceof Error ? e.message : String(e) }));
    run();
    this.sweepTimer = setInterval(run, this.config.ROLLOUT_SWEEP_MS);
    this.sweepTimer.unref();
  }

  stopSweeping(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }
}
