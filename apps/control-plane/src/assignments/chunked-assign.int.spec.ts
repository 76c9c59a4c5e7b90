import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import pg from 'pg';
import { DESIRED_STATE } from '../desired-state/desired-state.queue.js';
import { JobQueues } from '../infra/jobs.js';
import { hashSecret, newSecret } from '../infra/secrets.js';
import { connectDevice } from '../test-support/device-client.js';
import { SigningService } from '../signing/signing.service.js';
import { insertHardwareProfile, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { openSignedDesired } from '../test-support/signed-desired.js';

const CHUNK = 5;
const SCENARIO = 'data_analysis_agent';

let h: Harness;
let db: pg.Client;
beforeAll(async () => {
  // a chunk's delayed fallback (PUBLISH_FALLBACK_SECONDS) runs after the 2 s slow chunk below and before the next test
  h = await startHarness({ ASSIGNMENT_CHUNK_SIZE: String(CHUNK), PUBLISH_FALLBACK_SECONDS: '5' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  await insertHardwareProfile(db, 'chunked', 'cloud-cpu-node');
}, 120_000);
afterAll(async () => {
  await db.end();
  await h.close();
});

/** `n` devices of the scenario enrolled in this order (assignment takes them by enrollment), all with one secret. */
async function seed(n: number, secret: string): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomUUID());
  await db.query(
    `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash", "enrolledAt")
     SELECT id, 'chunked-' || id, $2, 'chunked', $3, now() - interval '1 hour' + make_interval(secs => o) FROM unnest($1::uuid[]) WITH ORDINALITY AS x(id, o)`,
    [ids, SCENARIO, hashSecret(secret)],
  );
  return ids;
}

/**
 * A trigger that makes the statement writing `deviceId`'s assignment fail (`fail`) or take 2 s
 * (`slow`): a chunk failing or slow for a reason outside the control plane.
 */
async function onAssignmentOf(deviceId: string, what: 'fail' | 'slow'): Promise<void> {
  const body = what === 'fail' ? `RAISE EXCEPTION 'injected failure for %', NEW."deviceId"` : 'PERFORM pg_sleep(2)';
  await db.query(`CREATE OR REPLACE FUNCTION chunk_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW."deviceId" = '${deviceId}'::uuid THEN ${body}; END IF; RETURN NEW; END $$`);
  await db.query(`CREATE OR REPLACE TRIGGER chunk_fault BEFORE INSERT ON "Assignment" FOR EACH ROW EXECUTE FUNCTION chunk_fault()`);
}

/** The first statement writing `deviceId`'s assignment fails as a database that cannot take connections now (57P03); later ones pass. */
async function unreachableOnceFor(deviceId: string): Promise<void> {
  await db.query('CREATE SEQUENCE IF NOT EXISTS chunk_fault_once');
  await db.query(`CREATE OR REPLACE FUNCTION chunk_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW."deviceId" = '${deviceId}'::uuid AND nextval('chunk_fault_once') = 1 THEN
      RAISE EXCEPTION 'the database system is starting up' USING ERRCODE = '57P03'; END IF; RETURN NEW; END $$`);
  await db.query(`CREATE OR REPLACE TRIGGER chunk_fault BEFORE INSERT ON "Assignment" FOR EACH ROW EXECUTE FUNCTION chunk_fault()`);
}

async function clearFault(): Promise<void> {
  await db.query('DROP TRIGGER IF EXISTS chunk_fault ON "Assignment"');
}

const putModel = (modelVersionId: string) =>
  h.api(`/api/v1/scenarios/${SCENARIO}/model`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelVersionId, commit: 'chunks' }),
  });

async function versions(ids: string[]): Promise<Map<string, { device: number; rows: number }>> {
  const res = await db.query<{ id: string; device: number; rows: number }>(
    `SELECT d.id::text AS id, d."assignmentVersion" AS device, (SELECT count(*)::int FROM "Assignment" a WHERE a."deviceId" = d.id) AS rows
       FROM "Device" d WHERE d.id = ANY($1::uuid[])`,
    [ids],
  );
  return new Map(res.rows.map((r) => [r.id, { device: r.device, rows: r.rows }]));
}

describe('scenario assignment committed per chunk', () => {
  let ids: string[] = [];
  let v1 = '';

  it('a chunk that fails stops the assignment with an answer naming exactly the devices assigned and unchanged; each device is fully assigned or untouched', async () => {
    ids = await seed(4 * CHUNK, newSecret());
    v1 = (await uploadMlp(h, 'chunked-mlp', '1', 61)).id;
    // the third chunk's second device cannot be written
    await onAssignmentOf(ids[2 * CHUNK + 1] ?? '', 'fail');
    const res = await putModel(v1);
    await clearFault();
    const body = (await res.json()) as {
      error: { code: string; message: string; details: { failedChunk: number; chunks: number; assigned: string[]; unchanged: string[] } };
    };
    expect(res.status, JSON.stringify(body)).toBe(500);
    expect(body.error.code).toBe('incomplete');
    expect(body.error.message).toMatch(
      /stopped at chunk 3 of 4: 10 device\(s\) of chunks 1–2 were assigned.*10 device\(s\) are unchanged.*injected failure/,
    );
    expect(body.error.details).toMatchObject({ failedChunk: 3, chunks: 4, scenarioModelSet: true });
    expect(body.error.details.assigned).toEqual(ids.slice(0, 2 * CHUNK));
    expect(body.error.details.unchanged).toEqual(ids.slice(2 * CHUNK));
    // in Postgres: the first two chunks have assignment 1 (counter and row), the failed chunk's other devices and the last chunk nothing
    const v = await versions(ids);
    for (const id of ids.slice(0, 2 * CHUNK)) expect(v.get(id)).toEqual({ device: 1, rows: 1 });
    for (const id of ids.slice(2 * CHUNK)) expect(v.get(id)).toEqual({ device: 0, rows: 0 });
    // each committed chunk audited in its own transaction, the failed one not at all
    const audits = await db.query<{ details: { chunk: { index: number; of: number }; assigned: number } }>(
      `SELECT details FROM "AuditEvent" WHERE action = 'scenario.assign_model' ORDER BY id`,
    );
    expect(audits.rows.map((r) => [r.details.chunk, r.details.assigned])).toEqual([
      [{ index: 1, of: 4 }, CHUNK],
      [{ index: 2, of: 4 }, CHUNK],
    ]);
  });

  it('repeating the stopped assignment finishes it: every device holds the model version', async () => {
    const res = await putModel(v1);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ assigned: 4 * CHUNK, refused: 0 });
    const v = await versions(ids);
    for (const id of ids.slice(0, 2 * CHUNK)) expect(v.get(id)).toEqual({ device: 2, rows: 2 });
    for (const id of ids.slice(2 * CHUNK)) expect(v.get(id)).toEqual({ device: 1, rows: 1 });
  });

  it("publishes a committed chunk's desired states from memory before the later chunks are written (a device of chunk 1 hears of it before the PUT is answered; no publish job queued to re-read them)", async () => {
    const secret = newSecret();
    await db.query('UPDATE "Device" SET "secretHash" = $2 WHERE id = $1', [ids[0], hashSecret(secret)]);
    const first = ids[0] ?? '';
    const { rootPublicKey } = await SigningService.open(h.config.signingKeysDir);
    const client = await connectDevice(h, { deviceId: first, deviceSecret: secret }, { will: false });
    try {
      let heardAt = Number.POSITIVE_INFINITY;
      client.on('message', (_t, payload) => {
        if (openSignedDesired(payload, rootPublicKey).assignmentVersion === 3) heardAt = Date.now();
      });
      await client.subscribeAsync(topics.desired(first), { qos: 1 });
      // the last chunk takes 2 s to write
      await onAssignmentOf(ids[4 * CHUNK - 1] ?? '', 'slow');
      const queue = h.cp.app.get(JobQueues);
      // the device's own connect queues a republish: let it finish first
      const idle = async () => {
        const c = await queue.counts(DESIRED_STATE);
        return (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) === 0 ? c : null;
      };
      await sleep(500);
      const jobsBefore = await waitFor(idle, 10_000, 'the desired-state queue idle');
      const res = await putModel(v1);
      const answeredAt = Date.now();
      await clearFault();
      expect(res.status).toBe(200);
      await waitFor(() => Number.isFinite(heardAt) || null, 10_000, 'desired state 3 of the first device');
      expect(heardAt).toBeLessThan(answeredAt - 1_000);
      // published straight from the states written: the queue that re-reads Postgres was not used;
      // each chunk queued only its delayed fallback
      expect(await queue.counts(DESIRED_STATE)).toEqual({ ...jobsBefore, delayed: (jobsBefore.delayed ?? 0) + 4 });
    } finally {
      await client.endAsync();
    }
  });

  it('a chunk that meets an unreachable database is written again, whole, and the assignment completes', async () => {
    await unreachableOnceFor(ids[3 * CHUNK] ?? '');
    const before = await versions(ids);
    const res = await putModel(v1);
    await clearFault();
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ assigned: 4 * CHUNK, refused: 0 });
    const after = await versions(ids);
    // every device exactly one assignment further: the retried chunk wrote once
    for (const id of ids)
      expect(after.get(id)).toEqual({ device: (before.get(id)?.device ?? 0) + 1, rows: (before.get(id)?.rows ?? 0) + 1 });
  });
});
