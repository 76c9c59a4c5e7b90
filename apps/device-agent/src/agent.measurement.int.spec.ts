import { randomUUID } from 'node:crypto';
import { REFERENCE_BENCHMARK } from '@edge-fleet/onnx-builder';
import { CommandAckSchema, type DesiredState, topics } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceAgent } from './agent.js';
import { createLogger } from './core/logger.js';
import { AgentFixture } from './test-support/agent.fixture.js';

// Issue 16, "latency measured where it runs": the agent reports what it measured, with the assignment.
const fx = new AgentFixture({ dataDirPrefix: 'agent-measure-', secretChar: 'm', models: { mlp: 'mlp', conv: 'conv' } });
const { deviceId, probe } = fx;
const logger = createLogger('error', () => undefined);
let agent: DeviceAgent | null = null;

function desired(version: number, which: 'mlp' | 'conv', latencyTargetMs?: number): DesiredState {
  const health =
    latencyTargetMs === undefined ? {} : { health: { latencyTargetMs, latencyPercentile: 'p95' as const, errorRateMax: 0.01 } };
  return fx.desired(version, which, { runtime: health });
}

const nextReport = fx.nextReport.bind(fx);

beforeAll(() => fx.setUp());
afterAll(() => fx.tearDown());

describe('device agent measures latency where it runs', () => {
  it('reports its reference benchmark from the first report, with the execution providers onnxruntime offers', async () => {
    agent = await fx.startAgent({ logger, seed: 3 });
    const first = await nextReport(() => true, 0);
    expect(first.benchmark).toMatchObject({ model: REFERENCE_BENCHMARK.id, runs: REFERENCE_BENCHMARK.runs });
    expect(first.benchmark?.p50Ms).toBeGreaterThan(0);
    expect(first.benchmark?.executionProviders).toContain('cpu');
    expect(first.measuredLatency).toBeUndefined();
  });

  it("reports the candidate's smoke-run latency with the assignment, p50/p95/p99 over 10 timed runs on the cpu provider", async () => {
    await fx.publishDesired(desired(1, 'mlp'));
    const done = await nextReport((r) => r.appliedAssignmentVersion === 1 && r.phase === 'running');
    const [m] = done.measuredLatency ?? [];
    expect(m).toMatchObject({ variantId: 'var-mlp', runs: 10, executionProvider: 'cpu' });
    expect(m?.p50).toBeGreaterThan(0);
    expect(m?.p50).toBeLessThanOrEqual(m?.p95 ?? 0);
    expect(m?.p95).toBeLessThanOrEqual(m?.p99 ?? 0);
  });

  it('reports the measurement of a candidate that failed its latency target too, newest first', async () => {
    await fx.publishDesired(desired(2, 'conv', 0.000_001));
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
    agent = await fx.startAgent({ logger, seed: 3 });
    const now = agent.reportedState();
    expect(now.benchmark).toBeDefined();
    expect(now.measuredLatency).toHaveLength(2);
    expect(now.benchmark).toEqual(was?.benchmark);
    expect(now.measuredLatency).toEqual(was?.measuredLatency);
  });
});
