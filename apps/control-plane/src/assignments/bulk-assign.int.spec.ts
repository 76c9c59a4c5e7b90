import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpClassifier } from '@edge-fleet/onnx-builder';
import { hardwarePreset } from '@edge-fleet/shared';
import pg from 'pg';
import { startHarness, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('assignment at fleet scale', () => {
  it('assigns a model to 4,000 devices in one transaction (per-device statements once broke the 5 s transaction limit at 3,000)', async () => {
    const n = 4_000;
    const db = new pg.Client({ connectionString: h.dbUrl });
    await db.connect();
    const spec = hardwarePreset('cloud-cpu-node');
    await db.query(`INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec) VALUES ('bulk', $1, $2, $3)`, [spec.hardwareClass, spec.accelerator, spec]);
    const ids = Array.from({ length: n }, () => randomUUID());
    await db.query(`INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash") SELECT id, 'bulk-' || id, 'data_analysis_agent', 'bulk', 'x' FROM unnest($1::uuid[]) AS id`, [ids]);
    const m = buildMlpClassifier({ seed: 6 });
    const form = new FormData();
    form.set('file', new Blob([Buffer.from(m.bytes)]), 'mlp.onnx');
    form.set('name', 'bulk');
    form.set('version', '1');
    form.set('inputs', JSON.stringify(m.inputs));
    const v = (await (await h.api('/api/v1/models', { method: 'POST', body: form })).json()) as { id: string };
    const res = await h.api('/api/v1/scenarios/data_analysis_agent/model', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ modelVersionId: v.id }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ assigned: n, refused: 0 });
    const rows = await db.query<{ n: number; versions: number }>('SELECT count(*)::int AS n, count(DISTINCT "deviceId")::int AS versions FROM "Assignment" WHERE version = 1');
    const devices = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "Device" WHERE "assignmentVersion" = 1');
    await db.end();
    expect(rows.rows[0]).toEqual({ n, versions: n });
    expect(devices.rows[0]?.n).toBe(n);
  });
});
