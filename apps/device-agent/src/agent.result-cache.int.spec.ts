import { join } from 'node:path';
import {
  type DesiredState,
  OipInferResponseSchema,
  OipModelMetadataSchema,
  type ReportedState,
  type TelemetryWindow,
  TelemetryWindowSchema,
  topics,
} from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WatchdogPolicy } from './reconcile/model.watchdog.js';
import { AgentFixture } from './test-support/agent.fixture.js';
import { socketServe } from './test-support/serve.fixture.js';
import { oipRequest } from './test-support/oip.client.js';

// issue 18: the result cache comes with the scenario's policy in the signed desired state; a newer
// control plane's unknown runtime setting does not stop the agent; fault injection slows every run
const fx = new AgentFixture({ dataDirPrefix: 'agent-cache-', models: { mlp: 'mlp' } });
const { deviceId, probe } = fx;
/** Every run of the model takes this much longer (fault injection): the cache's saved time must show it. */
const INJECTED_MS = 15;
const LENIENT: WatchdogPolicy = { latencyTargetMs: 10_000, latencyPercentile: 'p99', errorRateMax: 1 };
let socketPath: string;

/** The desired state a newer control plane sends: the policy's cache, and runtime settings this agent never heard of. */
function withCache(version: number, resultCache: { entries: number; ttlMs: number } | null): DesiredState {
  const d = fx.desired(version, 'mlp', { model: { name: 'mlp', version: '1' } });
  const runtime = { ...d.runtime, ...(resultCache === null ? {} : { resultCache }), thermalLimitC: 85, schedule: { nightly: true } };
  return { ...d, runtime };
}

const input = (v: number) => ({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: new Array<number>(64).fill(v) }] });

async function ask(v: number): Promise<{ hit: boolean; inferenceMs: number }> {
  const res = await oipRequest({ socketPath }, 'POST', '/v2/models/mlp/infer', input(v));
  expect(res.status).toBe(200);
  const p = OipInferResponseSchema.parse(res.json()).parameters;
  return { hit: p?.cache_hit === true, inferenceMs: Number(p?.inference_ms) };
}

const windows = (from: number): TelemetryWindow[] =>
  probe.messages
    .slice(from)
    .filter((m) => m.topic === topics.telemetry(deviceId))
    .map((m) => TelemetryWindowSchema.parse(m.payload));

let firstReport: ReportedState;

beforeAll(async () => {
  await fx.setUp();
  socketPath = join(fx.dataDir, 'inference.sock');
  await fx.publishDesired(withCache(1, { entries: 32, ttlMs: 60_000 }));
  const from = probe.messages.length;
  await fx.startAgent({
    benchmark: false,
    watchdogPolicy: () => LENIENT,
    injectLatency: { latencyMs: INJECTED_MS, afterMs: 0 },
    serve: socketServe(socketPath),
  });
  firstReport = await fx.nextReport((r) => r.phase === 'running' && r.active?.sha256 === fx.models.mlp.sha256, from);
}, 60_000);

afterAll(() => fx.tearDown());

describe('issue 18: result cache from the scenario policy, unknown runtime settings, fault injection', () => {
  it('a desired state carrying runtime settings this agent does not know is applied (the model runs), not refused', () => {
    expect(firstReport).toMatchObject({ phase: 'running', appliedAssignmentVersion: 1, active: { sha256: fx.models.mlp.sha256 } });
  });

  it('the policy’s cache serves a repeated input from the cache (no local --serve-cache-entries given)', async () => {
    expect((await ask(0.25)).hit).toBe(false);
    expect((await ask(0.25)).hit).toBe(true);
    expect((await ask(0.5)).hit).toBe(false);
  });

  it('a window whose requests were all cache hits is labelled traffic, with the hits and the run time they saved', async () => {
    const from = probe.messages.length;
    const until = Date.now() + 3_000;
    let hits = 0;
    while (Date.now() < until) if ((await ask(0.25)).hit) hits++;
    expect(hits).toBeGreaterThan(10);
    // the window that held the last hits closes within a second; the next one has none
    const stopped = probe.messages.length;
    await probe.waitFor(
      (m) => m.topic === topics.telemetry(deviceId) && TelemetryWindowSchema.parse(m.payload).cacheHits === 0,
      10_000,
      stopped,
    );
    const allHits = windows(from).filter((w) => w.cacheHits > 0 && w.inferences === 0);
    expect(allHits.length).toBeGreaterThan(0);
    for (const w of allHits) {
      expect(w.source).toBe('traffic');
      // each hit saved the measured run time of the run it reused, which the injected latency slowed
      expect(w.cacheSavedMs).toBeGreaterThanOrEqual(w.cacheHits * INJECTED_MS);
    }
  }, 20_000);

  it('fault injection: every run is slowed and says so; the reported state names it, and where the model runs and why', async () => {
    expect((await ask(0.75)).inferenceMs).toBeGreaterThanOrEqual(INJECTED_MS);
    expect(firstReport.faultInjection?.latencyMs).toBe(INJECTED_MS);
    expect(Date.parse(firstReport.faultInjection?.since ?? '')).toBeLessThanOrEqual(Date.parse(firstReport.reportedAt));
    expect(firstReport.placement?.runsOn).toMatch(/^(inline|worker)$/);
    expect(firstReport.placement?.basis).toMatch(/^(inline|worker): /);
    const meta = OipModelMetadataSchema.parse((await oipRequest({ socketPath }, 'GET', '/v2/models/mlp')).json());
    expect(meta.parameters?.placement).toBe(firstReport.placement?.runsOn);
  });

  it('a desired state whose policy turned the cache off stops serving from it', async () => {
    const from = probe.messages.length;
    await fx.publishDesired(withCache(2, null));
    await fx.nextReport((r) => r.appliedAssignmentVersion === 2, from);
    expect((await ask(0.25)).hit).toBe(false);
    expect((await ask(0.25)).hit).toBe(false);
  });
});
