import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { hardwarePreset, type EnrollResponse, type Scenario } from '@edge-fleet/shared';
import { Mosquitto, TcpProxy } from '@edge-fleet/test-utils';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { hashSecret, newSecret, sha256Hex } from '../infra/secrets.js';
import type { BrokerAccess } from '../devices/broker-access.js';
import { BROKER_ACCESS } from '../infra/tokens.js';
import { enrollDevice } from '../test-support/device-client.js';
import { setScenarioModel, startHarness, uploadMlp, waitFor, type ApiTarget, type Harness } from '../test-support/harness.js';
import { VirtualDevice } from '../test-support/virtual-device.js';

/**
 * RELIABILITY row 21 on both brokers: a fleet that loses its broker at once comes back at once. On
 * Mosquitto (dynamic security, every device provisioned) the broker is killed (no persistence:
 * sessions and retained desired states are lost) and started again on its port; the embedded broker
 * lives in the control plane, so there the path to it is cut (every connection severed, new ones
 * refused) and restored. The devices reconnect as the agent does, each with its own jittered period.
 *
 * While they all come back the API must keep answering; afterwards every device is online in
 * Postgres, runs exactly the assignment Postgres holds for it, and made one new connection (no
 * takeover ping-pong). The time until all are back and the API's latency meanwhile are printed.
 */
const DEVICES = Number(process.env.STORM_DEVICES ?? 1_000);
const SCENARIO: Scenario = 'data_analysis_agent';
const OUTAGE_MS = 3_000;
/** The agent's reconnect period after a drop: base..3×base, per connection (device-agent DeviceMqttSession). */
const RECONNECT_BASE_MS = 500;
/** The agent caps at 60 s (RECONNECT_CAP_MS); a smaller cap keeps the test within its minute. */
const RECONNECT_CAP_MS = 8_000;

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

/**
 * `n` devices stored as enrollment stores them (one SQL insert: enrolling a thousand devices over
 * HTTP takes minutes on a loaded test machine, and the storm is not about enrollment), told to the
 * broker through the control plane's own BrokerAccess (dynamic security on Mosquitto), then
 * connected `parallel` at a time.
 */
async function startFleet(h: Harness, db: pg.Client, target: ApiTarget, n: number, parallel = 10): Promise<VirtualDevice[]> {
  const profile = hardwarePreset('cloud-cpu-node');
  const profileId = sha256Hex(JSON.stringify(profile));
  await db.query(
    'INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING',
    [profileId, profile.hardwareClass, profile.accelerator, JSON.stringify(profile)],
  );
  const secret = newSecret();
  const ids = Array.from({ length: n }, () => randomUUID());
  await db.query(
    `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash")
     SELECT id, 'storm-' || ord, $2, $3, $4 FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, ord)`,
    [ids, SCENARIO, profileId, hashSecret(secret)],
  );
  const access = h.cp.app.get<BrokerAccess>(BROKER_ACCESS);
  for (const id of ids) await access.deviceEnrolled(id, secret);
  const { rootPublicKey } = await enrollDevice(h, SCENARIO, 'cloud-cpu-node');
  const out: VirtualDevice[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        const deviceId = ids[next++] ?? '';
        const enrollment = { deviceId, deviceSecret: secret, rootPublicKey } as EnrollResponse;
        out.push(
          await VirtualDevice.connect(target, enrollment, {
            reconnect: true,
            reconnectPeriodMs: RECONNECT_BASE_MS + Math.round(Math.random() * 2 * RECONNECT_BASE_MS),
            // then, as the agent: each failed attempt waits half to all of a ceiling doubling up to the cap
            reconnectBackoffMs: (n) => {
              const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** n);
              return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
            },
            // one window every 10 s per device: telemetry flows through the storm without being the load
            windowMs: 10_000,
          }),
        );
      }
    }),
  );
  return out;
}

async function mismatchesOf(db: pg.Client, fleet: VirtualDevice[]): Promise<string[]> {
  const rows = (
    await db.query<{ deviceId: string; v: number | null }>(
      `SELECT "deviceId"::text AS "deviceId", "appliedAssignmentVersion" AS v FROM "ReportedState"`,
    )
  ).rows;
  const m = new Map(rows.map((r) => [r.deviceId, r]));
  return fleet.filter((d) => m.get(d.id)?.v !== d.applied).map((d) => d.id);
}

interface Probe {
  stop(): Promise<{ answered: number; failed: string[]; p50: number; max: number }>;
}

/** Calls the API every 100 ms (a device read: Postgres behind it) until stopped; each call may take 10 s. */
function probeApi(h: Harness, deviceId: string): Probe {
  const latencies: number[] = [];
  const failed: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      try {
        const res = await h.api(`/api/v1/devices/${deviceId}`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status === 200) latencies.push(performance.now() - t);
        else failed.push(`HTTP ${res.status}`);
      } catch (e) {
        failed.push(e instanceof Error ? e.message : String(e));
      }
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const sorted = [...latencies].sort((a, b) => a - b);
      return { answered: sorted.length, failed, p50: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted.at(-1) ?? NaN };
    },
  };
}

async function storm(
  kind: 'embedded' | 'mosquitto',
  h: Harness,
  target: ApiTarget,
  outage: { down(): Promise<void>; up(): Promise<void> },
): Promise<void> {
  const db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  cleanup.push(() => db.end());
  const model = await uploadMlp(h, `storm-${kind}`, '1', 7);
  const t0 = Date.now();
  const fleet = await startFleet(h, db, target, DEVICES);
  // every device of the scenario gets its desired state (the assignment, signed, published)
  await setScenarioModel(h, SCENARIO, model.id);
  cleanup.push(() => Promise.all(fleet.map((d) => d.stop())));
  await waitFor(() => fleet.every((d) => d.active?.variantId === model.variant), 60_000, 'every device runs the model');
  const enrolledS = (Date.now() - t0) / 1_000;

  // reported states Postgres holds that differ from what the device runs, once the reports have
  // settled (10 s at most), before the storm (see below)
  let settled = await mismatchesOf(db, fleet);
  for (const until = Date.now() + 10_000; settled.length > 0 && Date.now() < until; settled = await mismatchesOf(db, fleet))
    await sleep(200);
  const staleBefore = new Set(settled);
  const probe = probeApi(h, fleet[0]?.id ?? '');
  await outage.down();
  await waitFor(() => fleet.every((d) => !d.connected), 15_000, 'every device disconnected');
  const online = async (since: Date) =>
    (
      await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "Device" WHERE status = 'online' AND "lastSeenAt" >= $1::timestamptz AT TIME ZONE 'UTC'`,
        [since],
      )
    ).rows[0]?.n;
  // the embedded broker sees every connection end: all shown offline (Mosquitto, killed, sends no Last Will)
  if (kind === 'embedded')
    await waitFor(async () => (await online(new Date(0))) === 0, 30_000, 'every device offline in Postgres during the outage');
  await sleep(OUTAGE_MS);
  const upAt = Date.now();
  await outage.up();
  await waitFor(() => fleet.every((d) => d.connected), 60_000, 'every device connected again');
  const allBackS = (Date.now() - upAt) / 1_000;
  // online, and heard from since the broker came back
  await waitFor(async () => (await online(new Date(upAt))) === DEVICES, 60_000, 'every device online in Postgres');
  const onlineS = (Date.now() - upAt) / 1_000;
  const api = await probe.stop();
  process.stdout.write(
    `row 21 (${kind}): ${DEVICES} devices (started in ${enrolledS.toFixed(1)} s); all reconnected ${allBackS.toFixed(1)} s and all online in Postgres ` +
      `${onlineS.toFixed(1)} s after the broker came back; API during the storm: ${api.answered} answers, p50 ${api.p50.toFixed(0)} ms, ` +
      `max ${api.max.toFixed(0)} ms, ${api.failed.length} failed\n`,
  );

  // the API kept answering throughout: every request of the probe's loop (one after another, each
  // given 10 s) was answered; how many fit in the storm depends on the machine's load, not on this
  expect(api.failed).toEqual([]);
  expect(api.answered).toBeGreaterThan(0);
  // one or two new connections each (a CONNACK that came just after the device gave up on it), never
  // more: nobody was taken over again and again or flapped
  const extra = fleet.filter((d) => d.connections > 2).length;
  expect(fleet.filter((d) => d.connections < 2 || d.connections > 3).map((d) => `${d.id}: ${d.connections} connections`)).toEqual([]);
  process.stdout.write(`row 21 (${kind}): devices that connected twice after the outage: ${extra}\n`);
  // every device runs what Postgres says, and reported it; no desired state was refused
  const latest = new Map(
    (
      await db.query<{ deviceId: string; version: number }>(
        `SELECT DISTINCT ON ("deviceId") "deviceId"::text AS "deviceId", version FROM "Assignment" ORDER BY "deviceId", version DESC`,
      )
    ).rows.map((r) => [r.deviceId, r.version]),
  );
  // The storm makes no stored reported state wrong. (Not asserted: that every stale one is mended.
  // A device re-reports on every connect, but on an external broker a report sent before the control
  // plane's own subscription is back is lost, and two reports within one millisecond may be stored
  // in either order: both are described in the issue 12 report.)
  let staleAfter: string[] = [];
  await waitFor(
    async () => {
      staleAfter = await mismatchesOf(db, fleet);
      return staleAfter.every((id) => staleBefore.has(id));
    },
    30_000,
    'no reported state made stale by the storm',
    {
      detail: () =>
        Promise.resolve(
          staleAfter
            .filter((id) => !staleBefore.has(id))
            .slice(0, 5)
            .join(', '),
        ),
    },
  );
  process.stdout.write(
    `row 21 (${kind}): reported states differing from the device: ${staleBefore.size} before the storm, ${staleAfter.length} after\n`,
  );
  expect(fleet.filter((d) => d.applied !== latest.get(d.id) || d.active?.variantId !== model.variant).map((d) => d.id)).toEqual([]);
  expect(fleet.flatMap((d) => d.errors.filter((e) => !e.startsWith('mqtt:')))).toEqual([]);
}

describe('row 21: reconnect storm', () => {
  it(`row 21: embedded broker: ${DEVICES} devices cut off at once all come back; the API answers throughout, presence and states end right`, async () => {
    const h = await startHarness();
    cleanup.push(() => h.close());
    const broker = new URL(h.config.mqttUrl);
    const proxy = await TcpProxy.start(broker.hostname, Number(broker.port));
    cleanup.push(() => proxy.close());
    const target: ApiTarget = { cp: h.cp, config: { mqttUrl: `mqtt://127.0.0.1:${proxy.port}` }, api: h.api };
    await storm('embedded', h, target, { down: () => proxy.cut('refuse'), up: () => proxy.restore() });
  }, 300_000);

  it(`row 21: Mosquitto (dynamic security): ${DEVICES} devices after a broker restart all come back; the API answers throughout, presence and states end right`, async () => {
    const mosquitto = await Mosquitto.create('dynsec');
    await mosquitto.start();
    cleanup.push(() => mosquitto.close());
    const h = await startHarness(mosquitto.controlPlaneEnv);
    cleanup.push(() => h.close());
    await storm('mosquitto', h, h, { down: () => mosquitto.kill(), up: () => mosquitto.start() });
  }, 300_000);
});
