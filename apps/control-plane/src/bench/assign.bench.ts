/**
 * `pnpm bench:assign`: how long a scenario assignment takes for N devices (the PUT: decide per
 * device, write every assignment in one transaction, enqueue the publishes). Devices are inserted
 * with SQL (no connections), so this measures the control plane's write path alone.
 * Baseline in the same run: a bare multi-row INSERT of the same number of rows.
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { buildMlpClassifier } from '@edge-fleet/onnx-builder';
import pg from 'pg';
import { startHarness } from '../test-support/harness.js';
import { insertBenchProfile } from './bench-devices.js';

const n = Number(process.argv[2] ?? 2_000);
const h = await startHarness({ LOG_LEVEL: 'error' });
try {
  const db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  await insertBenchProfile(db);
  const ids = Array.from({ length: n }, () => randomUUID());
  const t0 = performance.now();
  await db.query(
    `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash") SELECT id, 'bench-' || id, 'robotic_manipulation', 'bench', 'x' FROM unnest($1::uuid[]) AS id`,
    [ids],
  );
  const baselineMs = performance.now() - t0;
  const m = buildMlpClassifier({ seed: 1 });
  const form = new FormData();
  form.set('file', new Blob([Buffer.from(m.bytes)]), 'mlp.onnx');
  form.set('name', 'bench');
  form.set('version', '1');
  form.set('inputs', JSON.stringify(m.inputs));
  const v = (await (await h.api('/api/v1/models', { method: 'POST', body: form })).json()) as { id: string };
  const t1 = performance.now();
  const res = await h.api('/api/v1/scenarios/robotic_manipulation/model', {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelVersionId: v.id }),
  });
  const putMs = performance.now() - t1;
  const body = (await res.json()) as { assigned: number };
  const rows = ((await db.query('SELECT count(*)::int AS n FROM "Assignment"')).rows[0] as { n: number }).n;
  await db.end();
  console.log(`machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}`);
  console.log(`devices: ${n}, assigned: ${body.assigned}, assignment rows: ${rows}`);
  console.log(`PUT /scenarios/:s/model: ${putMs.toFixed(0)} ms (${((putMs / n) * 1000).toFixed(0)} µs per device)`);
  console.log(`baseline, bare INSERT of ${n} device rows: ${baselineMs.toFixed(0)} ms; ratio ${(putMs / baselineMs).toFixed(1)}×`);
} finally {
  await h.close();
}
