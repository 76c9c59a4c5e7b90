import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DesiredModel,
  type DesiredState,
  type ReportedState,
  ReportedStateSchema,
  TelemetryWindowSchema,
  topics,
} from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceAgent } from './agent.js';
import { createLogger } from './core/logger.js';
import type { StoredCredentials } from './storage/credentials.store.js';
import { ArtifactServer } from './test-support/artifact.server.js';
import { type ModelFile, writeModel } from './test-support/models.js';
import { MqttProbe, type Received } from './test-support/mqtt.probe.js';
import { clearRetained, enrolledTestDevice } from './test-support/agent.fixture.js';
import { TestSigner } from './test-support/test-signer.js';

// Reliability row 8: expired desired-state metadata served forever (TUF's freeze attack).
const deviceId = randomUUID();
const signer = new TestSigner();
const server = new ArtifactServer();
const probe = new MqttProbe();
const logs: { level: string; msg: string }[] = [];
const logger = createLogger('warn', (line) => logs.push(JSON.parse(line) as { level: string; msg: string }));
let dataDir: string;
let creds: StoredCredentials;
let model: ModelFile;
let agent: DeviceAgent | null = null;

function desired(version: number, expiresAt: string, over: Partial<Omit<DesiredModel, 'manifest'>> = {}, by = signer): DesiredState {
  return {
    schema: 1,
    deviceId,
    assignmentVersion: version,
    issuedAt: new Date().toISOString(),
    scenario: 'financial_trading',
    reason: 'stale metadata test',
    model: by.signed(
      {
        modelId: 'm-mlp',
        modelVersionId: 'mv-1',
        variantId: 'var-fp32',
        name: 'mlp',
        version: '1.0.0',
        precision: 'fp32',
        artifactUrl: server.url('/a/mlp.onnx'),
        sha256: model.sha256,
        sizeBytes: model.bytes.length,
        inputs: model.inputs,
        ...over,
      },
      deviceId,
      version,
      { expiresAt },
    ),
    runtime: { targetRateHz: 50, windowSeconds: 1, intraOpThreads: 1 },
  };
}

const inFuture = (ms: number): string => new Date(Date.now() + ms).toISOString();
const reported =
  (pred: (r: ReportedState) => boolean) =>
  (m: Received): boolean =>
    m.topic === topics.reported(deviceId) && pred(ReportedStateSchema.parse(m.payload));
const staleLogs = (): number => logs.filter((l) => l.level === 'error' && l.msg.startsWith('stale metadata')).length;

async function startAgent(): Promise<DeviceAgent> {
  const a = new DeviceAgent({ dataDir, credentials: creds, logger, seed: 5, powerCounters: [] });
  await a.start();
  agent = a;
  return a;
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  model = await writeModel('mlp');
  server.add('/a/mlp.onnx', model.bytes);
  await server.start();
  dataDir = await mkdtemp(join(tmpdir(), 'agent-stale-'));
  creds = await enrolledTestDevice(dataDir, deviceId, signer.rootPublicKey, 'z');
  await probe.connect(`${topics.deviceRoot(deviceId)}#`);
});

afterAll(async () => {
  await agent?.stop();
  await clearRetained(probe, deviceId);
  await probe.close();
  await server.stop();
});

describe('stale desired-state metadata on Mosquitto', () => {
  const firstExpiry = { at: '' };

  it('raises the alarm at the expiry instant, keeps serving its model and withdraws no other fact', async () => {
    firstExpiry.at = inFuture(3_000);
    await probe.publish(topics.desired(deviceId), signer.desired(desired(1, firstExpiry.at)), true);
    await startAgent();
    const applied = ReportedStateSchema.parse(
      (await probe.waitFor(reported((r) => r.appliedAssignmentVersion === 1 && r.phase === 'running'))).payload,
    );
    expect(Date.now()).toBeLessThan(Date.parse(firstExpiry.at)); // applied while still fresh
    expect(applied).not.toHaveProperty('staleMetadata');

    const from = probe.messages.length;
    const stale = ReportedStateSchema.parse(
      (
        await probe.waitFor(
          reported((r) => r.staleMetadata != null),
          8_000,
          from,
        )
      ).payload,
    );
    expect(stale).toMatchObject({
      staleMetadata: { assignmentVersion: 1, expiresAt: firstExpiry.at },
      phase: 'running',
      appliedAssignmentVersion: 1,
      active: { sha256: model.sha256, variantId: 'var-fp32' },
      lastUpdate: { assignmentVersion: 1, outcome: 'ok' },
    });
    // detected by the timer set for the expiry instant, not by the next 30 s check
    const lag = Date.parse(stale.staleMetadata?.detectedAt ?? '') - Date.parse(firstExpiry.at);
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(1_000);

    const later = probe.messages.length;
    const window = TelemetryWindowSchema.parse(
      (
        await probe.waitFor(
          (m) => m.topic === topics.telemetry(deviceId) && TelemetryWindowSchema.parse(m.payload).inferences > 0,
          10_000,
          later,
        )
      ).payload,
    );
    expect(window).toMatchObject({ variantId: 'var-fp32', bootId: agent?.bootId });
    expect(agent?.reportedState().staleMetadata).toMatchObject({ assignmentVersion: 1 });
    expect(staleLogs()).toBe(1);
  });

  it('raises it at start from the model restored from disk, before any desired state arrives', async () => {
    await agent?.stop();
    agent = null;
    await probe.publish(topics.desired(deviceId), null, true); // nothing retained: only what is on disk
    const from = probe.messages.length;
    const restarted = await startAgent();
    const first = ReportedStateSchema.parse(
      (
        await probe.waitFor(
          reported((r) => r.bootId === restarted.bootId),
          10_000,
          from,
        )
      ).payload,
    );
    expect(first).toMatchObject({
      phase: 'running',
      active: { sha256: model.sha256 },
      staleMetadata: { assignmentVersion: 1, expiresAt: firstExpiry.at },
    });
  });

  it('refuses, before fetching a byte, a stale desired state that asks for a new model, and raises the alarm for it', async () => {
    const requests = server.requests;
    const past = inFuture(-60_000);
    const from = probe.messages.length;
    await probe.publish(topics.desired(deviceId), signer.desired(desired(2, past, { variantId: 'var-new', sha256: 'e'.repeat(64) })), true);
    const failed = ReportedStateSchema.parse(
      (
        await probe.waitFor(
          reported((r) => r.lastUpdate?.assignmentVersion === 2),
          10_000,
          from,
        )
      ).payload,
    );
    expect(failed).toMatchObject({
      lastUpdate: { outcome: 'failed', reasonCode: 'signature_invalid' },
      active: { sha256: model.sha256, variantId: 'var-fp32' },
      staleMetadata: { assignmentVersion: 2, expiresAt: past },
    });
    expect(failed.lastUpdate?.message).toMatch(/the manifest expired/);
    expect(server.requests).toBe(requests);
  });

  it('is not cleared by fresh metadata that is not genuine, and is cleared by a genuine fresh desired state', async () => {
    const warnings = logs.length;
    await probe.publish(topics.desired(deviceId), signer.desired(desired(3, inFuture(86_400_000), {}, new TestSigner())), true);
    await until('the forged desired state to be seen', () => logs.slice(warnings).some((l) => l.msg.includes('not genuine')));
    expect(agent?.reportedState().staleMetadata).toMatchObject({ assignmentVersion: 2 });

    const requests = server.requests;
    const fresh = inFuture(86_400_000);
    const from = probe.messages.length;
    await probe.publish(topics.desired(deviceId), signer.desired(desired(4, fresh)), true);
    console.log(
      JSON.stringify(
        probe.messages
          .slice(from - 6)
          .filter((m) => m.topic === topics.reported(deviceId))
          .map((m) => {
            const r = ReportedStateSchema.parse(m.payload);
            return [
              r.phase,
              r.appliedAssignmentVersion,
              r.lastUpdate?.assignmentVersion,
              r.lastUpdate?.outcome,
              r.staleMetadata?.assignmentVersion,
            ];
          }),
      ),
    );
    const cleared = ReportedStateSchema.parse(
      (
        await probe.waitFor(
          reported((r) => r.staleMetadata == null),
          10_000,
          from,
        )
      ).payload,
    );
    console.log(
      JSON.stringify(
        probe.messages
          .slice(from - 6)
          .filter((m) => m.topic === topics.reported(deviceId))
          .map((m) => {
            const r = ReportedStateSchema.parse(m.payload);
            return [
              r.phase,
              r.appliedAssignmentVersion,
              r.lastUpdate?.assignmentVersion,
              r.lastUpdate?.outcome,
              r.staleMetadata?.assignmentVersion,
            ];
          }),
      ),
    );
    expect(cleared.active).toMatchObject({ sha256: model.sha256, variantId: 'var-fp32' });
    await probe.waitFor(
      reported(
        (r) => r.appliedAssignmentVersion === 4 && r.phase === 'running' && r.lastUpdate?.outcome === 'ok' && r.staleMetadata == null,
      ),
      10_000,
      from,
    );
    expect(server.requests).toBe(requests); // same model: nothing fetched
    expect(staleLogs()).toBe(3); // version 1, again at the restart, version 2
  });

  it('is not raised again by a replay of the expired state below the watermark', async () => {
    const seen = logs.length;
    await probe.publish(topics.desired(deviceId), signer.desired(desired(1, firstExpiry.at)), true);
    await until('the replay to be refused', () => logs.slice(seen).some((l) => l.msg === 'desired state refused'));
    expect(agent?.reportedState()).not.toHaveProperty('staleMetadata');
    expect(staleLogs()).toBe(3);
  });
});
