import { Inject, Injectable } from '@nestjs/common';
import {
  DEFAULT_GATES,
  evaluateGates,
  LatencyHistogram,
  quantileOf,
  type BaselineFigures,
  type DeviceEvidence,
  type LatencyPercentile,
  type Scenario,
} from '@edge-fleet/shared';
import { AuditRepository } from '../infra/audit.repository.js';
import type { JsonValue } from '../infra/json.js';
import { UnitOfWork, type Tx } from '../infra/unit-of-work.js';
import { PolicyRepository } from '../policies/policy.repository.js';
import { TelemetryIngestService } from '../telemetry/telemetry-ingest.service.js';
import { none, ROLLOUT_TX, spread, type FollowUps, type RolloutPlan } from './rollout-plan.js';
import { RolloutDeviceRepository } from './rollout-device.repository.js';
import { RolloutRollbackService } from './rollout-rollback.service.js';
import { RolloutTargetingService } from './rollout-targeting.service.js';
import { RolloutTransitionsService } from './rollout-transitions.service.js';
import { RolloutRepository, type RolloutRow, type WaveRow } from './rollout.repository.js';

/** How long a wave's verdict waits for an ingest that has fallen behind before it looks again. */
const INGEST_CATCH_UP_MS = 1_000;

type GateVerdict = ReturnType<typeof evaluateGates>;

/** The step engine: each queued step starts a wave, waits out its soak, or judges it against its gates. */
@Injectable()
export class RolloutStepsService {
  constructor(
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
    @Inject(RolloutRepository) private readonly rollouts: RolloutRepository,
    @Inject(RolloutDeviceRepository) private readonly members: RolloutDeviceRepository,
    @Inject(RolloutTransitionsService) private readonly transitions: RolloutTransitionsService,
    @Inject(RolloutTargetingService) private readonly targeting: RolloutTargetingService,
    @Inject(RolloutRollbackService) private readonly rollback: RolloutRollbackService,
    @Inject(PolicyRepository) private readonly policies: PolicyRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(TelemetryIngestService) private readonly ingest: TelemetryIngestService,
  ) {}

  /** Runs one step if the rollout is still at it; BullMQ calls this (possibly twice, or late). */
  readonly advance = async (job: { rolloutId: string; step: number }): Promise<void> => {
    const follow = await this.uow.run(async (tx): Promise<FollowUps> => {
      // NOWAIT: whoever holds the row runs this step; if that one fails, this job's retry finds the step again
      const r = await this.rollouts.lockRollout(tx, job.rolloutId, false);
      if (!r || r.step !== job.step || r.status !== 'running') return none();
      const waves = await this.rollouts.waves(r.id, tx);
      const wave = waves[r.currentWave];
      if (!wave) return none();
      if (wave.status === 'pending') return this.pending(tx, r, wave);
      if (wave.status === 'soaking') return this.soaking(tx, r, wave, waves.length);
      return none();
    }, ROLLOUT_TX);
    await this.transitions.apply(follow);
  };

  private async pending(tx: Tx, r: RolloutRow, wave: WaveRow): Promise<FollowUps> {
    if (!wave.requireApproval) return this.startWave(tx, r, wave, r.plan as RolloutPlan);
    await this.transitions.transition(tx, r, {
      status: 'awaiting_approval',
      reason: `wave ${wave.index + 1} waits for an operator's approval`,
    });
    await this.audit.append(tx, {
      actor: 'system',
      action: 'rollout.awaiting_approval',
      targetType: 'rollout',
      targetId: r.id,
      details: { wave: wave.index },
    });
    return none();
  }

  private async soaking(tx: Tx, r: RolloutRow, wave: WaveRow, waveCount: number): Promise<FollowUps> {
    const left = (wave.soakUntil?.getTime() ?? 0) - Date.now();
    if (left > 0) {
      const step = await this.transitions.transition(tx, r, {});
      return { desired: [], step: { rolloutId: r.id, step, delayMs: left } };
    }
    if (this.ingestBlind()) {
      // windows the devices sent are still waiting for Postgres: judging now would count them
      // as silence (row 19), so the wave is judged once the ingest has caught up
      const step = await this.transitions.transition(tx, r, {});
      return { desired: [], step: { rolloutId: r.id, step, delayMs: INGEST_CATCH_UP_MS } };
    }
    return this.evaluateWave(tx, r, wave, waveCount, r.plan as RolloutPlan);
  }

  /** This replica's ingest failed its last flush or holds windows older than one catch-up period. */
  private ingestBlind(): boolean {
    const h = this.ingest.health();
    return h.consecutiveFailedFlushes > 0 || h.oldestBufferedSeconds * 1_000 > INGEST_CATCH_UP_MS;
  }

  private async startWave(tx: Tx, r: RolloutRow, wave: WaveRow, plan: RolloutPlan): Promise<FollowUps> {
    const ids = await this.members.pendingInWave(tx, r.id, wave.index);
    const devices = await this.rollouts.targetDevices({}, ids, tx);
    const { desired, skipped } = await this.targeting.notify(tx, r, await this.targeting.decideFor(r, devices), false);
    const gone = ids.filter((id) => !devices.some((d) => d.id === id));
    if (gone.length) await this.members.markSkipped(tx, r.id, gone, 'revoked before its wave');
    const now = new Date();
    // the soak starts for the last device when its (rate-limited) notification goes out
    const spreadMs = Math.ceil((desired.length / plan.notifyRatePerSecond) * 1_000);
    const soakUntil = new Date(now.getTime() + spreadMs + wave.soakSeconds * 1_000);
    await this.rollouts.updateWave(tx, r.id, wave.index, { status: 'soaking', startedAt: now, soakUntil });
    const step = await this.transitions.transition(tx, r, {
      reason: `wave ${wave.index + 1} started: ${desired.length} device(s) notified${skipped ? `, ${skipped} refused (no variant fits)` : ''}`,
    });
    const notifications = spread(desired, plan.notifyRatePerSecond);
    // each device's notification time is kept, so the sweep re-queues a lost one for that time, never sooner
    await this.members.scheduleNotifications(
      tx,
      r.id,
      notifications.map((n) => ({ deviceId: n.deviceId, at: new Date(now.getTime() + (n.delayMs ?? 0)) })),
    );
    await this.audit.append(tx, {
      actor: 'system',
      action: 'rollout.wave_started',
      targetType: 'rollout',
      targetId: r.id,
      details: { wave: wave.index, notified: desired.length, skipped: skipped + gone.length, soakUntil: soakUntil.toISOString() },
    });
    return {
      desired: notifications,
      step: { rolloutId: r.id, step, delayMs: soakUntil.getTime() - now.getTime() },
    };
  }

  /** What each device of the wave showed, judged by its scenario's tier targets. */
  private async evidence(tx: Tx, r: RolloutRow, wave: WaveRow): Promise<DeviceEvidence[]> {
    const rows = await this.members.evidence(r.id, wave.index);
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
      await this.members.markAppliedFromTelemetry(tx, r.id, running);
      for (const e of evidence) if (running.includes(e.deviceId)) e.state = 'applied';
    }
    return evidence;
  }

  private async evaluateWave(tx: Tx, r: RolloutRow, wave: WaveRow, waveCount: number, plan: RolloutPlan): Promise<FollowUps> {
    const evidence = await this.evidence(tx, r, wave);
    const baseline = await this.members.baseline(r.id, wave.startedAt ?? new Date(0));
    // a wave's own gates replace the rollout's (a stricter canary, a looser last wave)
    const gates = plan.waves[wave.index]?.gates ?? plan.gates ?? DEFAULT_GATES;
    const result = evaluateGates(evidence, gates, (hc) => baseline.get(hc) ?? null, new Date());
    const stored = { ...result, baseline: baselineSummary(baseline) } as unknown as JsonValue;
    if (result.outcome === 'insufficient_evidence') return this.insufficient(tx, r, wave, plan, result, stored);
    await this.audit.append(tx, {
      actor: 'system',
      action: result.passed ? 'rollout.wave_passed' : 'rollout.wave_failed',
      targetType: 'rollout',
      targetId: r.id,
      details: { wave: wave.index, gate: stored },
    });
    const save = async (status: string): Promise<void> => {
      await this.rollouts.saveGate(tx, r.id, wave.index, status, stored, new Date(result.evaluatedAt));
      await this.members.saveFigures(tx, r.id, figuresOf(evidence));
    };
    if (result.passed) {
      await save('passed');
      return this.passed(tx, r, wave, waveCount);
    }
    const why = `wave ${wave.index + 1} failed its gates: ${failureSummary(result)}`;
    if (plan.failurePolicy === 'pause') {
      await save('failed');
      await this.transitions.transition(tx, r, { status: 'paused', reason: why });
      return none();
    }
    await save('rolled_back');
    const desired = await this.rollback.rollBack(tx, r, wave.index, `rollout "${r.name}" rolled back: ${why}`);
    await this.transitions.transition(tx, r, {
      status: 'rolled_back',
      reason: `${why}; ${desired.length} device(s) sent back to their previous model`,
    });
    return { desired, step: null };
  }

  /**
   * Too little evidence to judge: the soak is extended (the gates look again) until the wave's
   * evidence wait runs out; then the verdict is `insufficient_evidence`, never a pass or a fail by
   * accident, and the rollout pauses for an operator (resume soaks the wave again).
   */
  private async insufficient(
    tx: Tx,
    r: RolloutRow,
    wave: WaveRow,
    plan: RolloutPlan,
    result: GateVerdict,
    stored: JsonValue,
  ): Promise<FollowUps> {
    const waitSeconds = plan.waves[wave.index]?.evidenceWaitSeconds ?? Math.min(86_400, wave.soakSeconds);
    const deadline = (wave.soakUntil?.getTime() ?? Date.now()) + waitSeconds * 1_000;
    const left = deadline - Date.now();
    const evaluatedAt = new Date(result.evaluatedAt);
    if (left > 0) {
      // the wave keeps soaking; its gate result says what it waits for
      await this.rollouts.saveGate(tx, r.id, wave.index, 'soaking', stored, evaluatedAt);
      const step = await this.transitions.transition(tx, r, {});
      return { desired: [], step: { rolloutId: r.id, step, delayMs: Math.min(left, evidenceRecheckMs(wave.soakSeconds)) } };
    }
    const why = `wave ${wave.index + 1} has insufficient evidence after ${wave.soakSeconds} s of soak and ${waitSeconds} s of waiting: ${waitingSummary(result)}`;
    await this.rollouts.saveGate(tx, r.id, wave.index, 'insufficient_evidence', stored, evaluatedAt);
    await this.audit.append(tx, {
      actor: 'system',
      action: 'rollout.wave_insufficient_evidence',
      targetType: 'rollout',
      targetId: r.id,
      details: { wave: wave.index, gate: stored },
    });
    await this.transitions.transition(tx, r, { status: 'paused', reason: why });
    return none();
  }

  /** The next wave, or — after the last — the rollout completes (and a whole scenario now runs the model). */
  private async passed(tx: Tx, r: RolloutRow, wave: WaveRow, waveCount: number): Promise<FollowUps> {
    if (wave.index + 1 < waveCount) {
      const step = await this.transitions.transition(tx, r, {
        currentWave: wave.index + 1,
        reason: `wave ${wave.index + 1} passed its gates`,
      });
      return { desired: [], step: { rolloutId: r.id, step, delayMs: 0 } };
    }
    const target = r.target;
    const wholeScenario = target.scenario !== undefined && !target.labels && !target.deviceIds;
    if (wholeScenario) await this.policies.setScenarioModel(tx, target.scenario as Scenario, r.modelVersionId);
    await this.transitions.transition(tx, r, {
      status: 'completed',
      reason: `all ${waveCount} wave(s) passed their gates${wholeScenario ? `; ${target.scenario} now runs this model version` : ''}`,
    });
    return none();
  }
}

/** Each device's figures as the wave's gates saw them. */
function figuresOf(evidence: DeviceEvidence[]): Map<string, JsonValue> {
  return new Map(
    evidence.map((e) => [
      e.deviceId,
      {
        windows: e.windows,
        inferences: e.inferences,
        errors: e.errors,
        // hybrid devices: requests a cloud node took, which the gates above did not judge
        remoteInferences: e.remoteInferences ?? 0,
        remoteShare: (e.remoteInferences ?? 0) > 0 ? (e.remoteInferences ?? 0) / (e.inferences + (e.remoteInferences ?? 0)) : 0,
        // from the merged histogram; old agents' median of window percentiles is marked approximate
        latencyMs: e.histogram ? LatencyHistogram.fromSparse(e.histogram).quantile(quantileOf(e.policy.latencyPercentile)) : e.latencyMs,
        latencyApproximate: e.histogram === null && e.latencyMs !== null,
        histogramWindows: e.histogramWindows,
        percentile: e.policy.latencyPercentile,
        targetMs: Number.isFinite(e.policy.latencyTargetMs) ? e.policy.latencyTargetMs : null,
        powerW: e.powerW,
        powerSource: e.powerSource,
      },
    ]),
  );
}

/** How often a waiting wave's gates look again: a few times per soak period, between 1 s and 30 s. */
function evidenceRecheckMs(soakSeconds: number): number {
  return Math.max(1_000, Math.min(30_000, (soakSeconds * 1_000) / 3));
}

/** The baseline as stored with the verdict: its figures, without every device's histogram (the classes carry the plots). */
function baselineSummary(baseline: Map<string, BaselineFigures>): Record<string, unknown> {
  return Object.fromEntries(
    [...baseline].map(([hc, b]) => [
      hc,
      { devices: b.devices, latencyMs: b.latencyMs, errorRate: b.errorRate, withHistograms: b.distributions.length },
    ]),
  );
}

/** The gates waiting for evidence in words, with their counts. */
function waitingSummary(result: GateVerdict): string {
  return result.gates
    .filter((g) => g.outcome === 'insufficient_evidence')
    .map((g) => {
      const classes = (g.classes ?? []).filter((c) => c.verdict === 'insufficient_evidence').map((c) => c.why);
      const devices = (g.waitingDevices ?? []).slice(0, 3).map((d) => `${d.deviceId}: ${d.why}`);
      return `${g.metric} (${[...classes, ...devices].join('; ') || g.detail})`;
    })
    .join(', ');
}

/** The failed gates in words, with up to three failing devices each. */
function failureSummary(result: GateVerdict): string {
  return result.gates
    .filter((g) => g.outcome === 'failed')
    .map(
      (g) =>
        `${g.metric} (${g.failing} of ${g.judged} device(s): ${g.failingDevices
          .slice(0, 3)
          .map((d) => d.why)
          .join('; ')})`,
    )
    .join(', ');
}
