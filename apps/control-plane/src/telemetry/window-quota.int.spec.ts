import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import pg from 'pg';
import { connectDevice, enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, type Harness } from '../test-support/harness.js';

let h: Harness;
let db: pg.Client;
beforeAll(async () => {
  h = await startHarness({ TELEMETRY_WINDOW_SECONDS: '5', TELEMETRY_QUOTA_SLACK: '2' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await h.close();
});

const count = async (sql: string, deviceId: string) => (await db.query<{ n: number }>(sql, [deviceId])).rows[0]?.n;

describe('per-device telemetry quota', () => {
  it('issue 10 item 7: windows beyond the quota of one period are dead letters with the reason, counted on the device page; others are unaffected', async () => {
    const [flood, other] = [await enrollDevice(h, 'financial_trading'), await enrollDevice(h, 'financial_trading')];
    const [cf, co] = [await connectDevice(h, flood), await connectDevice(h, other)];
    const boot = randomUUID();
    // 5-second windows, 60-second periods, slack 2: 24 windows of one device may start in one period
    const from = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
    const [start, end] = [new Date(from).toISOString(), new Date(from + 5_000).toISOString()];
    const sent = 300;
    await Promise.all([
      ...Array.from({ length: sent }, (_, seq) =>
        cf.publishAsync(
          topics.telemetry(flood.deviceId),
          JSON.stringify(telemetryWindow(flood.deviceId, boot, seq, { windowStart: start, windowEnd: end })),
          {
            qos: 1,
          },
        ),
      ),
      ...Array.from({ length: 10 }, (_, seq) =>
        co.publishAsync(topics.telemetry(other.deviceId), JSON.stringify(telemetryWindow(other.deviceId, boot, seq)), { qos: 1 }),
      ),
    ]);
    expect(await count('SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', flood.deviceId)).toBe(24);
    expect(await count('SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', other.deviceId)).toBe(10);
    const letters = await db.query<{ reason: string }>('SELECT reason FROM "RejectedMessage" WHERE "deviceId" = $1 AND code = $2', [
      flood.deviceId,
      'quota',
    ]);
    expect(letters.rows).toHaveLength(sent - 24);
    expect(letters.rows[0]?.reason).toBe(`quota: more than 24 windows start in the 60 s period from ${start}`);
    const rest = (await (await h.api(`/api/v1/devices/${flood.deviceId}`)).json()) as { telemetryOverQuota: number };
    expect(rest.telemetryOverQuota).toBe(sent - 24);
    const trpc = (await (await h.api(`/trpc/devices.get?input=${encodeURIComponent(JSON.stringify({ id: flood.deviceId }))}`)).json()) as {
      result: { data: { telemetryOverQuota: number } };
    };
    expect(trpc.result.data.telemetryOverQuota).toBe(sent - 24);
    expect(((await (await h.api(`/api/v1/devices/${other.deviceId}`)).json()) as { telemetryOverQuota: number }).telemetryOverQuota).toBe(
      0,
    );
    await cf.endAsync();
    await co.endAsync();
  });
});
