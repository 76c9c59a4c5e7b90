import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { AssignmentsService } from '../assignments/assignments.service.js';
import { hashSecret, newSecret } from '../infra/secrets.js';
import { MQTT_BUS } from '../infra/tokens.js';
import { SigningService } from '../signing/signing.service.js';
import { connectDevice } from '../test-support/device-client.js';
import { insertHardwareProfile, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { openSignedDesired } from '../test-support/signed-desired.js';
import { DesiredStateService } from './desired-state.service.js';
import type { RetainedPublisher } from './desired-state.publisher.js';

const SCENARIO = 'data_analysis_agent';

let h: Harness;
let db: pg.Client;
let rootPublicKey = '';
let deviceId = '';
let modelVersionId = '';
let client: MqttClient;
/** Every desired-state version the device heard, in order. */
const heard: number[] = [];

const putModel = () =>
  h.api(`/api/v1/scenarios/${SCENARIO}/model`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelVersionId }),
  });

async function assignmentVersion(): Promise<number> {
  const r = await db.query<{ v: number }>('SELECT "assignmentVersion" AS v FROM "Device" WHERE id = $1', [deviceId]);
  return r.rows[0]?.v ?? 0;
}

/** A new assignment of the device, published (through the queue), heard by the device: its number. */
async function newerAssignmentPublished(): Promise<number> {
  const res = await putModel();
  expect(res.status, await res.clone().text()).toBe(200);
  const v = await assignmentVersion();
  await waitFor(() => heard.includes(v) || null, 15_000, `desired state ${v} heard`);
  return v;
}

/** The version of the retained desired state: what a subscription gets now (a fresh SUBSCRIBE is sent the retained message). */
async function retainedVersion(): Promise<number> {
  const topic = topics.desired(deviceId);
  await client.unsubscribeAsync(topic);
  const got = new Promise<number>((resolve) => {
    const on = (t: string, payload: Buffer, packet: { retain: boolean }) => {
      if (t !== topic || !packet.retain) return;
      client.off('message', on);
      resolve(openSignedDesired(payload, rootPublicKey).assignmentVersion);
    };
    client.on('message', on);
  });
  await client.subscribeAsync(topic, { qos: 1 });
  return Promise.race([got, sleep(10_000).then(() => Number.NaN)]);
}

beforeAll(async () => {
  h = await startHarness();
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  await insertHardwareProfile(db, 'retained-order', 'cloud-cpu-node');
  rootPublicKey = (await SigningService.open(h.config.signingKeysDir)).rootPublicKey;
  deviceId = randomUUID();
  const secret = newSecret();
  await db.query(
    `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash", "enrolledAt") VALUES ($1, 'retained-order', $2, 'retained-order', $3, now())`,
    [deviceId, SCENARIO, hashSecret(secret)],
  );
  modelVersionId = (await uploadMlp(h, 'retained-order-mlp', '1', 71)).id;
  client = await connectDevice(h, { deviceId, deviceSecret: secret }, { will: false });
  client.on('message', (_t, payload) => heard.push(openSignedDesired(payload, rootPublicKey).assignmentVersion));
  await client.subscribeAsync(topics.desired(deviceId), { qos: 1 });
  await newerAssignmentPublished();
}, 120_000);
afterAll(async () => {
  await client?.endAsync();
  await db?.end();
  await h?.close();
});

describe('the retained desired state never goes back a version (issue 15)', () => {
  it('a republish that read the stored state before a newer one was issued and published does not publish the older one', async () => {
    const desired = h.cp.app.get(DesiredStateService);
    const read = desired.stored.bind(desired);
    let stale = 0;
    let newer = 0;
    // the republish reads the device's state, then a newer assignment is published before it publishes
    desired.stored = async (ids) => {
      desired.stored = read;
      const states = await read(ids);
      stale = states[0]?.desired.assignmentVersion ?? 0;
      newer = await newerAssignmentPublished();
      return states;
    };
    try {
      await h.cp.app.get(AssignmentsService).republishMany([deviceId]);
    } finally {
      desired.stored = read;
    }
    expect(newer).toBeGreaterThan(stale);
    expect(stale).toBeGreaterThan(0);
    expect(await retainedVersion()).toBe(newer);
  });

  it('a publish claimed just before a newer one but reaching the broker after it is followed by the newest state', async () => {
    const bus = h.cp.app.get<RetainedPublisher>(MQTT_BUS);
    const publish = bus.publish.bind(bus);
    let held = 0;
    let newer = 0;
    // the republish's publish is held until a newer assignment has been published, then goes through
    bus.publish = async (topic, payload, opts) => {
      bus.publish = publish;
      held = openSignedDesired(Buffer.from(payload), rootPublicKey).assignmentVersion;
      newer = await newerAssignmentPublished();
      return publish(topic, payload, opts);
    };
    try {
      await h.cp.app.get(AssignmentsService).republishMany([deviceId]);
    } finally {
      bus.publish = publish;
    }
    expect(newer).toBeGreaterThan(held);
    expect(held).toBeGreaterThan(0);
    expect(await retainedVersion()).toBe(newer);
  });
});
