import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics, type EnrollResponse } from '@edge-fleet/shared';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { reportedFixture } from '../test-support/reported-fixture.js';
import { startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';

let h: Harness;
let db: pg.Client;
beforeAll(async () => {
  h = await startHarness();
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await h.close();
});

const report = reportedFixture;
const letters = async (deviceId: string) =>
  (
    await db.query<{ reason: string; payload: string }>(
      `SELECT reason, payload FROM "RejectedMessage" WHERE "deviceId" = $1 AND code = 'reported' ORDER BY id`,
      [deviceId],
    )
  ).rows;
const storedReport = async (deviceId: string) =>
  (await db.query('SELECT phase FROM "ReportedState" WHERE "deviceId" = $1', [deviceId])).rowCount;

/** Every operator read of the device: REST list and get, tRPC list and get. */
async function operatorReads(deviceId: string): Promise<number[]> {
  const input = (v: unknown) => encodeURIComponent(JSON.stringify(v));
  return Promise.all(
    [
      `/api/v1/devices`,
      `/api/v1/devices/${deviceId}`,
      `/trpc/devices.list?input=${input({})}`,
      `/trpc/devices.get?input=${input({ id: deviceId })}`,
    ].map(async (p) => (await h.api(p)).status),
  );
}

describe('reported states from devices', () => {
  let e: EnrollResponse;
  let c: MqttClient;
  beforeAll(async () => {
    e = await enrollDevice(h, 'customer_support_agent');
    c = await connectDevice(h, e);
  });
  afterAll(async () => {
    await c.endAsync();
  });

  it('issue 10 items 2 and 9: a report with a field that is not what it claims is a dead letter, whole, and every operator read answers 200', async () => {
    const v = await uploadMlp(h, 'reported-mlp', '1', 3);
    const sha = 'a'.repeat(64);
    const bad: [Record<string, unknown>, RegExp][] = [
      [
        { active: { modelVersionId: v.id, variantId: 'not-a-uuid', precision: 'fp32', sha256: sha } },
        /schema: active\.variantId: Invalid UUID/,
      ],
      [{ active: { modelVersionId: v.id, variantId: randomUUID(), precision: 'fp32', sha256: sha } }, /is not a variant of model version/],
      [{ appliedAssignmentVersion: 2_147_483_647 }, /appliedAssignmentVersion 2147483647 was never issued/],
      [{ appliedAssignmentVersion: 2 ** 40 }, /appliedAssignmentVersion: Too big/],
      [{ reportedAt: '2999-01-01T00:00:00Z' }, /reportedAt .* is in the future/],
      [{ agentVersion: 'nul\u0000' }, /agentVersion: must not contain NUL/],
      [{ deviceId: randomUUID() }, /does not match the topic/],
    ];
    for (const [over] of bad) await c.publishAsync(topics.reported(e.deviceId), JSON.stringify(report(e.deviceId, over)), { qos: 1 });
    const kept = await waitFor(
      async () => {
        const l = await letters(e.deviceId);
        return l.length === bad.length ? l : null;
      },
      10_000,
      'a dead letter per bad report',
    );
    // reports are handled concurrently, so the letters' order is not fixed
    for (const [, reason] of bad)
      expect(
        kept.filter((l) => reason.test(l.reason)),
        String(reason),
      ).toHaveLength(1);
    expect(await storedReport(e.deviceId)).toBe(0);
    expect(await operatorReads(e.deviceId)).toEqual([200, 200, 200, 200]);
    // a genuine report with an existing variant is stored as before
    await c.publishAsync(
      topics.reported(e.deviceId),
      JSON.stringify(report(e.deviceId, { active: { modelVersionId: v.id, variantId: v.variant, precision: 'fp32', sha256: sha } })),
      { qos: 1 },
    );
    await waitFor(async () => (await storedReport(e.deviceId)) === 1, 10_000, 'the genuine report');
    const got = (await (await h.api(`/api/v1/devices/${e.deviceId}`)).json()) as { reported: { activeVariantId: string } };
    expect(got.reported.activeVariantId).toBe(v.variant);
  });

  it('issue 10 item 9: a non-JSON report with a NUL byte is a dead letter with the NUL escaped', async () => {
    const before = (await letters(e.deviceId)).length;
    await c.publishAsync(topics.reported(e.deviceId), Buffer.from('nul\u0000byte {', 'utf8'), { qos: 1 });
    const l = await waitFor(
      async () => {
        const all = await letters(e.deviceId);
        return all.length > before ? all[before] : null;
      },
      10_000,
      'the dead letter',
    );
    expect(l).toEqual({ reason: 'payload is not valid JSON', payload: 'nul\\u0000byte {' });
  });

  it('issue 10 item 2: reads stay 200 for a report stored before ids were checked', async () => {
    const old = await enrollDevice(h, 'customer_support_agent');
    await db.query(
      `INSERT INTO "ReportedState" ("deviceId", "bootId", phase, "appliedAssignmentVersion", "activeVariantId", payload, "reportedAt")
       VALUES ($1, $2, 'running', 1, 'not-a-uuid', $3::jsonb, now())`,
      [old.deviceId, randomUUID(), JSON.stringify({ lastUpdate: { assignmentVersion: 'x' }, staleMetadata: 'garbage' })],
    );
    expect(await operatorReads(old.deviceId)).toEqual([200, 200, 200, 200]);
    const got = (await (await h.api(`/api/v1/devices/${old.deviceId}`)).json()) as { reported: Record<string, unknown> };
    expect(got.reported).toMatchObject({ activeVariantId: null, lastUpdate: null, staleMetadata: null });
  });
});
