import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlaneProcess, type ControlPlaneProcess } from './bench/support/control-plane.process.js';
import { assignScenario, uploadMlp } from './bench/support/operator-api.js';
import { waitFor } from '@edge-fleet/test-utils';
import { ControlPlaneClient } from './sim/control-plane.client.js';
import { loadCredentialsFile } from './sim/credentials.file.js';
import { enrollFleet } from './sim/enroller.js';
import { Fleet } from './sim/fleet.js';
import { planFleet } from './sim/fleet-mix.js';

const N = 50;
let cp: ControlPlaneProcess;
let dir: string;
let db: pg.Client;

beforeAll(async () => {
  cp = await startControlPlaneProcess({ dbPrefix: 'ef_test_sim', env: { TELEMETRY_FLUSH_MS: '20' } });
  dir = await mkdtemp(path.join(tmpdir(), 'fleet-sim-'));
  db = new pg.Client({ connectionString: cp.dbUrl });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Polls until `ok`; a timeout shows a sample of reported states and the control plane's log tail. */
const until = (what: string, ok: () => Promise<boolean>, ms = 60_000): Promise<true> =>
  waitFor(ok, ms, what, {
    intervalMs: 200,
    detail: async () => {
      const sample = await db.query('SELECT phase, "activeVariantId", "appliedAssignmentVersion", payload FROM "ReportedState" LIMIT 2');
      return `reported sample: ${JSON.stringify(sample.rows)}\n${cp.logTail().slice(-1500)}`;
    },
  });

const count = async (sql: string, params: unknown[] = []): Promise<number> =>
  Number((await db.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);

describe('fleet-sim against the real control plane', () => {
  it('enrolls 50 devices, brings them online, applies a desired state, and its telemetry lands in Postgres', async () => {
    const client = new ControlPlaneClient(cp.url, cp.operatorToken);
    const file = path.join(dir, 'credentials.json');
    const plans = planFleet(N, { kind: 'only', scenario: 'robotic_manipulation' }, 3);
    const creds = await enrollFleet({ client, plans, existing: null, file, concurrency: 4, namePrefix: 'it', log: () => undefined });
    expect(creds.devices).toHaveLength(N);
    // a second run reuses the saved credentials and enrolls nobody
    const again = await enrollFleet({
      client,
      plans,
      existing: await loadCredentialsFile(file),
      file,
      concurrency: 4,
      namePrefix: 'it',
      log: () => undefined,
    });
    expect(again.devices.map((d) => d.deviceId).sort()).toEqual(creds.devices.map((d) => d.deviceId).sort());
    expect(await count('SELECT count(*) AS n FROM "Device"')).toBe(N);

    const desiredAt = new Map<string, number>();
    const fleet = new Fleet({
      devices: creds.devices,
      mqttUrl: cp.mqttUrl,
      sourceAddresses: ['127.0.0.2', '127.0.0.3'],
      seed: 3,
      connectConcurrency: 16,
      client,
      faults: { slow: 0, errorBurst: 0, powerSpike: 0, silent: 0, flap: 0, failDownload: 0, crashActivation: 0 },
      timing: {
        telemetryIntervalMs: 500,
        updateTimeScale: 0.2,
        slowFactor: 3,
        reportPhases: false,
        reconnectBaseMs: 500,
        keepaliveSeconds: 30,
      },
      onDesired: (id, v) => desiredAt.set(id, v),
    });
    try {
      expect(await fleet.start()).toBe(N);
      await until('every device online', async () => (await count(`SELECT count(*) AS n FROM "Device" WHERE status = 'online'`)) === N);

      const model = await uploadMlp(cp.url, cp.operatorToken, 'sim-it-mlp');
      expect(await assignScenario(cp.url, cp.operatorToken, 'robotic_manipulation', model.id)).toBe(N);
      await until('every device to receive its desired state', () => Promise.resolve(desiredAt.size === N));
      await until(
        'every device to report the new model',
        async () =>
          (await count(
            `SELECT count(*) AS n FROM "ReportedState" WHERE phase = 'running' AND "appliedAssignmentVersion" >= 1 AND "activeVariantId" IS NOT NULL`,
          )) === N,
      );
      await until(
        'telemetry of the new model from every device',
        async () =>
          (await count(
            `SELECT count(DISTINCT "deviceId") AS n FROM "TelemetryWindow" WHERE "modelVersionId" = $1 AND "latencyP50Ms" > 0 AND "powerSource" = 'simulated'`,
            [model.id],
          )) === N,
      );
      expect(await count('SELECT count(*) AS n FROM "RejectedMessage"')).toBe(0);
    } finally {
      await fleet.stop();
    }
    await until(
      'every device offline after a clean stop',
      async () => (await count(`SELECT count(*) AS n FROM "Device" WHERE status = 'offline'`)) === N,
      20_000,
    );
  });
});
