import { Inject, Injectable } from '@nestjs/common';
import { AssignmentsService } from '../assignments/assignments.service.js';
import type { AssignmentItem } from '../desired-state/desired-state.builder.js';
import type { PublishDesiredJob } from '../desired-state/desired-state.queue.js';
import { DesiredStateService, publishJobs } from '../desired-state/desired-state.service.js';
import type { Tx } from '../infra/unit-of-work.js';
import { groupBy } from './rollout-plan.js';
import { RolloutDeviceRepository } from './rollout-device.repository.js';
import type { RolloutRow, TargetDevice } from './rollout.repository.js';

/** Which variant each device gets, or why none fits. */
export interface Decided {
  items: (AssignmentItem & { variantId: string })[];
  refused: { id: string; reason: string }[];
}

/** Gives devices the rollout's model: the variant that fits each, or a refusal that fails its update gate. */
@Injectable()
export class RolloutTargetingService {
  constructor(
    @Inject(AssignmentsService) private readonly assignments: AssignmentsService,
    @Inject(DesiredStateService) private readonly desired: DesiredStateService,
    @Inject(RolloutDeviceRepository) private readonly members: RolloutDeviceRepository,
  ) {}

  /** Which variant each device gets (reads only: done before the caller takes locks where it can). */
  async decideFor(r: Pick<RolloutRow, 'name' | 'modelVersionId'>, devices: TargetDevice[]): Promise<Decided> {
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
  async notify(
    tx: Tx,
    r: RolloutRow,
    { items, refused }: Decided,
    late: boolean,
  ): Promise<{ desired: PublishDesiredJob[]; skipped: number }> {
    const states = await this.desired.issue(tx, items, `rollout:${r.id}`);
    const variantOf = new Map(items.map((i) => [i.device.id, i.variantId]));
    await this.members.markNotified(
      tx,
      r.id,
      states.map((s) => ({ deviceId: s.deviceId, assignmentVersion: s.assignmentVersion, variantId: variantOf.get(s.deviceId) ?? null })),
      late,
    );
    // a device the model cannot run on fails the wave's update gate: a wave of such devices used to
    // pass empty, and the rollout completed and moved the scenario to a model no device could run
    await this.members.markRefused(tx, r.id, refused);
    return { desired: publishJobs(states), skipped: refused.length };
  }
}
