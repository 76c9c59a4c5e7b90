import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpClassifier, REFERENCE_BENCHMARK } from '@edge-fleet/onnx-builder';
import { topics, VariantMeasurementSchema, type EnrollResponse, type ReportedState } from '@edge-fleet/shared';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { jsonPost, startHarness, waitFor, type Harness } from '../test-support/harness.js';

// Issue 16, "latency measured where it runs": a preview predicts from what the device itself measured.
interface Decision {
  deviceId: string;
  outcome: string;
  variantId: string | null;
  predictedLatencyMs: number | null;
  latencySource: string | null;
  reason: string;
}
interface Variant {
  id: string;
  status: string;
  measured: unknown;
}

let h: Harness;
let device: EnrollResponse;
let client: MqttClient;
let versionId: string;
let variants: Variant[];
const bootId = randomUUID();
let reportedAt = Date.now();

beforeAll(async () => {
  h = await startHarness({ VARIANT_BUILD: 'on', VARIANT_BENCH_RUNS: '20' });
  const m = buildMlpClassifier({ seed: 5 });
  const form = new FormData();
  form.set('file', new Blob([Buffer.from(m.bytes)]), 'mlp.onnx');
  form.set('name', 'measured-mlp');
  form.set('version', '1');
  form.set('inputs', JSON.stringify(m.inputs));
  const created = (await (await h.api('/api/v1/models', { method: 'POST', body: form })).json()) as { id: string };
  versionId = created.id;
  variants = await waitFor(
    async () => {
      const v = (await (await h.api(`/api/v1/models/${versionId}`)).json()) as { variants: Variant[] };
      return v.variants.every((x) => x.status !== 'building') ? v.variants : null;
    },
    180_000,
    'variants built',
  );
  device = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle'); // "100 TOPS", p95 < 5 ms
  client = await connectDevice(h, device);
}, 240_000);

afterAll(async () => {
  await client.endAsync();
  await h.close();
});

async function decision(): Promise<Decision> {
  const res = await jsonPost(h, '/api/v1/assignments/preview', { scenario: 'autonomous_driving', modelVersionId: versionId });
  const d = ((await res.json()) as { decisions: Decision[] }).decisions.find((x) => x.deviceId === device.deviceId);
  if (!d) throw new Error('device missing from the preview');
  return d;
}

async function report(extra: Pick<ReportedState, 'benchmark' | 'measuredLatency'>): Promise<void> {
  reportedAt += 1_000;
  const r: ReportedState = {
    schema: 1,
    deviceId: device.deviceId,
    bootId,
    phase: 'idle',
    appliedAssignmentVersion: null,
    active: null,
    lastUpdate: null,
    agentVersion: 'latency-basis-test',
    reportedAt: new Date(reportedAt).toISOString(),
    ...extra,
  };
  await client.publishAsync(topics.reported(device.deviceId), JSON.stringify(r), { qos: 1 });
}

/** The builder's p50 of a variant (its timed runs here are too few for a p95) and its run of the reference benchmark. */
function builderFigures(variantId: string | null): { p50: number; benchP50: number } {
  const m = VariantMeasurementSchema.parse(variants.find((v) => v.id === variantId)?.measured);
  if (!m.referenceBenchmark) throw new Error('the builder recorded no reference benchmark');
  return { p50: m.latencyMs.p50, benchP50: m.referenceBenchmark.p50Ms };
}

const benchmark = (p50Ms: number): ReportedState['benchmark'] => ({
  model: REFERENCE_BENCHMARK.id,
  p50Ms,
  runs: REFERENCE_BENCHMARK.runs,
  executionProviders: ['cpu'],
  measuredAt: new Date().toISOString(),
});

describe('assignment preview predicts latency from what the device measured', () => {
  it('the builder times the reference benchmark with every variant it measures', () => {
    for (const v of variants.filter((x) => x.measured !== null)) {
      const m = VariantMeasurementSchema.parse(v.measured);
      expect(m.referenceBenchmark).toMatchObject({ model: REFERENCE_BENCHMARK.id, runs: REFERENCE_BENCHMARK.runs });
      expect(m.referenceBenchmark?.p50Ms).toBeGreaterThan(0);
    }
  });

  it('an unmeasured device gets the reference figure labelled "unmeasured device", not a TOPS-scaled one', async () => {
    const d = await decision();
    expect(d).toMatchObject({ outcome: 'assign', latencySource: 'unmeasured' });
    expect(d.predictedLatencyMs).toBe(builderFigures(d.variantId).p50);
    expect(d.reason).toMatch(
      /\(unmeasured device: reference p50 .* ms on .*, not scaled \(it has not reported a benchmark\); \d+ run\(s\) show no p95: their p50, a lower bound\)/,
    );
  });

  it("a reported benchmark scales the reference figure by the device's measured speed", async () => {
    const before = await decision();
    const { p50, benchP50 } = builderFigures(before.variantId);
    await report({ benchmark: benchmark(benchP50 * 4) });
    const d = await waitFor(async () => {
      const x = await decision();
      return x.latencySource === 'speed-factor' ? x : null;
    });
    expect(d.variantId).toBe(before.variantId);
    expect(d.predictedLatencyMs).toBeCloseTo(p50 * 4, 6);
    expect(d.reason).toContain(`× 4.00 (${REFERENCE_BENCHMARK.id} benchmark: `);
  });

  it("the device's own smoke-run measurement of a variant comes first, and one over the target moves it to the next precision", async () => {
    const first = await decision();
    const chosen = first.variantId ?? '';
    const measured = (p: number) => ({
      variantId: chosen,
      p50: p,
      p95: p,
      p99: p,
      runs: 10,
      executionProvider: 'cpu',
      measuredAt: new Date().toISOString(),
    });
    await report({ benchmark: benchmark(1), measuredLatency: [measured(0.25)] });
    const own = await waitFor(async () => {
      const x = await decision();
      return x.latencySource === 'device' ? x : null;
    });
    expect(own).toMatchObject({ variantId: chosen, predictedLatencyMs: 0.25 });
    expect(own.reason).toMatch(/p95 0\.25 ms ≤ 5 ms \(p50 measured on this device over 10 smoke runs \(cpu\); 10 run\(s\) show no p95/);

    await report({ benchmark: benchmark(1), measuredLatency: [measured(57)] });
    const slow = await waitFor(async () => {
      const x = await decision();
      return x.variantId !== chosen ? x : null;
    });
    expect(slow.reason).toMatch(/p95 57\.00 ms is over the 5 ms target \(p50 measured on this device over 10 smoke runs \(cpu\)/);
  });

  it("the device page shows what the device measured: benchmark, execution providers and each variant's smoke runs", async () => {
    const input = encodeURIComponent(JSON.stringify({ id: device.deviceId }));
    const body = (await (await h.api(`/trpc/devices.get?input=${input}`)).json()) as {
      result: { data: { measured: { benchmark: { p50Ms: number; executionProviders: string[] }; variants: unknown[] } } };
    };
    const m = body.result.data.measured;
    expect(m.benchmark).toMatchObject({ p50Ms: 1, executionProviders: ['cpu'] });
    expect(m.variants).toEqual([
      expect.objectContaining({
        p95: 57,
        runs: 10,
        executionProvider: 'cpu',
        variant: expect.objectContaining({ name: 'measured-mlp' }) as unknown,
      }),
    ]);
  });

  it("a rollout to the device predicts from the device's own measurement too", async () => {
    const res = await jsonPost(h, '/api/v1/rollouts', {
      modelVersionId: versionId,
      name: 'measured',
      target: { deviceIds: [device.deviceId] },
      waves: [{ percent: 100, soakSeconds: 60 }],
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const c = new pg.Client({ connectionString: h.dbUrl });
    await c.connect();
    try {
      const reason = await waitFor(async () => {
        const r = await c.query<{ reason: string }>('SELECT reason FROM "Assignment" WHERE "deviceId" = $1 ORDER BY version DESC LIMIT 1', [
          device.deviceId,
        ]);
        return r.rows[0]?.reason ?? null;
      });
      expect(reason).toMatch(/^rollout "measured": .*\(p50 measured on this device over 10 smoke runs \(cpu\)/);
    } finally {
      await c.end();
    }
  });
});
