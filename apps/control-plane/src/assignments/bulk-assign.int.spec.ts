import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpClassifier } from '@edge-fleet/onnx-builder';
import { topics, type DesiredStatePayload } from '@edge-fleet/shared';
import pg from 'pg';
import mqtt from 'mqtt';
import { hashSecret, newSecret } from '../infra/secrets.js';
import { SigningService } from '../signing/signing.service.js';
import { insertHardwareProfile, startHarness, waitFor, type Harness } from '../test-support/harness.js';
import { openSignedDesired } from '../test-support/signed-desired.js';
import { AssignmentsService } from './assignments.service.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/** The desired state retained for a device, read over MQTT as that device. */
async function retainedDesired(id: string, secret: string): Promise<DesiredStatePayload> {
  const { rootPublicKey } = await SigningService.open(h.config.signingKeysDir);
  const client = await mqtt.connectAsync(h.config.mqttUrl, {
    clientId: id,
    username: id,
    password: secret,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  try {
    const got = new Promise<DesiredStatePayload>((resolve) =>
      client.on('message', (_t, payload) => resolve(openSignedDesired(payload, rootPublicKey))),
    );
    await client.subscribeAsync(topics.desired(id), { qos: 1 });
    return await waitFor(
      () => Promise.race([got, new Promise<null>((r) => setTimeout(() => r(null), 200))]),
      20_000,
      `desired state of ${id}`,
    );
  } finally {
    await client.endAsync();
  }
}

/** A device of the first test, which has its assignment. */
let first = '';

describe('assignment at fleet scale', () => {
  it('assigns a model to 4,000 devices in one transaction (per-device statements once broke the 5 s transaction limit at 3,000)', async () => {
    const n = 4_000;
    const db = new pg.Client({ connectionString: h.dbUrl });
    await db.connect();
    await insertHardwareProfile(db, 'bulk', 'cloud-cpu-node');
    const ids = Array.from({ length: n }, () => randomUUID());
    await db.query(
      `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash") SELECT id, 'bulk-' || id, 'data_analysis_agent', 'bulk', 'x' FROM unnest($1::uuid[]) AS id`,
      [ids],
    );
    const m = buildMlpClassifier({ seed: 6 });
    const form = new FormData();
    form.set('file', new Blob([Buffer.from(m.bytes)]), 'mlp.onnx');
    form.set('name', 'bulk');
    form.set('version', '1');
    form.set('inputs', JSON.stringify(m.inputs));
    const v = (await (await h.api('/api/v1/models', { method: 'POST', body: form })).json()) as { id: string };
    const res = await h.api('/api/v1/scenarios/data_analysis_agent/model', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ modelVersionId: v.id }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ assigned: n, refused: 0 });
    const rows = await db.query<{ n: number; versions: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT "deviceId")::int AS versions FROM "Assignment" WHERE version = 1',
    );
    const devices = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "Device" WHERE "assignmentVersion" = 1');
    expect(rows.rows[0]).toEqual({ n, versions: n });
    expect(devices.rows[0]?.n).toBe(n);
    // the publishes went out in batch jobs: devices from every batch, first and last included, hold
    // their own desired state (retained), read as themselves over MQTT
    const sample = [0, 499, 500, 2_222, n - 1].map((i) => ids[i] ?? '');
    const secret = newSecret();
    await db.query('UPDATE "Device" SET "secretHash" = $2 WHERE id = ANY($1::uuid[])', [sample, hashSecret(secret)]);
    await db.end();
    for (const id of sample) {
      expect(await retainedDesired(id, secret)).toMatchObject({
        deviceId: id,
        assignmentVersion: 1,
        model: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown },
      });
    }
    first = ids[0] ?? '';
  });

  it('publishes in a batch a device with no assignment yet by giving it its scenario model, beside devices that have theirs', async () => {
    const db = new pg.Client({ connectionString: h.dbUrl });
    await db.connect();
    const fresh = randomUUID();
    const secret = newSecret();
    try {
      await db.query(
        `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash") VALUES ($1, 'fresh', 'data_analysis_agent', 'bulk', $2)`,
        [fresh, hashSecret(secret)],
      );
      await db.query('UPDATE "Device" SET "secretHash" = $2 WHERE id = $1', [first, hashSecret(secret)]);
    } finally {
      await db.end();
    }
    await h.cp.app.get(AssignmentsService).republishMany([first, fresh]);
    expect(await retainedDesired(fresh, secret)).toMatchObject({
      deviceId: fresh,
      assignmentVersion: 1,
      model: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown },
    });
    expect(await retainedDesired(first, secret)).toMatchObject({ deviceId: first, assignmentVersion: 1 });
  });
});
