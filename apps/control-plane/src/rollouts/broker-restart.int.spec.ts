import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scenario } from '@edge-fleet/shared';
import pg from 'pg';
import { jsonPost, setScenarioModel, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { checkRollout, modelViolations } from '../test-support/history.js';
import { Mosquitto } from '@edge-fleet/test-utils';
import { untilRollout } from '../test-support/rollout-client.js';
import { VirtualDevice } from '../test-support/virtual-device.js';
import type { RolloutView } from './rollouts.service.js';

/**
 * Reliability: the MQTT broker is killed (SIGKILL, no persistence: every retained message and
 * session is lost) just as wave 2 of a rollout is notified, and comes back on the same port a few
 * seconds later. The control plane's rollout steps need only Postgres and Redis, so wave 2 starts
 * during the outage and its desired-state publishes cannot reach the broker; the devices (which
 * reconnect like the real agent) must still end on exactly what Postgres says they should run.
 *
 * A private Mosquitto on a free loopback port, for this file only: the machine's Mosquitto on 1883
 * is shared and must not be killed.
 */
const SCENARIO: Scenario = 'data_analysis_agent'; // p99 target 500 ms, fp32
const DEVICES = 4;
/** Wave 1 (the canary) soaks this long; the broker dies this long before that soak ends, i.e. before wave 2 is notified. */
const WAVE1_SOAK_S = 3;
const KILL_LEAD_MS = 300;
const OUTAGE_MS = 2_500;
/**
 * Devices send no telemetry while the broker is away, and a wave-2 device can only apply v2 (and then
 * send windows on it) once the broker and the control plane's connection to it are back: the broker
 * returns ~2.2 s into wave 2's soak, the control plane reconnects within 1 s after that (its
 * reconnect period), the devices within 0.3 s. A 6 s soak leaves ~2.5 s of telemetry on v2 before
 * the gates judge wave 2. With a soak shorter than the outage, the silence gate would (rightly) fail
 * wave 2 and the rollout would roll back; that is not what this test is about.
 */
const WAVE2_SOAK_S = 6;

let mosquitto: Mosquitto | undefined;
let h: Harness | undefined;
let db: pg.Client | undefined;
const devices: VirtualDevice[] = [];
let v1: { id: string; variant: string };
let v2: { id: string; variant: string };

function harness(): Harness {
  if (!h) throw new Error('harness not started');
  return h;
}

function pgClient(): pg.Client {
  if (!db) throw new Error('database not connected');
  return db;
}

beforeAll(async () => {
  mosquitto = await Mosquitto.create();
  await mosquitto.start();
  h = await startHarness({ ...mosquitto.controlPlaneEnv, ROLLOUT_SWEEP_MS: '500' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  v1 = await uploadMlp(harness(), 'restart-detector', '1', 1);
  v2 = await uploadMlp(harness(), 'restart-detector', '2', 2);
  const res = await h.api(`/api/v1/scenarios/${SCENARIO}/model`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelVersionId: v1.id }),
  });
  expect(res.status).toBe(200);
}, 60_000);

afterAll(async () => {
  // each step runs whatever failed before it; the first error is reported at the end
  const errors: unknown[] = [];
  const step = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      errors.push(e);
    }
  };
  await step(() => Promise.all(devices.map((d) => d.stop())));
  await step(async () => db?.end());
  await step(async () => h?.close());
  await step(async () => mosquitto?.close());
  if (errors.length) throw errors[0];
});

/** DEVICES new devices that reconnect like the real agent, once they run v1. */
async function startDevicesOnV1(): Promise<VirtualDevice[]> {
  const ds = await Promise.all(
    Array.from({ length: DEVICES }, () =>
      VirtualDevice.start(harness(), SCENARIO, 'cloud-cpu-node', { reconnect: true, reconnectPeriodMs: 300 }),
    ),
  );
  devices.push(...ds);
  await waitFor(() => Promise.resolve(ds.every((d) => d.active?.variantId === v1.variant)), 15_000, 'devices running v1');
  return ds;
}

const view = async (id: string) => (await (await harness().api(`/api/v1/rollouts/${id}`)).json()) as RolloutView;
const TERMINAL = ['completed', 'rolled_back', 'aborted'];

interface DeviceRow {
  deviceId: string;
  wave: number;
  state: string;
  reason: string;
  assignmentVersion: number | null;
  fromAssignmentVersion: number | null;
  targetVariantId: string | null;
  notifiedAt: Date | null;
}

describe('reliability: broker killed mid-rollout, restarted', () => {
  it("row 1: keeps the rollout consistent in Postgres and re-derives every device's desired state from it after the restart", async () => {
    const broker = mosquitto;
    if (!broker) throw new Error('no broker');
    const q = pgClient();

    const ds = await startDevicesOnV1();

    const res = await jsonPost(harness(), '/api/v1/rollouts', {
      name: 'broker-restart',
      modelVersionId: v2.id,
      target: { deviceIds: ds.map((d) => d.id) },
      waves: [
        { count: 1, soakSeconds: WAVE1_SOAK_S },
        { percent: 100, soakSeconds: WAVE2_SOAK_S },
      ],
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as RolloutView;
    expect(created.waves.map((w) => w.size)).toEqual([1, DEVICES - 1]);

    // wave 2 is notified when wave 1's soak ends (the gates pass, the next step runs at once): kill the broker just before
    const soaking = await waitFor(
      async () => {
        const v = await view(created.id);
        return v.waves[0]?.status === 'soaking' && v.waves[0].soakUntil ? v : null;
      },
      10_000,
      'wave 1 soaking',
    );
    const wave1End = Date.parse(soaking.waves[0]?.soakUntil ?? '');
    await sleep(Math.max(0, wave1End - KILL_LEAD_MS - Date.now()));
    const canary = ds.filter((d) => d.active?.variantId === v2.variant);
    expect(canary, 'the canary applied v2 before the outage').toHaveLength(1);

    const killedAt = Date.now();
    await broker.kill();
    await sleep(OUTAGE_MS);
    // the scenario did what it says: wave 1 was judged and wave 2 started while nobody could reach the broker
    const during = await view(created.id);
    expect(during.status).toBe('running');
    expect(during.waves.map((w) => w.status)).toEqual(['passed', 'soaking']);
    expect(ds.some((d) => d.connected)).toBe(false);
    const restartedAt = Date.now();
    const receivedBefore = ds.map((d) => d.received.length);
    await broker.start();

    const done = await waitFor(
      async () => {
        const v = await view(created.id);
        return TERMINAL.includes(v.status) ? v : null;
      },
      (WAVE1_SOAK_S + WAVE2_SOAK_S) * 1_000 + 15_000,
      'rollout terminal',
    );

    // What the system should do: every device is healthy and, once the broker is back, gets its
    // wave-2 instruction (the control plane could not deliver it while the broker was away) and sends
    // telemetry on v2 well within wave 2's soak, so every gate passes and the rollout completes.
    // A rollback here would mean a device never got (or never ran) what Postgres says it should run.
    expect(done.status, `${done.status}: ${done.reason}`).toBe('completed');
    expect(done.waves.map((w) => w.status)).toEqual(['passed', 'passed']);

    const ids = ds.map((d) => d.id);
    const rows = (
      await q.query<DeviceRow>(
        `SELECT "deviceId"::text AS "deviceId", wave, state, reason, "assignmentVersion", "fromAssignmentVersion", "targetVariantId"::text AS "targetVariantId", "notifiedAt"
           FROM "RolloutDevice" WHERE "rolloutId" = $1 ORDER BY wave, "deviceId"`,
        [created.id],
      )
    ).rows;
    expect(rows).toHaveLength(DEVICES);
    // the scenario did what it says: wave 2's notifications were committed (and queued) during the outage
    for (const r of rows.filter((x) => x.wave === 1)) {
      expect(r.notifiedAt?.getTime(), `wave-2 device ${r.deviceId} notified during the outage`).toBeGreaterThanOrEqual(killedAt);
      expect(r.notifiedAt?.getTime(), `wave-2 device ${r.deviceId} notified during the outage`).toBeLessThan(restartedAt);
    }
    // exactly one rollout assignment per device: no notification was doubled by the outage
    const made = await q.query<{ n: number; devices: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT "deviceId")::int AS devices FROM "Assignment" WHERE "createdBy" = $1`,
      [`rollout:${created.id}`],
    );
    expect(made.rows[0]).toEqual({ n: DEVICES, devices: DEVICES });

    // Postgres: each device's latest assignment, which the devices must run exactly
    const latest = new Map(
      (
        await q.query<{ deviceId: string; modelVariantId: string | null; version: number }>(
          `SELECT DISTINCT ON ("deviceId") "deviceId"::text AS "deviceId", "modelVariantId"::text AS "modelVariantId", version
             FROM "Assignment" WHERE "deviceId" = ANY($1::uuid[]) ORDER BY "deviceId", version DESC`,
          [ids],
        )
      ).rows.map((r) => [r.deviceId, r]),
    );
    expect([...latest.values()].map((a) => a.modelVariantId)).toEqual(ds.map(() => v2.variant));
    // what the control plane has recorded of each device's reports (given a moment for reports in flight)
    const reported = async () =>
      new Map(
        (
          await q.query<{ deviceId: string; appliedAssignmentVersion: number | null; activeVariantId: string | null; receivedAt: Date }>(
            `SELECT "deviceId"::text AS "deviceId", "appliedAssignmentVersion", "activeVariantId", "receivedAt" FROM "ReportedState" WHERE "deviceId" = ANY($1::uuid[])`,
            [ids],
          )
        ).rows.map((r) => [r.deviceId, r]),
      );
    const agrees = (rep: Awaited<ReturnType<typeof reported>>) =>
      ds.every((d) => rep.get(d.id)?.appliedAssignmentVersion === d.applied && rep.get(d.id)?.activeVariantId === d.active?.variantId);
    const rep = await waitFor(
      async () => {
        const r = await reported();
        return agrees(r) ? r : null;
      },
      3_000,
      'reported state',
    ).catch(() => reported());

    // Once failed (fixed in MqttBus): on reconnect the control plane's MQTT client replayed the
    // desired-state publishes it had buffered during the outage before it subscribed again to the
    // devices' topics (the broker lost its session), so devices already back applied v2 and their
    // `reported` went to nobody: RolloutDevice stayed `notified` and ReportedState still said v1.
    // The bus now refuses to publish until its subscriptions are renewed; the desired-state job retries.
    for (const d of ds) {
      const want = latest.get(d.id);
      const row = rows.find((r) => r.deviceId === d.id);
      const got = rep.get(d.id);
      const evidence = `device ${d.id} (wave ${String(row?.wave)}): runs assignment ${String(d.applied)}; RolloutDevice ${String(row?.state)}; ReportedState says assignment ${String(got?.appliedAssignmentVersion)} received ${got?.receivedAt.toISOString() ?? '-'}; broker killed ${new Date(killedAt).toISOString()}, restarted ${new Date(restartedAt).toISOString()}`;
      // runs exactly what Postgres says it should (variant and assignment version)
      expect
        .soft({ variant: d.active?.variantId ?? null, applied: d.applied }, evidence)
        .toEqual({ variant: want?.modelVariantId ?? null, applied: want?.version ?? null });
      // desired state re-derived from Postgres after the reconnect: the restarted broker held no
      // retained message, so whatever the device got after the restart the control plane published
      // from Postgres; the last one it got is its latest assignment
      expect.soft(d.connections, `${evidence}: reconnected`).toBeGreaterThanOrEqual(2);
      expect
        .soft(d.received.length, `${evidence}: got a desired state after the restart`)
        .toBeGreaterThan(receivedBefore[ds.indexOf(d)] ?? 0);
      expect
        .soft({ version: d.received.at(-1)?.assignmentVersion, variant: d.received.at(-1)?.model?.variantId ?? null }, evidence)
        .toEqual({ version: want?.version, variant: want?.modelVariantId ?? null });
      // the rollout's record of the device agrees with what it runs: the new model and `applied`
      // (or the old one with a reported failure / a rollback, which a completed rollout has none of)
      expect.soft(row?.state, `${evidence}: RolloutDevice state of a device running v2 in a completed rollout`).toBe('applied');
      expect
        .soft({ target: row?.targetVariantId, version: row?.assignmentVersion, from: row?.fromAssignmentVersion }, evidence)
        .toEqual({ target: v2.variant, version: want?.version, from: (want?.version ?? 0) - 1 });
      // and the control plane's record of the device's reports agrees with the device
      expect
        .soft({ applied: got?.appliedAssignmentVersion, variant: got?.activeVariantId }, `${evidence}: ReportedState in Postgres`)
        .toEqual({ applied: d.applied, variant: d.active?.variantId });
    }
    // RolloutDevice rows agree with the terminal status: nothing left notified or pending (no wave was left untaken)
    expect
      .soft(
        rows.filter((r) => r.state === 'notified' || r.state === 'pending').map((r) => `${r.deviceId}: ${r.state}`),
        'devices left notified/pending in a completed rollout',
      )
      .toEqual([]);

    // the audit trail: one wave_started per started wave, every step once
    const audit = await q.query<{ action: string; wave: number | null }>(
      `SELECT action, (details->>'wave')::int AS wave FROM "AuditEvent" WHERE "targetId" = $1 ORDER BY id`,
      [created.id],
    );
    expect(audit.rows.filter((r) => r.action === 'rollout.wave_started').map((r) => r.wave)).toEqual([0, 1]);
    expect(await checkRollout(q, created.id)).toEqual([]);
    expect(audit.rows.map((r) => r.action)).toEqual([
      'rollout.created',
      'rollout.wave_started',
      'rollout.wave_passed',
      'rollout.wave_started',
      'rollout.wave_passed',
      'rollout.status',
    ]);
  }, 60_000);

  it('row 1: the failure branch: with the broker killed as wave 2 is notified and two of its devices failing the update, each device ends on the new model or on the old one with a reported failure', async () => {
    const broker = mosquitto;
    if (!broker) throw new Error('no broker');
    const q = pgClient();
    // this run starts from v1 again (the first run made v2 the scenario's model)
    await setScenarioModel(harness(), SCENARIO, v1.id);
    const ds = await startDevicesOnV1();

    const res = await jsonPost(harness(), '/api/v1/rollouts', {
      name: 'broker-restart-failing',
      modelVersionId: v2.id,
      target: { deviceIds: ds.map((d) => d.id) },
      waves: [
        { count: 1, soakSeconds: WAVE1_SOAK_S },
        { percent: 100, soakSeconds: WAVE2_SOAK_S },
      ],
      failurePolicy: 'pause',
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as RolloutView;
    const soaking = await waitFor(
      async () => {
        const v = await view(created.id);
        return v.waves[0]?.status === 'soaking' && v.waves[0].soakUntil ? v : null;
      },
      10_000,
      'wave 1 soaking',
    );
    const canaryId = soaking.deviceStates.find((d) => d.wave === 0)?.deviceId;
    // two of wave 2's three devices will fail their update (a download that never completes)
    const failing = ds.filter((d) => d.id !== canaryId).slice(0, 2);
    for (const d of failing) d.behaviour.failUpdate = 'download_failed';

    const wave1End = Date.parse(soaking.waves[0]?.soakUntil ?? '');
    await sleep(Math.max(0, wave1End - KILL_LEAD_MS - Date.now()));
    await broker.kill();
    await sleep(OUTAGE_MS);
    await broker.start();

    const ended = await untilRollout(harness(), created.id, [...TERMINAL, 'paused'], (WAVE1_SOAK_S + WAVE2_SOAK_S) * 1_000 + 15_000);
    // 2 of 3 failing breaks the default update-failure share: the rollout stops where it is (failurePolicy pause)
    expect(ended.status, `${ended.status}: ${ended.reason}`).toBe('paused');

    const rows = (
      await q.query<DeviceRow>(
        `SELECT "deviceId"::text AS "deviceId", wave, state, reason, "assignmentVersion", "fromAssignmentVersion", "targetVariantId"::text AS "targetVariantId", "notifiedAt"
           FROM "RolloutDevice" WHERE "rolloutId" = $1 ORDER BY wave, "deviceId"`,
        [created.id],
      )
    ).rows;
    const reports = new Map(
      (
        await q.query<{ deviceId: string; activeVariantId: string | null; outcome: string | null; reasonCode: string | null }>(
          `SELECT "deviceId"::text AS "deviceId", "activeVariantId", payload->'lastUpdate'->>'outcome' AS outcome, payload->'lastUpdate'->>'reasonCode' AS "reasonCode"
             FROM "ReportedState" WHERE "deviceId" = ANY($1::uuid[])`,
          [ds.map((d) => d.id)],
        )
      ).rows.map((r) => [r.deviceId, r]),
    );
    for (const d of ds) {
      const row = rows.find((r) => r.deviceId === d.id);
      const report = reports.get(d.id);
      const evidence = `device ${d.id} (wave ${String(row?.wave)}): runs ${String(d.active?.variantId)}; RolloutDevice ${String(row?.state)} ${String(row?.reason)}; reported ${JSON.stringify(report)}`;
      if (failing.includes(d)) {
        // on the old model, with the failure reported and recorded
        expect.soft(d.active?.variantId, evidence).toBe(v1.variant);
        expect.soft(row?.state, evidence).toBe('failed');
        expect.soft(row?.reason ?? '', evidence).toMatch(/download_failed/);
        expect.soft({ variant: report?.activeVariantId, outcome: report?.outcome, code: report?.reasonCode }, evidence).toEqual({
          variant: v1.variant,
          outcome: 'failed',
          code: 'download_failed',
        });
      } else {
        // on the new model, recorded as applied
        expect.soft(d.active?.variantId, evidence).toBe(v2.variant);
        expect.soft(row?.state, evidence).toBe('applied');
        expect.soft(report?.activeVariantId, evidence).toBe(v2.variant);
      }
    }
    // no device runs anything but the old or the new model, no illegal rollout move, none left without a verdict
    expect(
      modelViolations(
        ds.map((d) => ({ id: d.id, activeVariantId: d.active?.variantId ?? null })),
        [v1.variant, v2.variant],
      ),
    ).toEqual([]);
    expect(await checkRollout(q, created.id)).toEqual([]);
    expect(rows.filter((r) => r.state === 'notified' || r.state === 'pending').map((r) => r.deviceId)).toEqual([]);
  }, 60_000);
});
