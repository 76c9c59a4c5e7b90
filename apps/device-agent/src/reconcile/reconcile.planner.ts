import type { AgentPhase, DesiredModel, DesiredState, HealthTargets, RuntimeSettings, Scenario } from '@edge-fleet/shared';

export type CandidateStage = 'downloaded' | 'verified' | 'loaded' | 'smoked';

/** What the agent has right now, as plain data: the planner's only view of the world. */
export interface CurrentState {
  /** Highest assignmentVersion applied so far (anti-rollback watermark). */
  watermark: number | null;
  active: { model: DesiredModel; runtime: RuntimeSettings } | null;
  /** A model being brought up next to the active one. */
  candidate: { sha256: string; intraOpThreads: number | null; stage: CandidateStage } | null;
  /** sha256 of artifacts already verified and stored on disk. */
  verifiedArtifacts: ReadonlySet<string>;
  /** The last failed attempt; the same (version, sha) is not retried until the target changes. */
  failed: { assignmentVersion: number; sha256: string | null } | null;
  /** The watchdog asked to return to the previous slot; this comes before anything else. */
  rollbackRequested?: boolean;
}

export type Step =
  | { kind: 'discard-candidate'; sha256: string }
  | { kind: 'download'; model: DesiredModel }
  | { kind: 'verify'; model: DesiredModel }
  | { kind: 'load'; model: DesiredModel; intraOpThreads: number }
  /** `health`: the tier targets the candidate's smoke runs must meet, where the control plane sent them. */
  | { kind: 'smoke'; model: DesiredModel; health?: HealthTargets }
  | { kind: 'activate'; model: DesiredModel; runtime: RuntimeSettings; scenario: Scenario }
  | { kind: 'rollback' }
  | { kind: 'update-settings'; model: DesiredModel; runtime: RuntimeSettings }
  | { kind: 'unload' }
  | { kind: 'commit'; assignmentVersion: number };

export type StepKind = Step['kind'];

export type Acceptance = { accept: true } | { accept: false; reason: string };

/**
 * Anti-rollback: a desired state older than what was already applied is refused, and so is one older
 * than the target being applied (a replay must not pull an update back before it commits). The same
 * number is accepted: the control plane signs one state per number, so it is a re-delivery (the
 * retained copy after a restart), which lets an interrupted update resume.
 */
export function acceptDesired(desired: DesiredState, watermark: number | null, targetVersion: number | null = null): Acceptance {
  if (watermark !== null && desired.assignmentVersion < watermark) {
    return {
      accept: false,
      reason: `assignmentVersion ${desired.assignmentVersion} is below the applied watermark ${watermark}`,
    };
  }
  if (targetVersion !== null && desired.assignmentVersion < targetVersion) {
    return {
      accept: false,
      reason: `assignmentVersion ${desired.assignmentVersion} is below the target being applied ${targetVersion}`,
    };
  }
  return { accept: true };
}

/**
 * Pure: the steps that take `current` to `target`, in order. The reconciler executes the first,
 * refreshes `current` and plans again until the list is empty.
 */
export function plan(current: CurrentState, target: DesiredState | null): Step[] {
  if (current.rollbackRequested === true) return [{ kind: 'rollback' }];
  if (target === null || !acceptDesired(target, current.watermark).accept) return [];
  const sha = target.model?.sha256 ?? null;
  if (current.failed?.assignmentVersion === target.assignmentVersion && current.failed.sha256 === sha) return [];
  const candidate = current.candidate;
  const keepCandidate =
    candidate !== null &&
    candidate.sha256 === sha &&
    (candidate.intraOpThreads === null || candidate.intraOpThreads === target.runtime.intraOpThreads);
  const steps: Step[] = [];
  if (candidate !== null && !keepCandidate) steps.push({ kind: 'discard-candidate', sha256: candidate.sha256 });
  steps.push(...planModel(current, target, keepCandidate ? candidate.stage : null));
  if (current.watermark !== target.assignmentVersion) {
    steps.push({ kind: 'commit', assignmentVersion: target.assignmentVersion });
  }
  return steps;
}

function planModel(current: CurrentState, target: DesiredState, stage: CandidateStage | null): Step[] {
  const model = target.model;
  const runtime = target.runtime;
  const active = current.active;
  if (model === null) return active === null ? [] : [{ kind: 'unload' }];
  // Threads and input specs are baked into the session and its feed generator: changing them reloads.
  const sameSession =
    active !== null &&
    active.model.sha256 === model.sha256 &&
    active.runtime.intraOpThreads === runtime.intraOpThreads &&
    sameJson(active.model.inputs, model.inputs);
  if (active !== null && sameSession) {
    const same = sameJson(active.model, model) && sameJson(active.runtime, runtime);
    return same ? [] : [{ kind: 'update-settings', model, runtime }];
  }
  const chain: Step[] = [
    { kind: 'download', model },
    { kind: 'verify', model },
    { kind: 'load', model, intraOpThreads: runtime.intraOpThreads },
    { kind: 'smoke', model, ...(runtime.health ? { health: runtime.health } : {}) },
    { kind: 'activate', model, runtime, scenario: target.scenario },
  ];
  return chain.slice(resumeIndex(stage, current.verifiedArtifacts.has(model.sha256)));
}

function resumeIndex(stage: CandidateStage | null, onDisk: boolean): number {
  switch (stage) {
    case 'smoked':
      return 4;
    case 'loaded':
      return 3;
    case 'verified':
      return 2;
    case 'downloaded':
      return onDisk ? 2 : 1;
    case null:
      return onDisk ? 2 : 0;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The phase reported while a step runs. */
export function phaseOfStep(kind: StepKind): AgentPhase | null {
  switch (kind) {
    case 'download':
      return 'downloading';
    case 'verify':
      return 'verifying';
    case 'load':
    case 'smoke':
      return 'loading';
    case 'rollback':
      return 'loading';
    case 'discard-candidate':
    case 'activate':
    case 'update-settings':
    case 'unload':
    case 'commit':
      return null;
  }
}

/** The phase at rest, once nothing is left to do. */
export function restingPhase(current: CurrentState, target: DesiredState | null): AgentPhase {
  const sha = target?.model?.sha256 ?? null;
  if (target !== null && current.failed?.assignmentVersion === target.assignmentVersion && current.failed.sha256 === sha) {
    return 'failed';
  }
  return current.active === null ? 'idle' : 'running';
}
