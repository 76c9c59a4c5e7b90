import { Inject, Injectable } from '@nestjs/common';
import { AssignmentsService } from '../assignments/assignments.service.js';
import { AssignmentRepository } from '../assignments/assignment.repository.js';
import type { AssignmentItem } from '../desired-state/desired-state.builder.js';
import type { PublishDesiredJob } from '../desired-state/desired-state.queue.js';
import { DesiredStateRepository } from '../desired-state/desired-state.repository.js';
import { DesiredStateService, publishJobs } from '../desired-state/desired-state.service.js';
import type { Tx } from '../infra/unit-of-work.js';
import { groupBy } from './rollout-plan.js';
import { RolloutDeviceRepository } from './rollout-device.repository.js';
import { RolloutRepository, type RolloutRow, type TargetDevice } from './rollout.repository.js';

/** Sends the devices a rollout changed back to what they ran before it. */
@Injectable()
export class RolloutRollbackService {
  constructor(
    @Inject(RolloutRepository) private readonly rollouts: RolloutRepository,
    @Inject(RolloutDeviceRepository) private readonly members: RolloutDeviceRepository,
    @Inject(DesiredStateRepository) private readonly assignmentHistory: DesiredStateRepository,
    @Inject(AssignmentRepository) private readonly assignmentReads: AssignmentRepository,
    @Inject(AssignmentsService) private readonly assignments: AssignmentsService,
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
  ) {}

  /**
   * A new, higher-numbered assignment pinning what each changed device (of one wave, or of all
   * when `wave` is null) ran before the rollout (the agent's anti-rollback watermark accepts it
   * because the number is new), in the caller's transaction.
   */
  async rollBack(tx: Tx, r: RolloutRow, wave: number | null, reason: string): Promise<PublishDesiredJob[]> {
    const rows = await this.members.changed(tx, r.id, wave);
    if (rows.length === 0) return [];
    const prevOf = await this.assignmentHistory.variantsAt(
      tx,
      rows.map((x) => ({ deviceId: x.deviceId, version: x.fromAssignmentVersion ?? 0 })),
    );
    const choices = await this.assignmentHistory.choicesOf([...new Set([...prevOf.values()].flatMap((v) => (v ? [v] : [])))]);
    const devices = await this.rollouts.targetDevices(
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
    items.push(...(await this.outsideRollout(r, fresh, reason)));
    const states = await this.desired.issue(tx, items, `rollout:${r.id}`);
    await this.members.markRolledBack(
      tx,
      r.id,
      states.map((s) => s.deviceId),
    );
    return publishJobs(states);
  }

  /** A device that had nothing before gets what its scenario runs outside the rollout, if anything. */
  private async outsideRollout(r: RolloutRow, fresh: TargetDevice[], reason: string): Promise<AssignmentItem[]> {
    const items: AssignmentItem[] = [];
    for (const [scenario, group] of groupBy(fresh, (d) => d.scenario)) {
      const mv = await this.assignmentReads.scenarioModelVersion(scenario);
      const decisions =
        mv && mv !== r.modelVersionId
          ? await this.assignments.decide(scenario, mv, group)
          : group.map((device) => ({ device, choice: null }));
      for (const d of decisions) items.push({ device: d.device, choice: d.choice, reason });
    }
    return items;
  }
}
