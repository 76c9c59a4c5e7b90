import { type DesiredState, ReportedStateSchema } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vetModelInChild } from './engine/model-vetting.js';
import { AgentFixture } from './test-support/agent.fixture.js';
import { captureLogs } from './test-support/log.capture.js';

// Reliability rows 4 and 10: a model that crashes onnxruntime natively takes down only the vetting child.
const fx = new AgentFixture({ dataDirPrefix: 'agent-vetting-', secretChar: 'v', models: { good: 'mlp', hostile: 'conv', next: 'multi' } });
const { probe, models } = fx;
const { logger, logs } = captureLogs('info');

function desired(version: number, which: keyof typeof models): DesiredState {
  return fx.desired(version, which, { reason: 'vetting test' });
}

const reported = fx.reported.bind(fx);
const busyTelemetry = fx.busyTelemetry.bind(fx);

beforeAll(() => fx.setUp());
afterAll(() => fx.tearDown());

describe('device agent vets each candidate in a child process', () => {
  it('row 10: reports a candidate whose vetting child crashes as load_failed, keeps serving, then takes the next good update', async () => {
    // the real child-process vetter; for the hostile file only, the child kills itself with SIGSEGV after loading it
    await fx.publishDesired(desired(1, 'good'));
    const agent = await fx.startAgent({
      logger,
      seed: 9,
      vetModel: (request, hooks) =>
        vetModelInChild(request, request.path.includes(models.hostile.sha256) ? { simulate: 'segv' } : {}, hooks),
    });
    await probe.waitFor(
      reported((r) => r.appliedAssignmentVersion === 1 && r.phase === 'running'),
      20_000,
    );

    let from = probe.messages.length;
    await fx.publishDesired(desired(2, 'hostile'));
    const failed = ReportedStateSchema.parse(
      (
        await probe.waitFor(
          reported((r) => r.lastUpdate?.assignmentVersion === 2),
          20_000,
          from,
        )
      ).payload,
    );
    expect(failed).toMatchObject({
      phase: 'failed',
      appliedAssignmentVersion: 1,
      active: { variantId: 'var-good', sha256: models.good.sha256 },
      lastUpdate: { outcome: 'failed', reasonCode: 'load_failed' },
    });
    expect(failed.lastUpdate?.message).toBe(
      `model ${models.hostile.sha256} failed its vetting: the model crashed the runtime in the vetting process (signal SIGSEGV) right after loading the model`,
    );
    // the agent process lived through it and its model still serves
    from = probe.messages.length;
    await probe.waitFor(busyTelemetry('var-good'), 20_000, from);
    expect(agent.reportedState().active?.variantId).toBe('var-good');

    from = probe.messages.length;
    await fx.publishDesired(desired(3, 'next'));
    const done = ReportedStateSchema.parse(
      (
        await probe.waitFor(
          reported((r) => r.appliedAssignmentVersion === 3 && r.phase === 'running'),
          20_000,
          from,
        )
      ).payload,
    );
    expect(done).toMatchObject({
      active: { variantId: 'var-next', sha256: models.next.sha256 },
      lastUpdate: { assignmentVersion: 3, outcome: 'ok' },
    });
    await probe.waitFor(busyTelemetry('var-next'), 20_000, probe.messages.length);

    const vetted = logs.filter((l) => l.msg === 'candidate vetted in a child process');
    expect(vetted.map((l) => l.sha256)).toEqual([models.good.sha256, models.next.sha256]);
    for (const l of vetted) expect(l.latenciesMs).toHaveLength(3);
  });
});
