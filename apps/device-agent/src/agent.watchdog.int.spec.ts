import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildMlpClassifier } from '@edge-fleet/onnx-builder';
import { type DesiredState, ReportedStateSchema, topics } from '@edge-fleet/shared';
import { TcpProxy, waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStateStore } from './storage/agent-state.store.js';
import { AgentFixture } from './test-support/agent.fixture.js';
import { sha256 } from './test-support/models.js';
import { BROKER_URL } from './test-support/mqtt.probe.js';

// robotic_manipulation: p99 <= 20 ms. The MLP runs in well under 1 ms; the MatMul chain takes ~60 ms.
const SCENARIO = 'robotic_manipulation';
const fx = new AgentFixture({
  dataDirPrefix: 'agent-watchdog-',
  secretChar: 'y',
  scenario: SCENARIO,
  preset: 'robot-npu-arm',
  // `next` is replaced by a second MLP (another seed) once set up
  models: { good: 'mlp', slow: 'slow', next: 'mlp' },
});
const { deviceId, signer, server, probe } = fx;
const broker = new URL(BROKER_URL);
let proxy: TcpProxy;

const model = (which: 'good' | 'slow' | 'next') => fx.served.file(which);

function desired(version: number, which: 'good' | 'slow' | 'next'): DesiredState {
  return fx.desired(version, which, {
    scenario: SCENARIO,
    reason: 'watchdog test',
    model: { name: which },
    runtime: { targetRateHz: 20 },
  });
}

const reported = fx.reported.bind(fx);

/** Polls `read` every 50 ms until it gives a value (not null). */
const until = <T>(what: string, read: () => T | null, ms: number): Promise<T> => waitFor(read, ms, what, { intervalMs: 50 });

beforeAll(async () => {
  await fx.setUp();
  const next = buildMlpClassifier({ seed: 2 });
  fx.served.add('next', { ...model('good'), name: 'next', bytes: next.bytes, sha256: sha256(next.bytes), inputs: next.inputs });
  proxy = await TcpProxy.start(broker.hostname, Number(broker.port || 1883));
  const { host, port } = proxy.address;
  await fx.startAgent({ seed: 3, mqttUrl: `mqtt://${host}:${port}` });
});

afterAll(async () => {
  await fx.tearDown();
  await proxy.close();
});

describe('local watchdog on Mosquitto', () => {
  it('row 4: rolls a slow model back by itself while the control plane is unreachable, reports why on reconnect, and takes the next update', async () => {
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

    const local = fx.agent;
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
    const saved = await new AgentStateStore(fx.dataDir).load();
    expect(saved.active?.model.sha256).toBe(model('good').sha256);
    expect(saved.rejected).toEqual({ assignmentVersion: 2, sha256: model('slow').sha256 });
    expect(await readdir(join(fx.dataDir, 'models'))).toEqual([`${model('good').sha256}.onnx`]);

    from = probe.messages.length;
    await proxy.restore();
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
