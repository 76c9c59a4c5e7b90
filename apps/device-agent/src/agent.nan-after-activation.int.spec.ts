import { join } from 'node:path';
import { GraphBuilder } from '@edge-fleet/onnx-builder';
import { type DesiredState, OipInferResponseSchema, ReportedStateSchema, type Scenario, topics } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WatchdogPolicy } from './reconcile/model.watchdog.js';
import { AgentFixture } from './test-support/agent.fixture.js';
import { socketServe } from './test-support/serve.fixture.js';
import { type ModelFile, sha256 } from './test-support/models.js';
import { oipRequest } from './test-support/oip.client.js';

/**
 * Row 4, the failure a smoke run cannot see: a model that is finite on every input its manifest
 * describes (the vetting and the probe draw from [0, 1]) and NaN on what the device's application
 * really sends (negative readings). Only the traffic after activation shows it.
 */
const SCENARIO: Scenario = 'robotic_manipulation';
const fx = new AgentFixture({
  dataDirPrefix: 'agent-nan-',
  scenario: SCENARIO,
  preset: 'robot-npu-arm',
  // 2.0.0 is replaced by the square-root model once set up
  models: { '1.0.0': 'mlp', '2.0.0': 'mlp' },
});
const { deviceId, signer, probe } = fx;
type Version = '1.0.0' | '2.0.0';
let socketPath: string;

/** `probabilities = Sqrt(input)`: finite for the [0, 1] the manifest states, NaN below 0. */
function buildSqrtModel(): Uint8Array {
  const g = new GraphBuilder('sqrt_of_input');
  const x = g.input('input', 'float32', ['N', 64]);
  g.op('Sqrt', [x], { output: 'probabilities' });
  g.output('probabilities', 'float32', ['N', 64]);
  return g.build({ docString: 'finite on [0, 1], NaN on negative inputs' });
}

const file = (version: Version): ModelFile => fx.served.file(version);

function desired(assignment: number, version: Version): DesiredState {
  return fx.desired(assignment, version, {
    scenario: SCENARIO,
    reason: 'test',
    model: { modelId: 'm-sensor', name: 'sensor', version },
    runtime: { targetRateHz: 20 },
  });
}

// latency is not what is judged here; one error in 20 inferences breaks the window
const POLICY: WatchdogPolicy = { latencyTargetMs: 10_000, latencyPercentile: 'p99', errorRateMax: 0.05 };

beforeAll(async () => {
  await fx.setUp();
  const bytes = buildSqrtModel();
  fx.served.add('2.0.0', {
    ...file('1.0.0'),
    bytes,
    sha256: sha256(bytes),
    inputs: [{ name: 'input', dtype: 'float32', shape: [1, 64], min: 0, max: 1 }],
  });
  socketPath = join(fx.dataDir, 'inference.sock');
  await fx.startAgent({
    seed: 7,
    watchdog: { windows: 4, breachesToRollback: 2 },
    watchdogPolicy: () => POLICY,
    serve: socketServe(socketPath),
  });
});

afterAll(() => fx.tearDown());

/** What the application sends: sensor readings that go below zero. */
async function infer(i: number): Promise<{ status: number; version: string | null; body: string }> {
  const data = Array.from({ length: 64 }, (_, k) => Math.sin(i + k));
  const res = await oipRequest({ socketPath }, 'POST', '/v2/models/sensor/infer', {
    inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data }],
  });
  const body = res.body.toString('utf8');
  return {
    status: res.status,
    version: res.status === 200 ? (OipInferResponseSchema.parse(res.json()).model_version ?? null) : null,
    body,
  };
}

describe('a model that turns NaN after activation (row 4)', () => {
  it('row 4: passes its smoke run, answers NaN to real traffic, and the watchdog returns the device to the previous model', async () => {
    await probe.publish(topics.desired(deviceId), signer.desired(desired(1, '1.0.0')), true);
    await probe.waitFor(
      fx.reported((r) => r.appliedAssignmentVersion === 1 && r.phase === 'running'),
      20_000,
    );
    const from = probe.messages.length;
    await probe.publish(topics.desired(deviceId), signer.desired(desired(2, '2.0.0')), true);
    // the smoke run on in-range inputs passed: the model is activated
    await probe.waitFor(
      fx.reported(
        (r) => r.active?.sha256 === file('2.0.0').sha256 && r.lastUpdate?.assignmentVersion === 2 && r.lastUpdate.outcome === 'ok',
      ),
      20_000,
      from,
    );
    const answers: { status: number; version: string | null; body: string }[] = [];
    let i = 0;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      const a = await infer(i++);
      answers.push(a);
      if (a.version === '1.0.0' && answers.some((x) => x.status !== 200)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const failed = answers.filter((a) => a.status !== 200);
    expect(failed.length).toBeGreaterThan(0);
    // the application is told why, in the protocol's error object
    expect(failed[0]?.body).toMatch(/non-finite output/);
    expect(answers.at(-1)?.version).toBe('1.0.0');

    const report = await probe.waitFor(
      fx.reported((r) => r.lastUpdate?.assignmentVersion === 2 && r.lastUpdate.outcome === 'failed'),
      10_000,
      from,
    );
    const r = ReportedStateSchema.parse(report.payload);
    expect(r.active?.sha256).toBe(file('1.0.0').sha256);
    expect(r.lastUpdate).toMatchObject({ reasonCode: 'watchdog_failed' });
    expect(r.lastUpdate?.message).toMatch(/^watchdog: model .*error rate \d/);
  }, 90_000);
});
