import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { DesiredStatePublisher } from '../desired-state/desired-state.publisher.js';
import { DESIRED_STATE } from '../desired-state/desired-state.queue.js';
import { PublishedVersions } from '../desired-state/published-versions.js';
import { JobQueues } from '../infra/jobs.js';
import { hashSecret, newSecret } from '../infra/secrets.js';
import { SigningService } from '../signing/signing.service.js';
import { connectDevice } from '../test-support/device-client.js';
import { insertHardwareProfile, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { openSignedDesired } from '../test-support/signed-desired.js';

/**
 * The default (`whole`) scenario assignment: one transaction, its states signed for publishing
 * while it commits, published from memory once it has, and a delayed fallback job for a process
 * that stops part way (issue 15, fan-out).
 */
const SCENARIO = 'data_analysis_agent';
const FALLBACK_SECONDS = 1;

let h: Harness;
let db: pg.Client;
let ids: string[] = [];
const secret = newSecret();

beforeAll(async () => {
  h = await startHarness({ PUBLISH_FALLBACK_SECONDS: String(FALLBACK_SECONDS) });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  await insertHardwareProfile(db, 'whole', 'cloud-cpu-node');
  ids = [randomUUID(), randomUUID(), randomUUID()];
  await db.query(
    `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash") SELECT id, 'whole-' || id, $2, 'whole', $3 FROM unnest($1::uuid[]) AS id`,
    [ids, SCENARIO, hashSecret(secret)],
  );
}, 120_000);
afterAll(async () => {
  await db?.end();
  await h?.close();
});

const putModel = (modelVersionId: string, signal?: AbortSignal) =>
  h.api(`/api/v1/scenarios/${SCENARIO}/model`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelVersionId }),
    ...(signal ? { signal } : {}),
  });

/** A device subscribed to its desired state, recording the assignment numbers it hears. */
async function listen(deviceId: string): Promise<{ client: MqttClient; heard: number[] }> {
  const { rootPublicKey } = await SigningService.open(h.config.signingKeysDir);
  const client = await connectDevice(h, { deviceId, deviceSecret: secret }, { will: false });
  const heard: number[] = [];
  client.on('message', (_t, payload) => heard.push(openSignedDesired(payload, rootPublicKey).assignmentVersion));
  await client.subscribeAsync(topics.desired(deviceId), { qos: 1 });
  return { client, heard };
}

async function deviceVersion(id: string): Promise<number> {
  return (await db.query<{ v: number }>('SELECT "assignmentVersion" AS v FROM "Device" WHERE id = $1', [id])).rows[0]?.v ?? -1;
}

/** The desired-state queue with nothing waiting, running or delayed (a device's connect queues a republish). */
async function queueIdle(): Promise<Record<string, number>> {
  const queue = h.cp.app.get(JobQueues);
  await sleep(300);
  return waitFor(
    async () => {
      const c = await queue.counts(DESIRED_STATE);
      return (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) === 0 ? c : null;
    },
    15_000,
    'the desired-state queue idle',
  );
}

describe('whole assignment: published from memory once committed', () => {
  it('a transaction that fails after its states were built and signed publishes nothing and claims no number', async () => {
    const v = await uploadMlp(h, 'whole-fail', '1', 51);
    const device = await listen(ids[0] ?? '');
    try {
      await db.query(`CREATE OR REPLACE FUNCTION whole_fault() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected failure for %', NEW."deviceId"; END $$`);
      await db.query('CREATE OR REPLACE TRIGGER whole_fault BEFORE INSERT ON "Assignment" FOR EACH ROW EXECUTE FUNCTION whole_fault()');
      const res = await putModel(v.id);
      expect(res.status, await res.clone().text()).toBe(500);
      // nothing is stored, so no device may hear of it: no number claimed, nothing retained for it
      for (const id of ids) expect(await deviceVersion(id)).toBe(0);
      const marks = h.cp.app.get(PublishedVersions);
      expect((await marks.unpublished(ids.map((deviceId) => ({ deviceId, version: 1 })))).sort()).toEqual([...ids].sort());
      await sleep(1_000 + FALLBACK_SECONDS * 1_000);
      expect(device.heard).toEqual([]);
    } finally {
      await db.query('DROP TRIGGER IF EXISTS whole_fault ON "Assignment"');
      await device.client.endAsync();
    }
  });

  it('publishes the states it committed from memory, queueing only a delayed fallback (no job that re-reads them now)', async () => {
    const v = await uploadMlp(h, 'whole-ok', '1', 52);
    const device = await listen(ids[1] ?? '');
    try {
      const before = await queueIdle();
      const res = await putModel(v.id);
      expect(res.status, await res.clone().text()).toBe(200);
      const version = await deviceVersion(ids[1] ?? '');
      await waitFor(() => device.heard.includes(version) || null, 5_000, 'the new state heard');
      const queue = h.cp.app.get(JobQueues);
      expect(await queue.counts(DESIRED_STATE)).toEqual({ ...before, delayed: (before.delayed ?? 0) + 1 });
      // the fallback finds every number claimed and publishes nothing again
      await waitFor(
        async () => ((await queue.counts(DESIRED_STATE)).completed ?? 0) > (before.completed ?? 0) || null,
        15_000,
        'the fallback job done',
      );
      expect(device.heard.filter((n) => n === version)).toHaveLength(1);
    } finally {
      await device.client.endAsync();
    }
  });

  it('a state committed but never published (the process stopped part way) reaches its device through the fallback', async () => {
    const v = await uploadMlp(h, 'whole-stop', '1', 53);
    const device = await listen(ids[2] ?? '');
    const publisher = h.cp.app.get(DesiredStatePublisher);
    const deliver = publisher.deliver.bind(publisher);
    // the first delivery does not happen, as if the process had stopped after the commit (until the
    // test ends, so the request can end and the harness close); later ones do
    let stopped = false;
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    const previous = await deviceVersion(ids[2] ?? '');
    publisher.deliver = (prepared, round) => {
      // only the assignment's delivery: a republish of the device's previous state (its connect) goes on
      if (stopped || !prepared.states.some((s) => s.desired.assignmentVersion > previous)) return deliver(prepared, round);
      stopped = true;
      return held;
    };
    try {
      await queueIdle();
      const put = await putModel(v.id);
      expect(put.status, await put.clone().text()).toBe(200);
      await waitFor(() => stopped || null, 10_000, 'the assignment at its delivery');
      const version = await deviceVersion(ids[2] ?? '');
      expect(version).toBeGreaterThan(0);
      await waitFor(() => device.heard.includes(version) || null, 15_000, 'the state published by the fallback');
    } finally {
      publisher.deliver = deliver;
      release();
      await device.client.endAsync();
    }
  });
});
