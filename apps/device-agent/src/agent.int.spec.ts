import { randomUUID } from 'node:crypto';
import {
  CommandAckSchema,
  type DesiredModel,
  type DesiredState,
  ReportedStateSchema,
  StatusMessageSchema,
  TelemetryWindowSchema,
  topics,
} from '@edge-fleet/shared';
import { waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceAgent } from './agent.js';
import { createLogger } from './core/logger.js';
import { AgentFixture } from './test-support/agent.fixture.js';
import type { Received } from './test-support/mqtt.probe.js';
import { type ModelFile, sha256, writeModel } from './test-support/models.js';
import { TestSigner } from './test-support/test-signer.js';

const fx = new AgentFixture({ dataDirPrefix: 'agent-int-', secretChar: 'x', models: { mlp: 'mlp' } });
const { deviceId, signer, server, probe } = fx;
let model: ModelFile;
let agent: DeviceAgent | null = null;

function unsigned(d: DesiredState): Omit<DesiredModel, 'manifest'> {
  if (!d.model) throw new Error('desired state without a model');
  const { manifest: _m, ...rest } = d.model;
  return rest;
}

function desired(
  version: number,
  overrides: Partial<Omit<DesiredModel, 'manifest'>> = {},
  runtime: Partial<DesiredState['runtime']> = {},
): DesiredState {
  return fx.desired(version, 'mlp', {
    model: { modelId: 'm-mlp', modelVersionId: 'mv-1', variantId: 'var-fp32', name: 'mlp', version: '1.0.0', ...overrides },
    runtime,
  });
}

const is = (kind: 'reported' | 'telemetry' | 'status' | 'ack', m: Received): boolean =>
  m.topic === { reported: topics.reported, telemetry: topics.telemetry, status: topics.status, ack: topics.commandAck }[kind](deviceId);
const reportedWhere = fx.reported.bind(fx);

async function startAgent(): Promise<DeviceAgent> {
  agent = await fx.startAgent({ seed: 7 });
  return agent;
}

beforeAll(async () => {
  await fx.setUp();
  model = fx.models.mlp;
});
afterAll(() => fx.tearDown());

describe('device agent against Mosquitto', () => {
  it('applies a retained desired state, runs the model and publishes valid telemetry', async () => {
    await probe.publish(topics.desired(deviceId), signer.desired(desired(3)), true);
    await startAgent();
    const online = await probe.waitFor((m) => is('status', m) && StatusMessageSchema.parse(m.payload).state === 'online');
    expect(online.retain).toBe(false); // live delivery to an existing subscriber
    const running = await probe.waitFor(reportedWhere((r) => r.phase === 'running'));
    const report = ReportedStateSchema.parse(running.payload);
    expect(report.active?.sha256).toBe(model.sha256);
    expect(report.appliedAssignmentVersion).toBe(3);
    expect(report.lastUpdate).toMatchObject({ assignmentVersion: 3, outcome: 'ok' });
    const phases = probe.messages.filter((m) => is('reported', m)).map((m) => ReportedStateSchema.parse(m.payload).phase);
    expect(phases).toEqual(expect.arrayContaining(['downloading', 'verifying', 'loading', 'running']));

    const from = probe.messages.length;
    const busy = await probe.waitFor((m) => is('telemetry', m) && TelemetryWindowSchema.parse(m.payload).inferences > 0, 20_000, from);
    const window = TelemetryWindowSchema.parse(busy.payload);
    expect(window.variantId).toBe('var-fp32');
    expect(window.latencyMs?.p99).toBeGreaterThan(0);
    expect(window.latencyMs?.max).toBeGreaterThanOrEqual(window.latencyMs?.p99 ?? Infinity);
    expect(window.power.source).toBe('estimate');
    expect(window.power.detail).toContain('edge-npu-trading');
    expect(window.bootId).toBe(agent?.bootId);
  });

  it('stamps reports with strictly increasing times, so the newest report never ties an older one', () => {
    const a = agent?.reportedState();
    const b = agent?.reportedState();
    expect(Date.parse(b?.reportedAt ?? '')).toBeGreaterThan(Date.parse(a?.reportedAt ?? ''));
  });

  it('answers commands with a correlated ack', async () => {
    const correlationId = randomUUID();
    await probe.publish(topics.commands(deviceId), { correlationId, command: 'ping' }, false);
    const ack = await probe.waitFor((m) => is('ack', m) && CommandAckSchema.parse(m.payload).correlationId === correlationId);
    expect(CommandAckSchema.parse(ack.payload).status).toBe('ok');
  });

  it('keeps the running model when a new artifact fails its hash check', async () => {
    const from = probe.messages.length;
    await probe.publish(topics.desired(deviceId), signer.desired(desired(4, { sha256: 'b'.repeat(64), variantId: 'var-bad' })), true);
    const failed = await probe.waitFor(
      reportedWhere((r) => r.lastUpdate?.assignmentVersion === 4),
      20_000,
      from,
    );
    const report = ReportedStateSchema.parse(failed.payload);
    expect(report.lastUpdate).toMatchObject({ outcome: 'failed', reasonCode: 'hash_mismatch' });
    expect(report.active?.sha256).toBe(model.sha256);
    const later = probe.messages.length;
    const tele = await probe.waitFor((m) => is('telemetry', m) && TelemetryWindowSchema.parse(m.payload).inferences > 0, 20_000, later);
    expect(TelemetryWindowSchema.parse(tele.payload).variantId).toBe('var-fp32');
  });

  it('keeps the running model when the new one fails to load or fails its smoke run', async () => {
    const garbage = new TextEncoder().encode('this is not an onnx model at all');
    server.add('/a/garbage.onnx', garbage);
    let from = probe.messages.length;
    const bad = {
      artifactUrl: server.url('/a/garbage.onnx'),
      sha256: sha256(garbage),
      sizeBytes: garbage.length,
      variantId: 'var-garbage',
    };
    await probe.publish(topics.desired(deviceId), signer.desired(desired(5, bad)), true);
    const loadFailed = await probe.waitFor(
      reportedWhere((r) => r.lastUpdate?.assignmentVersion === 5),
      20_000,
      from,
    );
    expect(ReportedStateSchema.parse(loadFailed.payload)).toMatchObject({
      phase: 'failed',
      lastUpdate: { outcome: 'failed', reasonCode: 'load_failed' },
      active: { sha256: model.sha256 },
    });

    const conv = await writeModel('conv');
    server.add('/a/conv.onnx', conv.bytes);
    from = probe.messages.length;
    // Extreme inputs overflow the convolutions: the smoke run sees NaN outputs.
    const nan = {
      artifactUrl: server.url('/a/conv.onnx'),
      sha256: conv.sha256,
      sizeBytes: conv.bytes.length,
      variantId: 'var-nan',
      inputs: conv.inputs.map((i) => ({ ...i, min: 3e38, max: 3.4e38 })),
    };
    await probe.publish(topics.desired(deviceId), signer.desired(desired(6, nan)), true);
    const smokeFailed = await probe.waitFor(
      reportedWhere((r) => r.lastUpdate?.assignmentVersion === 6),
      20_000,
      from,
    );
    expect(ReportedStateSchema.parse(smokeFailed.payload)).toMatchObject({
      lastUpdate: { outcome: 'failed', reasonCode: 'smoke_failed' },
      active: { sha256: model.sha256, variantId: 'var-fp32' },
    });

    // a healthy model that is too slow for the tier target the control plane sent never serves either
    // (the next test uses 8 to 12, which stay above the watermark because failures do not raise it)
    from = probe.messages.length;
    const slow = {
      artifactUrl: server.url('/a/conv.onnx'),
      sha256: conv.sha256,
      sizeBytes: conv.bytes.length,
      variantId: 'var-slow',
      inputs: conv.inputs,
    };
    await probe.publish(
      topics.desired(deviceId),
      signer.desired(desired(7, slow, { health: { latencyTargetMs: 0.000_001, latencyPercentile: 'p99', errorRateMax: 0.01 } })),
      true,
    );
    const tooSlow = ReportedStateSchema.parse(
      (
        await probe.waitFor(
          reportedWhere((r) => r.lastUpdate?.assignmentVersion === 7),
          20_000,
          from,
        )
      ).payload,
    );
    expect(tooSlow).toMatchObject({
      lastUpdate: { outcome: 'failed', reasonCode: 'smoke_failed' },
      active: { sha256: model.sha256, variantId: 'var-fp32' },
    });
    expect(tooSlow.lastUpdate?.message).toMatch(/^smoke latency median [\d.]+ ms over 10 runs exceeds the tier target p99 < 0\.000001 ms$/);
  });

  it('refuses, before fetching a byte, an artifact whose signed manifest does not check out', async () => {
    const requestsBefore = server.requests;
    const forger = new TestSigner();
    const past = new Date(Date.now() - 60_000).toISOString();
    const cases: [string, (d: DesiredState) => DesiredModel, RegExp][] = [
      ['a signing key the root never certified', (d) => forger.signed(unsigned(d), deviceId, 8), /root signature/],
      [
        'a manifest naming other bytes',
        (d) => ({ ...unsigned(d), manifest: signer.signed({ ...unsigned(d), sha256: 'c'.repeat(64) }, deviceId, 9).manifest }),
        /does not match its signed manifest \(sha256\)/,
      ],
      ['a manifest issued for another device', (d) => signer.signed(unsigned(d), randomUUID(), 10), /another device/],
      ['an expired manifest', (d) => signer.signed(unsigned(d), deviceId, 11, { expiresAt: past }), /expired/],
      [
        'a genuine manifest signed for an older assignment',
        (d) => signer.signed(unsigned(d), deviceId, 3),
        /signed for assignment 3, not for assignment 12/,
      ],
    ];
    let version = 8;
    for (const [, forge, message] of cases) {
      const from = probe.messages.length;
      const base = desired(version, { variantId: `var-forged-${version}`, sha256: 'd'.repeat(64) });
      await probe.publish(topics.desired(deviceId), signer.desired({ ...base, model: forge(base) }), true);
      const failed = await probe.waitFor(
        reportedWhere((r) => r.lastUpdate?.assignmentVersion === version),
        20_000,
        from,
      );
      const report = ReportedStateSchema.parse(failed.payload);
      expect(report.lastUpdate).toMatchObject({ outcome: 'failed', reasonCode: 'signature_invalid' });
      expect(report.lastUpdate?.message).toMatch(message);
      expect(report.active?.variantId).toBe('var-fp32');
      version += 1;
    }
    expect(server.requests).toBe(requestsBefore);
  });

  it('row 7: refuses a desired state below the watermark, also after a restart with no target to compare with', async () => {
    // restarted with nothing retained, the agent has no target: only its persisted watermark (3) can
    // refuse the replay (before the restart, the failed assignment 12 it targets would refuse it too)
    await probe.publish(topics.desired(deviceId), null, true);
    await fx.stopAgent();
    const warnings: string[] = [];
    const from = probe.messages.length;
    const restarted = await fx.startAgent({ seed: 7, logger: createLogger('warn', (line) => void warnings.push(line)) });
    agent = restarted;
    await probe.waitFor(
      reportedWhere((r) => r.bootId === restarted.bootId),
      20_000,
      from,
    );
    await probe.publish(topics.desired(deviceId), signer.desired(desired(2, { variantId: 'var-old' })), false);
    // the refusal is an event of its own: waiting for it, not for a fixed time, shows the state was looked at
    await waitFor(
      () =>
        Promise.resolve(
          warnings.some((l) => l.includes('desired state refused') && l.includes('assignmentVersion 2 is below the applied watermark 3')),
        ),
      10_000,
      'assignment 2 refused',
    );
    expect(restarted.reportedState()).toMatchObject({ appliedAssignmentVersion: 3, active: { variantId: 'var-fp32' } });
    const reports = probe.messages
      .slice(from)
      .filter((m) => is('reported', m))
      .map((m) => ReportedStateSchema.parse(m.payload));
    expect(reports.filter((r) => r.lastUpdate?.assignmentVersion === 2 || r.active?.variantId === 'var-old')).toEqual([]);
  });

  it('goes offline on stop and restarts from disk without downloading again', async () => {
    await probe.publish(topics.desired(deviceId), signer.desired(desired(3)), true);
    const from = probe.messages.length;
    await fx.stopAgent();
    agent = null;
    const offline = await probe.waitFor((m) => is('status', m) && StatusMessageSchema.parse(m.payload).state === 'offline', 5_000, from);
    expect(offline.payload).toMatchObject({ state: 'offline' });
    const requestsBefore = server.requests;
    const restarted = await startAgent();
    const report = await probe.waitFor(
      reportedWhere((r) => r.bootId === restarted.bootId && r.phase === 'running'),
      20_000,
      from,
    );
    expect(ReportedStateSchema.parse(report.payload).active?.sha256).toBe(model.sha256);
    expect(server.requests).toBe(requestsBefore);
  });

  it('honours a remediation rate cap from its desired state (over the target rate) and reports it', async () => {
    const from = probe.messages.length;
    const actionId = randomUUID();
    // the fixture's target rate is 50 Hz; the cap binds even though the target was not lowered with it
    const caps = { actionId, maxRateHz: 4, dutyCycle: null, dutyPeriodSeconds: 60 };
    await probe.publish(topics.desired(deviceId), signer.desired(desired(40, {}, { remediation: caps })), true);
    const reported = await probe.waitFor(
      reportedWhere((r) => r.remediation?.actionId === actionId),
      20_000,
      from,
    );
    expect(ReportedStateSchema.parse(reported.payload).remediation).toEqual({
      actionId,
      maxRateHz: 4,
      dutyCycle: null,
      effectiveRateHz: 4,
    });
    const after = probe.messages.length;
    const windows = () => probe.messages.slice(after).filter((x) => is('telemetry', x));
    await probe.waitFor(() => windows().length >= 4, 20_000, after);
    // 1 s windows after the one the cap arrived in: 4–5 runs each at the cap, instead of ~50
    const counts = windows()
      .slice(1)
      .map((x) => TelemetryWindowSchema.parse(x.payload).inferences);
    for (const n of counts) expect(n).toBeLessThanOrEqual(6);
    expect(counts.some((n) => n > 0)).toBe(true);
  });
});
