import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildMlpClassifier } from '@edge-fleet/onnx-builder';
import { type DesiredState, hardwarePreset, type ReportedState, ReportedStateSchema, topics } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceAgent } from './agent.js';
import { silentLogger } from './core/logger.js';
import { AgentStateStore } from './storage/agent-state.store.js';
import { saveCredentials, type StoredCredentials } from './storage/credentials.store.js';
import { ArtifactServer } from './test-support/artifact.server.js';
import { type ModelFile, sha256, writeModel } from './test-support/models.js';
import { BROKER_URL, MqttProbe, type Received } from './test-support/mqtt.probe.js';
import { TcpProxy } from './test-support/tcp.proxy.js';
import { TestSigner } from './test-support/test-signer.js';

// robotic_manipulation: p99 <= 20 ms. The MLP runs in well under 1 ms; the MatMul chain takes ~60 ms.
const SCENARIO = 'robotic_manipulation';
const deviceId = randomUUID();
const signer = new TestSigner();
const server = new ArtifactServer();
const probe = new MqttProbe();
const broker = new URL(BROKER_URL);
const proxy = new TcpProxy(broker.hostname, Number(broker.port || 1883));
let dataDir: string;
let agent: DeviceAgent | null = null;
const models: Record<'good' | 'slow' | 'next', ModelFile | null> = { good: null, slow: null, next: null };

function model(which: keyof typeof models): ModelFile {
  const m = models[which];
  if (m === null) throw new Error(`model ${which} not built`);
  return m;
}

function desired(version: number, which: keyof typeof models): DesiredState {
  const m = model(which);
  return {
    schema: 1,
    deviceId,
    assignmentVersion: version,
    issuedAt: new Date().toISOString(),
    scenario: SCENARIO,
    reason: 'watchdog test',
    model: signer.signed(
      {
        modelId: 'm',
        modelVersionId: `mv-${which}`,
        variantId: `var-${which}`,
        name: which,
        version: '1',
        precision: 'fp32',
        artifactUrl: server.url(`/a/${which}.onnx`),
        sha256: m.sha256,
        sizeBytes: m.bytes.length,
        inputs: m.inputs,
      },
      deviceId,
      version,
    ),
    runtime: { targetRateHz: 20, windowSeconds: 1, intraOpThreads: 1 },
  };
}

const reported =
  (pred: (r: ReportedState) => boolean) =>
  (m: Received): boolean =>
    m.topic === topics.reported(deviceId) && pred(ReportedStateSchema.parse(m.payload));

async function until<T>(what: string, read: () => T | null, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = read();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  models.good = await writeModel('mlp');
  models.slow = await writeModel('slow');
  const next = buildMlpClassifier({ seed: 2 });
  models.next = { ...model('good'), name: 'next', bytes: next.bytes, sha256: sha256(next.bytes), inputs: next.inputs };
  for (const which of ['good', 'slow', 'next'] as const) server.add(`/a/${which}.onnx`, model(which).bytes);
  await server.start();
  await proxy.start();
  dataDir = await mkdtemp(join(tmpdir(), 'agent-watchdog-'));
  const creds: StoredCredentials = {
    schema: 1,
    deviceId,
    deviceSecret: 'y'.repeat(40),
    scenario: SCENARIO,
    mqtt: { url: BROKER_URL, username: deviceId, clientId: deviceId },
    rootPublicKey: signer.rootPublicKey,
    controlPlaneUrl: 'http://127.0.0.1:9',
    enrolledAt: new Date().toISOString(),
    hardwareProfile: hardwarePreset('robot-npu-arm'),
    profileLabel: 'robot-npu-arm',
  };
  await saveCredentials(dataDir, creds);
  await probe.connect(`${topics.deviceRoot(deviceId)}#`);
  const { host, port } = proxy.address;
  agent = new DeviceAgent({
    dataDir,
    credentials: creds,
    logger: silentLogger,
    seed: 3,
    powerCounters: [],
    mqttUrl: `mqtt://${host}:${port}`,
  });
  await agent.start();
});

afterAll(async () => {
  await agent?.stop();
  await probe.publish(topics.desired(deviceId), null, true);
  await probe.publish(topics.status(deviceId), null, true);
  await probe.close();
  await proxy.cut();
  await server.stop();
});

describe('local watchdog on Mosquitto', () => {
  it('rolls a slow model back by itself while the control plane is unreachable, reports why on reconnect, and takes the next update', async () => {
    await probe.publish(topics.desired(deviceId), signer.desired(desired(1, 'good')), true);
    await probe.waitFor(reported((r) => r.appliedAssignmentVersion === 1 && r.phase === 'running'));

    let from = probe.messages.length;
    await probe.publish(topics.desired(deviceId), signer.desired(desired(2, 'slow')), true);
    await probe.waitFor(
      reported((r) => r.appliedAssignmentVersion === 2 && r.active?.sha256 === model('slow').sha256 && r.lastUpdate?.outcome === 'ok'),
      20_000,
      from,
    );
    const requests = server.requests;
    await proxy.cut(); // from here the agent is on its own

    const local = agent;
    if (local === null) throw new Error('agent not started');
    const rolledBack = await until(
      'the local rollback',
      () => {
        const r = local.reportedState();
        return r.active?.sha256 === model('good').sha256 ? r : null;
      },
      15_000,
    );
    await local.settled();
    expect(rolledBack.lastUpdate).toMatchObject({ assignmentVersion: 2, outcome: 'failed', reasonCode: 'watchdog_failed' });
    expect(rolledBack.lastUpdate?.message).toMatch(/^watchdog: model var-slow .*p99 \d+(\.\d+)? ms > 20 ms/);
    expect(rolledBack.phase).toBe('failed');
    expect(server.requests).toBe(requests); // the previous model came from disk
    const saved = await new AgentStateStore(dataDir).load();
    expect(saved.active?.model.sha256).toBe(model('good').sha256);
    expect(saved.rejected).toEqual({ assignmentVersion: 2, sha256: model('slow').sha256 });
    expect(await readdir(join(dataDir, 'models'))).toEqual([`${model('good').sha256}.onnx`]);

    from = probe.messages.length;
    await proxy.start();
    const report = await probe.waitFor(
      reported((r) => r.lastUpdate?.assignmentVersion === 2 && r.lastUpdate.outcome === 'failed'),
      20_000,
      from,
    );
    expect(ReportedStateSchema.parse(report.payload)).toMatchObject({
      active: { sha256: model('good').sha256 },
      phase: 'failed',
      appliedAssignmentVersion: 2,
    });
    expect(ReportedStateSchema.parse(report.payload).lastUpdate?.message).toMatch(/^watchdog:/);

    from = probe.messages.length;
    await probe.publish(topics.desired(deviceId), signer.desired(desired(3, 'next')), true);
    const next = await probe.waitFor(
      reported((r) => r.appliedAssignmentVersion === 3 && r.phase === 'running'),
      20_000,
      from,
    );
    expect(ReportedStateSchema.parse(next.payload)).toMatchObject({
      active: { sha256: model('next').sha256 },
      lastUpdate: { assignmentVersion: 3, outcome: 'ok' },
    });
  }, 60_000);
});
