import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REFERENCE_BENCHMARK } from '@edge-fleet/onnx-builder';
import { CommandAckSchema, type DesiredState, type ReportedState, ReportedStateSchema, topics } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceAgent } from './agent.js';
import { createLogger } from './core/logger.js';
import type { StoredCredentials } from './storage/credentials.store.js';
import { ArtifactServer } from './test-support/artifact.server.js';
import { type ModelFile, writeModel } from './test-support/models.js';
import { MqttProbe, type Received } from './test-support/mqtt.probe.js';
import { clearRetained, enrolledTestDevice, testDesired } from './test-support/agent.fixture.js';
import { TestSigner } from './test-support/test-signer.js';

// Issue 16, "latency measured where it runs": the agent reports what it measured, with the assignment.
const deviceId = randomUUID();
const signer = new TestSigner();
const server = new ArtifactServer();
const probe = new MqttProbe();
const logger = createLogger('error', () => undefined);
const models: Record<'mlp' | 'conv', ModelFile> = {} as never;
let dataDir: string;
let creds: StoredCredentials;
let agent: DeviceAgent | null = null;

function desired(version: number, which: keyof typeof models, latencyTargetMs?: number): DesiredState {
  const health =
    latencyTargetMs === undefined ? {} : { health: { latencyTargetMs, latencyPercentile: 'p95' as const, errorRateMax: 0.01 } };
  return testDesired(
    signer,
    deviceId,
    version,
    { key: which, file: models[which], url: server.url(`/a/${which}.onnx`) },
    { runtime: health },
  );
}

const reported =
  (pred: (r: ReportedState) => boolean) =>
  (m: Received): boolean =>
    m.topic === topics.reported(deviceId) && pred(ReportedStateSchema.parse(m.payload));

async function nextReport(pred: (r: ReportedState) => boolean, from = probe.messages.length): Promise<ReportedState> {
  return ReportedStateSchema.parse((await probe.waitFor(reported(pred), 30_000, from)).payload);
}

beforeAll(async () => {
  models.mlp = await writeModel('mlp');
  models.conv = await writeModel('conv');
  for (const [which, m] of Object.entries(models)) server.add(`/a/${which}.onnx`, m.bytes);
  await server.start();
  dataDir = await mkdtemp(join(tmpdir(), 'agent-measure-'));
  creds = await enrolledTestDevice(dataDir, deviceId, signer.rootPublicKey, 'm');
  await probe.connect(`${topics.deviceRoot(deviceId)}#`);
});

afterAll(async () => {
  await agent?.stop();
  await clearRetained(probe, deviceId);
  await probe.close();
  await server.stop();
});

describe('device agent measures latency where it runs', () => {
  it('reports its reference benchmark from the first report, with the execution providers onnxruntime offers', async () => {
    agent = new DeviceAgent({ dataDir, credentials: creds, logger, seed: 3, powerCounters: [] });
    await agent.start();
    const first = await nextReport(() => true, 0);
    expect(first.benchmark).toMatchObject({ model: REFERENCE_BENCHMARK.id, runs: REFERENCE_BENCHMARK.runs });
    expect(first.benchmark?.p50Ms).toBeGreaterThan(0);
    expect(first.benchmark?.executionProviders).toContain('cpu');
    expect(first.measuredLatency).toBeUndefined();
  });

  it("reports the candidate's smoke-run latency with the assignment, p50/p95/p99 over 10 timed runs on the cpu provider", async () => {
    await probe.publish(topics.desired(deviceId), signer.desired(desired(1, 'mlp')), true);
    const done = await nextReport((r) => r.appliedAssignmentVersion === 1 && r.phase === 'running');
    const [m] = done.measuredLatency ?? [];
    expect(m).toMatchObject({ variantId: 'var-mlp', runs: 10, executionProvider: 'cpu' });
    expect(m?.p50).toBeGreaterThan(0);
    expect(m?.p50).toBeLessThanOrEqual(m?.p95 ?? 0);
    expect(m?.p95).toBeLessThanOrEqual(m?.p99 ?? 0);
  });

  it('reports the measurement of a candidate that failed its latency target too, newest first', async () => {
    await probe.publish(topics.desired(deviceId), signer.desired(desired(2, 'conv', 0.000_001)), true);
    const failed = await nextReport((r) => r.lastUpdate?.assignmentVersion === 2);
    expect(failed.lastUpdate).toMatchObject({ outcome: 'failed', reasonCode: 'smoke_failed' });
    expect(failed.active?.variantId).toBe('var-mlp');
    expect(failed.measuredLatency?.map((m) => m.variantId)).toEqual(['var-conv', 'var-mlp']);
  });

  it('re-runs the benchmark on the benchmark command, acks it and reports the new figure', async () => {
    const before = agent?.reportedState().benchmark?.measuredAt;
    const correlationId = randomUUID();
    const from = probe.messages.length;
    await probe.publish(topics.commands(deviceId), { correlationId, command: 'benchmark' }, false);
    const ack = await probe.waitFor((m) => m.topic === topics.commandAck(deviceId), 30_000, from);
    expect(CommandAckSchema.parse(ack.payload)).toEqual({ correlationId, status: 'ok' });
    const after = await nextReport((r) => r.benchmark?.measuredAt !== before, from);
    expect(after.benchmark?.model).toBe(REFERENCE_BENCHMARK.id);
  });

  it('keeps the benchmark and the measurements across a restart without re-running it', async () => {
    const was = agent?.reportedState();
    await agent?.stop();
    agent = new DeviceAgent({ dataDir, credentials: creds, logger, seed: 3, powerCounters: [] });
    await agent.start();
    const now = agent.reportedState();
    expect(now.benchmark).toBeDefined();
    expect(now.measuredLatency).toHaveLength(2);
    expect(now.benchmark).toEqual(was?.benchmark);
    expect(now.measuredLatency).toEqual(was?.measuredLatency);
  });
});
