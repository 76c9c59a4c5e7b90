import { Inject, Injectable } from '@nestjs/common';
import type { evaluateGates } from '@edge-fleet/shared';
import { RolloutTargetSchema } from '@edge-fleet/shared';
import { inScope, type DeviceScope } from '../auth/scope.js';
import { AppError } from '../errors.js';
import type { RolloutPlan } from './rollout-plan.js';
import { RolloutDeviceRepository } from './rollout-device.repository.js';
import { RolloutRepository, type RolloutWithModel } from './rollout.repository.js';

export type RolloutView = Awaited<ReturnType<RolloutViewsService['get']>>;

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

/** Rollouts as operators see them: the list, and one rollout with its waves and devices. */
@Injectable()
export class RolloutViewsService {
  constructor(
    @Inject(RolloutRepository) private readonly rollouts: RolloutRepository,
    @Inject(RolloutDeviceRepository) private readonly members: RolloutDeviceRepository,
  ) {}

  async list(scope?: DeviceScope): Promise<RolloutSummary[]> {
    const rows = await this.rollouts.list(scope);
    const counts = await this.members.countsByRollout(rows.map((r) => r.id));
    return rows.map((r) => {
      const byState: Record<string, number> = {};
      for (const c of counts) if (c.rolloutId === r.id) byState[c.state] = c.n;
      return {
        ...header(r),
        waves: r.waves,
        devices: Object.values(byState).reduce((a, b) => a + b, 0),
        byState,
        failurePolicy: (r.plan as RolloutPlan).failurePolicy,
      };
    });
  }

  /** A rollout outside `scope` is answered as one that does not exist: a scoped token cannot probe for it. */
  async get(id: string, scope?: DeviceScope) {
    const r = await this.rollouts.find(id);
    if (!r || !targetInScope(r.target, scope)) throw new AppError('not_found', `rollout ${id} not found`);
    const [waves, counts, devices] = await Promise.all([this.rollouts.waves(id), this.members.counts(id), this.members.states(id)]);
    const plan = r.plan as RolloutPlan;
    return {
      ...header(r),
      target: r.target,
      plan,
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

/** Whether a rollout's target lies inside a token's scope: its scenario one of the token's (if it has any), its labels all of the token's. */
function targetInScope(target: unknown, scope: DeviceScope | undefined): boolean {
  if (!scope) return true;
  const t = RolloutTargetSchema.safeParse(target);
  // a stored target that no longer parses is shown only to unscoped tokens
  if (!t.success) return scope.scenarios.length === 0 && Object.keys(scope.labels).length === 0;
  return inScope(scope, { scenario: t.data.scenario ?? '', labels: t.data.labels ?? {} });
}

/** What the list and the single view both say of a rollout. */
function header(r: RolloutWithModel) {
  return {
    id: r.id,
    name: r.name,
    modelVersionId: r.modelVersionId,
    model: r.model,
    status: r.status,
    reason: r.reason,
    currentWave: r.currentWave,
    createdAt: r.createdAt.toISOString(),
    createdBy: r.createdBy,
    updatedAt: r.updatedAt.toISOString(),
  };
}
