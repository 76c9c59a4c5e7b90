import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import pg from 'pg';
import { buildMlpClassifier } from '@edge-fleet/onnx-builder';
import { topics } from '@edge-fleet/shared';
import { VariantBuildQueue } from '../models/variant-build.queue.js';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { jsonPost, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { Mosquitto } from '@edge-fleet/test-utils';
import { VirtualDevice } from '../test-support/virtual-device.js';

/**
 * Two control-plane replicas (API + ingest + queues each) on one external broker (a private
 * Mosquitto with dynamic security), one Postgres and one Redis: the shared subscription splits
 * telemetry between them.
 */
let mosquitto: Mosquitto;
let a: Harness;
let b: Harness;
beforeAll(async () => {
  mosquitto = await Mosquitto.create();
  await mosquitto.start();
  const env = {
    ...mosquitto.controlPlaneEnv,
    QUEUE_PREFIX: `ef-scale-${randomBytes(4).toString('hex')}`,
    VARIANT_BUILD: 'on',
    VARIANT_BENCH_RUNS: '10',
    ROLLOUT_SWEEP_MS: '300',
  };
  a = await startHarness(env);
  // one fleet, one root: replica b signs desired states that devices enrolled through a verify
  b = await startHarness({ ...env, SIGNING_KEYS_DIR: a.config.signingKeysDir }, { dbUrl: a.dbUrl });
});
afterAll(async () => {
  await b.close();
  await a.close();
  await mosquitto.close();
});

describe('scale-out: two replicas behind one broker', () => {
  it('runs a job enqueued by both replicas exactly once', async () => {
    const m = buildMlpClassifier({ seed: 9 });
    const form = new FormData();
    form.set('file', new Blob([Buffer.from(m.bytes)]), 'mlp.onnx');
    form.set('name', 'scale-mlp');
    form.set('version', '1');
    form.set('inputs', JSON.stringify(m.inputs));
    const v = (await (await a.api('/api/v1/models', { method: 'POST', body: form })).json()) as { id: string };
    await b.cp.app.get(VariantBuildQueue).enqueue(v.id); // the other replica asks for the same build
    await waitFor(
      async () => {
        const got = (await (await b.api(`/api/v1/models/${v.id}`)).json()) as { variants: { status: string }[] };
        return got.variants.every((x) => x.status !== 'building');
      },
      120_000,
      'variants built',
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const db = new pg.Client({ connectionString: a.dbUrl });
    await db.connect();
    const builds = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'model_version.variants_built' AND "targetId" = $1`,
      [v.id],
    );
    await db.end();
    expect(builds.rows[0]?.n).toBe(1);
  });

  it('splits telemetry between the replicas with no duplicate rows and nothing lost', async () => {
    // an enrolled device: ingest refuses windows of devices that do not exist
    const { deviceId, deviceSecret } = await enrollDevice(a, 'autonomous_driving', 'edge-dsa-vehicle');
    const bootId = randomUUID();
    const before = { a: { ...a.cp.ingest.stats }, b: { ...b.cp.ingest.stats } };
    const client = await mqtt.connectAsync(mosquitto.url, {
      clientId: deviceId,
      username: deviceId,
      password: deviceSecret,
      protocolVersion: 4,
    });
    const total = 400;
    for (let seq = 0; seq < total; seq++) {
      await client.publishAsync(topics.telemetry(deviceId), JSON.stringify(telemetryWindow(deviceId, bootId, seq)), { qos: 1 });
    }
    // a redelivery of the first 50 (as after a device reconnect) must not add rows
    for (let seq = 0; seq < 50; seq++) {
      await client.publishAsync(topics.telemetry(deviceId), JSON.stringify(telemetryWindow(deviceId, bootId, seq)), { qos: 1 });
    }
    await client.endAsync();
    await waitFor(() => Promise.resolve(a.cp.ingest.stats.accepted + b.cp.ingest.stats.accepted >= total + 50), 20_000, 'all delivered');
    await Promise.all([a.cp.ingest.flush(), b.cp.ingest.flush()]);
    const db = new pg.Client({ connectionString: a.dbUrl });
    await db.connect();
    const rows = await db.query<{ n: number; distinct: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT seq)::int AS distinct FROM "TelemetryWindow" WHERE "deviceId" = $1',
      [deviceId],
    );
    await db.end();
    expect(rows.rows[0]).toEqual({ n: total, distinct: total });
    // what each replica committed of it: both took a share (the broker split the load), each window
    // went to one replica only (a copy to both would be committed by one and a duplicate at the
    // other), and the 50 redelivered reached Postgres and were recognised there, not dropped on the way
    const inserted = { a: a.cp.ingest.stats.inserted - before.a.inserted, b: b.cp.ingest.stats.inserted - before.b.inserted };
    const duplicates = a.cp.ingest.stats.duplicates - before.a.duplicates + b.cp.ingest.stats.duplicates - before.b.duplicates;
    expect(inserted.a, `replica a committed ${inserted.a}, b ${inserted.b}`).toBeGreaterThan(0);
    expect(inserted.b, `replica a committed ${inserted.a}, b ${inserted.b}`).toBeGreaterThan(0);
    expect(inserted.a + inserted.b).toBe(total);
    expect(duplicates).toBe(50);
  });

  it('runs each step of a rollout once although both replicas run its queue and sweep it', async () => {
    const v = await uploadMlp(a, 'scale-rollout', '1', 10);
    // devices on the shared broker, enrolled through either replica
    const devices = await Promise.all([a, b, a, b].map((h) => VirtualDevice.start(h, 'data_analysis_agent', 'cloud-cpu-node')));
    try {
      const res = await jsonPost(b, '/api/v1/rollouts', {
        modelVersionId: v.id,
        target: { deviceIds: devices.map((d) => d.id) },
        waves: [
          { count: 2, soakSeconds: 2 },
          { percent: 100, soakSeconds: 1 },
        ],
      });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const done = await waitFor(
        async () => {
          const r = (await (await a.api(`/api/v1/rollouts/${id}`)).json()) as { status: string; reason: string };
          return ['completed', 'rolled_back', 'paused'].includes(r.status) ? r : null;
        },
        60_000,
        'rollout finished',
      );
      expect(done.status, done.reason).toBe('completed');
      const db = new pg.Client({ connectionString: a.dbUrl });
      await db.connect();
      const assignments = await db.query<{ n: number; devices: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT "deviceId")::int AS devices FROM "Assignment" WHERE "createdBy" = $1`,
        [`rollout:${id}`],
      );
      const steps = await db.query<{ action: string; n: number }>(
        `SELECT action, count(*)::int AS n FROM "AuditEvent" WHERE "targetId" = $1 GROUP BY action ORDER BY action`,
        [id],
      );
      await db.end();
      expect(assignments.rows[0]).toEqual({ n: 4, devices: 4 });
      expect(steps.rows).toEqual([
        { action: 'rollout.created', n: 1 },
        { action: 'rollout.status', n: 1 },
        { action: 'rollout.wave_passed', n: 2 },
        { action: 'rollout.wave_started', n: 2 },
      ]);
    } finally {
      await Promise.all(devices.map((d) => d.stop()));
    }
  }, 90_000);
});
