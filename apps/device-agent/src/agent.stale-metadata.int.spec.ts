import { type DesiredModel, type DesiredState, ReportedStateSchema, TelemetryWindowSchema, topics } from '@edge-fleet/shared';
import { waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentFixture } from './test-support/agent.fixture.js';
import { captureLogs } from './test-support/log.capture.js';
import type { ModelFile } from './test-support/models.js';
import { TestSigner } from './test-support/test-signer.js';

// Reliability row 8: expired desired-state metadata served forever (TUF's freeze attack).
const fx = new AgentFixture({ dataDirPrefix: 'agent-stale-', secretChar: 'z', models: { mlp: 'mlp' } });
const { deviceId, signer, server, probe } = fx;
const { logger, logs } = captureLogs<{ level: string; msg: string }>('warn');

function desired(version: number, expiresAt: string, over: Partial<Omit<DesiredModel, 'manifest'>> = {}, by = signer): DesiredState {
  return fx.desired(version, 'mlp', {
    reason: 'stale metadata test',
    model: { modelId: 'm-mlp', modelVersionId: 'mv-1', variantId: 'var-fp32', name: 'mlp', version: '1.0.0', ...over },
    signedBy: by,
    manifest: { expiresAt },
  });
}

const inFuture = (ms: number): string => new Date(Date.now() + ms).toISOString();
const reported = fx.reported.bind(fx);
const staleLogs = (): number => logs.filter((l) => l.level === 'error' && l.msg.startsWith('stale metadata')).length;
const startAgent = () => fx.startAgent({ logger, seed: 5 });
const until = (what: string, ok: () => boolean): Promise<true> => waitFor(ok, 10_000, what, { intervalMs: 25 });
let model: ModelFile;

beforeAll(async () => {
  await fx.setUp();
  model = fx.models.mlp;
});
afterAll(() => fx.tearDown());

describe('stale desired-state metadata on Mosquitto', () => {
  const firstExpiry = { at: '' };

  it('raises the alarm at the expiry instant, keeps serving its model and withdraws no other fact', async () => {
    // far enough ahead that a loaded machine applies the model before it expires
    firstExpiry.at = inFuture(8_000);
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
          Math.max(0, Date.parse(firstExpiry.at) - Date.now()) + 10_000,
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
    // detected by the timer set for the expiry instant, not by the next 30 s check (a loaded
    // machine may fire the timer late, but nowhere near 30 s)
    const lag = Date.parse(stale.staleMetadata?.detectedAt ?? '') - Date.parse(firstExpiry.at);
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(5_000);

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
    expect(window).toMatchObject({ variantId: 'var-fp32', bootId: fx.agent?.bootId });
    expect(fx.agent?.reportedState().staleMetadata).toMatchObject({ assignmentVersion: 1 });
    expect(staleLogs()).toBe(1);
  }, 60_000);

  it('raises it at start from the model restored from disk, before any desired state arrives', async () => {
    await fx.stopAgent();
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
    expect(fx.agent?.reportedState().staleMetadata).toMatchObject({ assignmentVersion: 2 });

    const requests = server.requests;
    const fresh = inFuture(86_400_000);
    const from = probe.messages.length;
    await probe.publish(topics.desired(deviceId), signer.desired(desired(4, fresh)), true);
    const cleared = ReportedStateSchema.parse(
      (
        await probe.waitFor(
          reported((r) => r.staleMetadata == null),
          10_000,
          from,
        )
      ).payload,
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
    expect(fx.agent?.reportedState()).not.toHaveProperty('staleMetadata');
    expect(staleLogs()).toBe(3);
  });
});
