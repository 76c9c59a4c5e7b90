import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DesiredState, type ReportedState, ReportedStateSchema, TelemetryWindowSchema, topics } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceAgent } from './agent.js';
import { createLogger } from './core/logger.js';
import { vetModelInChild } from './engine/model-vetting.js';
import type { StoredCredentials } from './storage/credentials.store.js';
import { ArtifactServer } from './test-support/artifact.server.js';
import { type ModelFile, writeModel } from './test-support/models.js';
import { MqttProbe, type Received } from './test-support/mqtt.probe.js';
import { clearRetained, enrolledTestDevice, testDesired } from './test-support/agent.fixture.js';
import { TestSigner } from './test-support/test-signer.js';

// Reliability rows 4 and 10: a model that crashes onnxruntime natively takes down only the vetting child.
const deviceId = randomUUID();
const signer = new TestSigner();
const server = new ArtifactServer();
const probe = new MqttProbe();
const logs: Record<string, unknown>[] = [];
const logger = createLogger('info', (line) => logs.push(JSON.parse(line) as Record<string, unknown>));
const models: Record<'good' | 'hostile' | 'next', ModelFile> = {} as never;
let dataDir: string;
let creds: StoredCredentials;
let agent: DeviceAgent | null = null;

function desired(version: number, which: keyof typeof models): DesiredState {
  return testDesired(
    signer,
    deviceId,
    version,
    { key: which, file: models[which], url: server.url(`/a/${which}.onnx`) },
    { reason: 'vetting test' },
  );
}

const reported =
  (pred: (r: ReportedState) => boolean) =>
  (m: Received): boolean =>
    m.topic === topics.reported(deviceId) && pred(ReportedStateSchema.parse(m.payload));
const busyTelemetry =
  (variantId: string) =>
  (m: Received): boolean => {
    if (m.topic !== topics.telemetry(deviceId)) return false;
    const t = TelemetryWindowSchema.parse(m.payload);
    return t.inferences > 0 && t.variantId === variantId;
  };

beforeAll(async () => {
  models.good = await writeModel('mlp');
  models.hostile = await writeModel('conv');
  models.next = await writeModel('multi');
  for (const [which, m] of Object.entries(models)) server.add(`/a/${which}.onnx`, m.bytes);
  await server.start();
  dataDir = await mkdtemp(join(tmpdir(), 'agent-vetting-'));
  creds = await enrolledTestDevice(dataDir, deviceId, signer.rootPublicKey, 'v');
  await probe.connect(`${topics.deviceRoot(deviceId)}#`);
});

afterAll(async () => {
  await agent?.stop();
  await clearRetained(probe, deviceId);
  await probe.close();
  await server.stop();
});

describe('device agent vets each candidate in a child process', () => {
  it('reports a candidate whose vetting child crashes as load_failed, keeps serving, then takes the next good update', async () => {
    // the real child-process vetter; for the hostile file only, the child kills itself with SIGSEGV after loading it
    agent = new DeviceAgent({
      dataDir,
      credentials: creds,
      logger,
      seed: 9,
      powerCounters: [],
      vetModel: (request, hooks) =>
        vetModelInChild(request, request.path.includes(models.hostile.sha256) ? { simulate: 'segv' } : {}, hooks),
    });
    await probe.publish(topics.desired(deviceId), signer.desired(desired(1, 'good')), true);
    await agent.start();
    await probe.waitFor(
      reported((r) => r.appliedAssignmentVersion === 1 && r.phase === 'running'),
      20_000,
    );

    let from = probe.messages.length;
    await probe.publish(topics.desired(deviceId), signer.desired(desired(2, 'hostile')), true);
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
    await probe.publish(topics.desired(deviceId), signer.desired(desired(3, 'next')), true);
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
