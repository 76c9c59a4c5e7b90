import type { DesiredModel, DesiredState, RuntimeSettings } from '@edge-fleet/shared';
import { describe, expect, it } from 'vitest';
import { UNCHECKED_MANIFEST } from '../test-support/test-signer.js';
import { acceptDesired, type CurrentState, phaseOfStep, plan, restingPhase, type Step, type StepKind } from './reconcile.planner.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
const RUNTIME: RuntimeSettings = { targetRateHz: 10, windowSeconds: 10, intraOpThreads: 1 };

function model(sha: string, extra: Partial<DesiredModel> = {}): DesiredModel {
  return {
    modelId: 'm',
    modelVersionId: `mv-${sha[0] ?? ''}`,
    variantId: `v-${sha[0] ?? ''}`,
    name: 'n',
    version: '1',
    precision: 'fp32',
    artifactUrl: 'http://127.0.0.1/a',
    sha256: sha,
    sizeBytes: 10,
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 4] }],
    manifest: UNCHECKED_MANIFEST,
    ...extra,
  };
}

function target(version: number, m: DesiredModel | null, runtime: RuntimeSettings = RUNTIME): DesiredState {
  return {
    schema: 1,
    deviceId: '00000000-0000-4000-8000-000000000001',
    assignmentVersion: version,
    issuedAt: '2030-01-01T00:00:00.000Z',
    scenario: 'financial_trading',
    reason: '',
    model: m,
    runtime,
  };
}

function current(over: Partial<CurrentState> = {}): CurrentState {
  return { watermark: null, active: null, candidate: null, verifiedArtifacts: new Set(), failed: null, ...over };
}

const kinds = (steps: Step[]): StepKind[] => steps.map((s) => s.kind);
const FULL: StepKind[] = ['download', 'verify', 'load', 'smoke', 'activate', 'commit'];

describe('plan', () => {
  it('does nothing without a target', () => {
    expect(plan(current(), null)).toEqual([]);
  });

  it('puts a watchdog rollback before anything else, with or without a target', () => {
    const active = { model: model(SHA_B), runtime: RUNTIME };
    expect(plan(current({ active, watermark: 2, rollbackRequested: true }), target(3, model(SHA_A)))).toEqual([{ kind: 'rollback' }]);
    expect(plan(current({ active, rollbackRequested: true }), null)).toEqual([{ kind: 'rollback' }]);
  });

  it('does not re-apply a model the watchdog rolled back, but takes the next version', () => {
    const active = { model: model(SHA_A), runtime: RUNTIME };
    const c = current({ active, watermark: 2, failed: { assignmentVersion: 2, sha256: SHA_B } });
    expect(plan(c, target(2, model(SHA_B)))).toEqual([]);
    expect(restingPhase(c, target(2, model(SHA_B)))).toBe('failed');
    expect(kinds(plan(c, target(3, model(SHA_B))))).toEqual(FULL);
  });

  it('tells the activation which scenario it serves (the watchdog judges against its tier)', () => {
    const activate = plan(current(), target(1, model(SHA_A))).find((st) => st.kind === 'activate');
    expect(activate).toMatchObject({ kind: 'activate', scenario: 'financial_trading' });
  });

  it('runs the whole chain for a new model', () => {
    expect(kinds(plan(current(), target(1, model(SHA_A))))).toEqual(FULL);
  });

  it('skips the download when the verified artifact is on disk', () => {
    const steps = plan(current({ verifiedArtifacts: new Set([SHA_A]) }), target(1, model(SHA_A)));
    expect(kinds(steps)).toEqual(['load', 'smoke', 'activate', 'commit']);
  });

  it.each([
    ['downloaded', ['verify', 'load', 'smoke', 'activate', 'commit']],
    ['verified', ['load', 'smoke', 'activate', 'commit']],
    ['loaded', ['smoke', 'activate', 'commit']],
    ['smoked', ['activate', 'commit']],
  ] as const)('resumes a candidate at stage %s', (stage, expected) => {
    const c = current({ candidate: { sha256: SHA_A, intraOpThreads: stage === 'downloaded' ? null : 1, stage } });
    expect(kinds(plan(c, target(1, model(SHA_A))))).toEqual(expected);
  });

  it('discards a candidate for another model before starting over', () => {
    const c = current({ candidate: { sha256: SHA_B, intraOpThreads: 1, stage: 'loaded' } });
    expect(plan(c, target(1, model(SHA_A)))[0]).toEqual({ kind: 'discard-candidate', sha256: SHA_B });
    expect(kinds(plan(c, target(1, model(SHA_A)))).slice(1)).toEqual(FULL);
  });

  it('discards a loaded candidate whose thread count no longer matches', () => {
    const c = current({ candidate: { sha256: SHA_A, intraOpThreads: 2, stage: 'smoked' } });
    expect(kinds(plan(c, target(1, model(SHA_A))))[0]).toBe('discard-candidate');
  });

  it('is idle when the active model and runtime already match', () => {
    const c = current({ watermark: 1, active: { model: model(SHA_A), runtime: RUNTIME } });
    expect(plan(c, target(1, model(SHA_A)))).toEqual([]);
  });

  it('only commits a newer version that changes nothing', () => {
    const c = current({ watermark: 1, active: { model: model(SHA_A), runtime: RUNTIME } });
    expect(plan(c, target(2, model(SHA_A)))).toEqual([{ kind: 'commit', assignmentVersion: 2 }]);
  });

  it('updates settings in place when only rate, window or labels change', () => {
    const c = current({ watermark: 1, active: { model: model(SHA_A), runtime: RUNTIME } });
    const t = target(2, model(SHA_A, { variantId: 'renamed' }), { ...RUNTIME, targetRateHz: 99 });
    expect(kinds(plan(c, t))).toEqual(['update-settings', 'commit']);
  });

  it('reloads the same model when intraOpThreads changes', () => {
    const c = current({ watermark: 1, active: { model: model(SHA_A), runtime: RUNTIME }, verifiedArtifacts: new Set([SHA_A]) });
    expect(kinds(plan(c, target(2, model(SHA_A), { ...RUNTIME, intraOpThreads: 4 })))).toEqual(['load', 'smoke', 'activate', 'commit']);
  });

  it('reloads the same model when its input specs change', () => {
    const c = current({ watermark: 1, active: { model: model(SHA_A), runtime: RUNTIME }, verifiedArtifacts: new Set([SHA_A]) });
    const t = target(2, model(SHA_A, { inputs: [{ name: 'x', dtype: 'float32', shape: [8, 4] }] }));
    expect(kinds(plan(c, t))).toEqual(['load', 'smoke', 'activate', 'commit']);
  });

  it('unloads when the target has no model', () => {
    const c = current({ watermark: 1, active: { model: model(SHA_A), runtime: RUNTIME } });
    expect(kinds(plan(c, target(2, null)))).toEqual(['unload', 'commit']);
  });

  it('commits an empty target when nothing runs', () => {
    expect(kinds(plan(current(), target(1, null)))).toEqual(['commit']);
    expect(plan(current({ watermark: 1 }), target(1, null))).toEqual([]);
  });

  it('does not retry the same failed version and sha, but does try a new one', () => {
    const c = current({ failed: { assignmentVersion: 1, sha256: SHA_A } });
    expect(plan(c, target(1, model(SHA_A)))).toEqual([]);
    expect(kinds(plan(c, target(2, model(SHA_A))))).toEqual(FULL);
    expect(kinds(plan(c, target(1, model(SHA_B))))).toEqual(FULL);
  });

  it('hands the tier targets from the desired state to the smoke step', () => {
    const health = { latencyTargetMs: 4, latencyPercentile: 'p99' as const, errorRateMax: 0.01 };
    const steps = plan(current(), target(1, model(SHA_A), { ...RUNTIME, health }));
    expect(steps.find((s) => s.kind === 'smoke')).toEqual({ kind: 'smoke', model: model(SHA_A), health });
    expect(plan(current(), target(1, model(SHA_A))).find((s) => s.kind === 'smoke')).toEqual({ kind: 'smoke', model: model(SHA_A) });
  });

  it('plans nothing for a target below the watermark', () => {
    expect(plan(current({ watermark: 5 }), target(4, model(SHA_A)))).toEqual([]);
  });
});

describe('acceptDesired (anti-rollback watermark)', () => {
  it('accepts anything before a first apply', () => {
    expect(acceptDesired(target(0, null), null)).toEqual({ accept: true });
  });

  it('accepts the same version (a re-delivered retained message) and newer ones', () => {
    expect(acceptDesired(target(5, null), 5).accept).toBe(true);
    expect(acceptDesired(target(6, null), 5).accept).toBe(true);
  });

  it('refuses a lower version with a reason naming both versions', () => {
    const verdict = acceptDesired(target(4, null), 5);
    expect(verdict).toEqual({ accept: false, reason: expect.stringMatching(/4.*5/) as unknown });
  });

  it('issue 10 item 4: refuses a replay older than the target still being applied, above the watermark', () => {
    expect(acceptDesired(target(6, null), 5, 7)).toEqual({
      accept: false,
      reason: 'assignmentVersion 6 is below the target being applied 7',
    });
    expect(acceptDesired(target(7, null), 5, 7).accept).toBe(true);
  });
});

describe('phases', () => {
  it('maps steps to reported phases', () => {
    expect(phaseOfStep('download')).toBe('downloading');
    expect(phaseOfStep('verify')).toBe('verifying');
    expect(phaseOfStep('load')).toBe('loading');
    expect(phaseOfStep('smoke')).toBe('loading');
    for (const k of ['activate', 'commit', 'unload', 'update-settings', 'discard-candidate'] as const) expect(phaseOfStep(k)).toBeNull();
  });

  it('rests at idle, running or failed', () => {
    expect(restingPhase(current(), null)).toBe('idle');
    expect(restingPhase(current({ active: { model: model(SHA_A), runtime: RUNTIME } }), target(1, model(SHA_A)))).toBe('running');
    expect(restingPhase(current({ failed: { assignmentVersion: 1, sha256: SHA_A } }), target(1, model(SHA_A)))).toBe('failed');
    expect(restingPhase(current({ failed: { assignmentVersion: 1, sha256: SHA_A } }), target(2, model(SHA_A)))).toBe('idle');
  });
});
