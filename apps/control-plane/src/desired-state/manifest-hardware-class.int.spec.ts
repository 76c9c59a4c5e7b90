import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestPayloadSchema, type DesiredStatePayload } from '@edge-fleet/shared';
import pg from 'pg';
import { hashSecret, newSecret } from '../infra/secrets.js';
import { POOL_MIN } from '../signing/signing.service.js';
import { insertHardwareProfile, setScenarioModel, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { VirtualDevice } from '../test-support/virtual-device.js';
import { DesiredStateService } from './desired-state.service.js';

const SCENARIO = 'data_analysis_agent';

let h: Harness;
let db: pg.Client;
const devices: VirtualDevice[] = [];
beforeAll(async () => {
  // one chunk holds every device: a batch of POOL_MIN or more is signed on the signing threads, below inline
  h = await startHarness({ ASSIGNMENT_CHUNK_SIZE: String(POOL_MIN + 8), SIGNING_WORKERS: '1' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  await insertHardwareProfile(db, 'hc-cpu', 'cloud-cpu-node');
  await insertHardwareProfile(db, 'hc-gpu', 'cloud-gpu-node');
}, 120_000);
afterAll(async () => {
  for (const d of devices) await d.stop();
  await db.end();
  await h.close();
});

const manifestOf = (model: DesiredStatePayload['model']) =>
  ManifestPayloadSchema.parse(JSON.parse(Buffer.from(model?.manifest.payload ?? '', 'base64').toString('utf8')));

/** `n` devices of the scenario on profile `profileId`, inserted by SQL. */
async function seed(n: number, profileId: string): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomUUID());
  await db.query(
    `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash") SELECT id, 'hc-' || id, $2, $3, $4 FROM unnest($1::uuid[]) AS x(id)`,
    [ids, SCENARIO, profileId, hashSecret(newSecret())],
  );
  return ids;
}

/** The hardware classes each device's stored (latest) manifest is signed for. */
async function storedClasses(ids: string[]): Promise<Map<string, string[]>> {
  const rows = await db.query<{ id: string; desired: DesiredStatePayload }>(
    `SELECT d.id::text AS id, a.desired FROM "Device" d JOIN "Assignment" a ON a."deviceId" = d.id AND a.version = d."assignmentVersion"
      WHERE d.id = ANY($1::uuid[])`,
    [ids],
  );
  return new Map(rows.rows.map((r) => [r.id, manifestOf(r.desired.model).hardwareClasses]));
}

describe("the device's hardware class signed into its manifest", () => {
  it('a device receives a manifest signed for its own class, each class its own, on the signing threads and inline alike', async () => {
    const cpu = await VirtualDevice.start(h, SCENARIO, 'cloud-cpu-node');
    devices.push(cpu);
    const gpu = await VirtualDevice.start(h, SCENARIO, 'cloud-gpu-node');
    devices.push(gpu);
    // enough devices that a chunk goes to the signing threads
    const cpuIds = await seed(POOL_MIN / 2, 'hc-cpu');
    const gpuIds = await seed(POOL_MIN / 2, 'hc-gpu');
    const v = await uploadMlp(h, 'hwclass', '1', 31);
    await setScenarioModel(h, SCENARIO, v.id);

    const heard = async (d: VirtualDevice) =>
      await waitFor(() => Promise.resolve(d.received.find((s) => s.model !== null)), 15_000, 'a desired state with a model');
    expect(manifestOf((await heard(cpu)).model).hardwareClasses).toEqual(['dc-cpu-100t']);
    expect(manifestOf((await heard(gpu)).model).hardwareClasses).toEqual(['dc-gpu-500t']);
    // a device enrolled later is assigned alone as it comes online (signed inline)
    const late = await VirtualDevice.start(h, SCENARIO, 'cloud-gpu-node');
    devices.push(late);
    expect(manifestOf((await heard(late)).model).hardwareClasses).toEqual(['dc-gpu-500t']);
    const stored = await storedClasses([...cpuIds, ...gpuIds]);
    expect(stored.size).toBe(POOL_MIN);
    for (const id of cpuIds) expect(stored.get(id)).toEqual(['dc-cpu-100t']);
    for (const id of gpuIds) expect(stored.get(id)).toEqual(['dc-gpu-500t']);
  });

  it('a refreshed manifest keeps naming the class', async () => {
    const cpuIds = (await db.query<{ id: string }>(`SELECT id::text AS id FROM "Device" WHERE "hardwareProfileId" = 'hc-cpu'`)).rows.map(
      (r) => r.id,
    );
    const before = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "Assignment"');
    // every manifest counts as due: the refresh re-issues them all
    const refreshed = await h.cp.app.get(DesiredStateService).refreshExpiringManifests(new Date(Date.now() + 400 * 86_400_000));
    expect(refreshed).toBeGreaterThanOrEqual(POOL_MIN);
    expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "Assignment"')).rows[0]?.n).toBe(
      (before.rows[0]?.n ?? 0) + refreshed,
    );
    for (const classes of (await storedClasses(cpuIds)).values()) expect(classes).toEqual(['dc-cpu-100t']);
  });
});
