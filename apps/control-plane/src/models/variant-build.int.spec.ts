import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpClassifier, GraphBuilder } from '@edge-fleet/onnx-builder';
import { hardwarePreset, VariantMeasurementSchema, type HardwareProfile } from '@edge-fleet/shared';
import { jsonPost, startHarness, waitFor, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ VARIANT_BUILD: 'on', VARIANT_BENCH_RUNS: '20' });
});
afterAll(async () => {
  await h.close();
});

interface Variant {
  id: string;
  precision: string;
  method: string;
  status: string;
  reason: string | null;
  sha256: string | null;
  sizeBytes: number | null;
  measured: unknown;
}
interface Version {
  id: string;
  variants: Variant[];
}
interface Summary {
  assigned: number;
  refused: number;
  byPrecision: Record<string, number>;
  decisions: { name: string; outcome: string; precision: string | null; reason: string }[];
}

async function enroll(name: string, profile: HardwareProfile): Promise<void> {
  const { token } = (await (await jsonPost(h, '/api/v1/enrollment-tokens', { scenario: 'robotic_manipulation' })).json()) as {
    token: string;
  };
  expect((await jsonPost(h, '/api/v1/devices/enroll', { token, name, hardwareProfile: profile }, false)).status).toBe(201);
}

describe('variant builder and capability-aware assignment', () => {
  it('builds, measures and stores FP16/INT8/INT4 variants of an upload in a background job', async () => {
    const m = buildMlpClassifier({ inputSize: 256, hidden: 512, classes: 10, seed: 2, layers: 'matmul' });
    const form = new FormData();
    form.set('file', new Blob([Buffer.from(m.bytes)]), 'mlp.onnx');
    form.set('name', 'wide-mlp');
    form.set('version', '1');
    form.set('inputs', JSON.stringify(m.inputs));
    const created = (await (await h.api('/api/v1/models', { method: 'POST', body: form })).json()) as Version;
    expect(created.variants.map((v) => `${v.method}:${v.status}`)).toEqual([
      'fp32:ready',
      'fp16:building',
      'int8-static-qdq:building',
      'int8-dynamic:building',
      'int4-matmulnbits:building',
    ]);

    const built = await waitFor(
      async () => {
        const v = (await (await h.api(`/api/v1/models/${created.id}`)).json()) as Version;
        return v.variants.every((x) => x.status !== 'building') ? v : null;
      },
      180_000,
      'variants built',
    );
    const by = Object.fromEntries(built.variants.map((v) => [v.method, v]));
    for (const method of ['fp32', 'fp16', 'int8-static-qdq', 'int8-dynamic']) {
      expect(by[method]?.status, `${method}: ${by[method]?.reason ?? ''}`).toBe('ready');
      const measured = VariantMeasurementSchema.parse(by[method]?.measured);
      expect(measured.latencyMs.p99).toBeGreaterThan(0);
      if (method !== 'fp32') expect(measured.agreement?.cosine).toBeGreaterThan(0.99);
    }
    expect(['ready', 'unusable']).toContain(by['int4-matmulnbits']?.status);
    const fp32Size = by.fp32?.sizeBytes ?? 0;
    expect((by['int8-dynamic']?.sizeBytes ?? 0) / fp32Size).toBeLessThan(0.3);
    expect((by.fp16?.sizeBytes ?? 0) / fp32Size).toBeLessThan(0.55);
    const art = await h.api(`/api/v1/artifacts/${by['int8-dynamic']?.sha256 ?? ''}`);
    expect(art.status).toBe(200);

    // each device of the scenario gets the variant that fits its hardware, with the reason
    await enroll('arm-int8', hardwarePreset('robot-npu-arm'));
    await enroll('arm-no-int8', { ...hardwarePreset('robot-npu-arm'), precisions: ['fp32', 'fp16'] });
    await enroll('arm-tiny', { ...hardwarePreset('robot-npu-arm'), precisions: ['int8'], sramMb: 0, dramMb: 0.1 });
    const preview = (await (
      await jsonPost(h, '/api/v1/assignments/preview', { scenario: 'robotic_manipulation', modelVersionId: created.id })
    ).json()) as Summary;
    const d = Object.fromEntries(preview.decisions.map((x) => [x.name, x]));
    expect(d['arm-int8']).toMatchObject({ outcome: 'assign', precision: 'int8' });
    expect(d['arm-no-int8']).toMatchObject({ outcome: 'assign', precision: 'fp16' });
    expect(d['arm-no-int8']?.reason).toMatch(/int8 is not supported by the npu/);
    expect(d['arm-tiny']).toMatchObject({ outcome: 'refuse' });
    expect(d['arm-tiny']?.reason).toMatch(/does not fit/);
    expect(preview).toMatchObject({ assigned: 2, refused: 1, byPrecision: { int8: 1, fp16: 1 } });

    const res = await h.api('/api/v1/scenarios/robotic_manipulation/model', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ modelVersionId: created.id }),
    });
    expect(await res.json()).toMatchObject({ assigned: 2, refused: 1 });
    const list = (await (await h.api('/api/v1/devices?scenario=robotic_manipulation')).json()) as {
      items: { id: string; name: string; assignmentVersion: number }[];
    };
    const tiny = list.items.find((x) => x.name === 'arm-tiny');
    expect(tiny?.assignmentVersion).toBe(0); // refused: keeps what it had
    expect(list.items.find((x) => x.name === 'arm-int8')?.assignmentVersion).toBe(1);
    // in the same transaction: the scenario points at the version, the refusal and the assignment are audited
    const c = new pg.Client({ connectionString: h.dbUrl });
    await c.connect();
    try {
      const policy = await c.query<{ modelVersionId: string }>(
        `SELECT "modelVersionId"::text AS "modelVersionId" FROM "Policy" WHERE scenario = 'robotic_manipulation'`,
      );
      expect(policy.rows[0]?.modelVersionId).toBe(created.id);
      const audits = await c.query<{ action: string; targetId: string; details: Record<string, unknown> }>(
        `SELECT action, "targetId", details FROM "AuditEvent" WHERE action IN ('assignment.refused', 'scenario.assign_model') ORDER BY id`,
      );
      expect(audits.rows).toEqual([
        {
          action: 'assignment.refused',
          targetId: tiny?.id,
          details: expect.objectContaining({
            scenario: 'robotic_manipulation',
            modelVersionId: created.id,
            reason: expect.stringMatching(/does not fit/) as unknown,
          }) as unknown,
        },
        {
          action: 'scenario.assign_model',
          targetId: 'robotic_manipulation',
          details: { modelVersionId: created.id, assigned: 2, refused: 1 },
        },
      ]);
    } finally {
      await c.end();
    }
  });

  it('keeps a model with an opset the builder does not support registered, FP32 usable, variants not_applicable with the reason (issue 16)', async () => {
    const g = new GraphBuilder('relu22');
    g.input('x', 'float32', [1, 4]);
    g.output(g.op('Relu', ['x'], { output: 'y' }), 'float32', [1, 4]);
    const bytes = g.build({ irVersion: 10, opsets: [{ domain: '', version: 22 }] });
    const form = new FormData();
    form.set('file', new Blob([Buffer.from(bytes)]), 'relu.onnx');
    form.set('name', 'new-opset');
    form.set('version', '1');
    form.set('inputs', JSON.stringify([{ name: 'x', dtype: 'float32', shape: [1, 4] }]));
    const res = await h.api('/api/v1/models', { method: 'POST', body: form });
    expect(res.status, await res.clone().text()).toBe(201);
    const created = (await res.json()) as Version;
    const built = await waitFor(
      async () => {
        const v = (await (await h.api(`/api/v1/models/${created.id}`)).json()) as Version;
        return v.variants.every((x) => x.status !== 'building') ? v : null;
      },
      120_000,
      'variants settled',
    );
    expect(built.variants.find((v) => v.method === 'fp32')?.status).toBe('ready');
    for (const v of built.variants.filter((x) => x.method !== 'fp32')) {
      expect(v.status).toBe('not_applicable');
      expect(v.reason).toMatch(/opset 22 is outside the supported range/);
    }
  });

  it('calibrates the static INT8 variant on inputs uploaded with the version', async () => {
    const m = buildMlpClassifier({ seed: 3 });
    const form = new FormData();
    form.set('file', new Blob([Buffer.from(m.bytes)]), 'mlp.onnx');
    const samples = Array.from({ length: 8 }, (_, s) => Array.from({ length: 64 }, (_, i) => Math.sin(s + i)));
    form.set('calibration', new Blob([JSON.stringify({ input: samples })]), 'calibration.json');
    form.set('name', 'calibrated-mlp');
    form.set('version', '1');
    form.set('inputs', JSON.stringify(m.inputs));
    const created = (await (await h.api('/api/v1/models', { method: 'POST', body: form })).json()) as Version & { calibration: string };
    expect(created.calibration).toBe('uploaded');
    const built = await waitFor(
      async () => {
        const v = (await (await h.api(`/api/v1/models/${created.id}`)).json()) as Version;
        return v.variants.every((x) => x.status !== 'building') ? v : null;
      },
      180_000,
      'variants built',
    );
    const qdq = built.variants.find((v) => v.method === 'int8-static-qdq');
    expect(qdq?.status, qdq?.reason ?? '').toBe('ready');
  });
});
