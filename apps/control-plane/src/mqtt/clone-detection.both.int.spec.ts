import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics, type EnrollResponse } from '@edge-fleet/shared';
import type { AlertList, Device } from '@edge-fleet/shared/api';
import mqtt, { type MqttClient } from 'mqtt';
import { AlertEvaluator } from '../alerts/alert-evaluator.service.js';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { queryRows, startHarnessOn, waitFor, type BrokerKind, type Harness } from '../test-support/harness.js';

/**
 * RELIABILITY row 13: two clients with one device identity. On both brokers windows of a second
 * boot interleaving with the first are kept apart (dead letters), the device carries a clone alarm
 * (API, fleet alert, audit). On the embedded broker the takeover ping-pong itself is detected and
 * rate-limited; Mosquitto offers no hook for it (README, "Cloned identities").
 */

const query = queryRows;

async function device(h: Harness, id: string): Promise<Device> {
  return (await (await h.api(`/api/v1/devices/${id}`)).json()) as Device;
}

function connectAs(h: Harness, e: EnrollResponse, reconnectPeriod = 0): MqttClient {
  return mqtt.connect(h.config.mqttUrl, {
    clientId: e.deviceId,
    username: e.deviceId,
    password: e.deviceSecret,
    protocolVersion: 4,
    reconnectPeriod,
    connectTimeout: 5_000,
  });
}

describe.each<BrokerKind>(['embedded', 'mosquitto'])('cloned device identity on the %s broker', (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarnessOn(kind, { CLONE_TAKEOVERS: '3', CLONE_HOLDOFF_SECONDS: '30' });
  }, 120_000);
  afterAll(async () => {
    await h.close();
  });

  it('row 13: windows of a second boot interleaving with the first are dead letters, not rows, and the clone is alarmed', async () => {
    const e = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
    const [real, clone] = [randomUUID(), randomUUID()];
    // window `seq` of either boot covers the same five seconds: the two agents run at the same time
    const base = Date.now();
    const win = (boot: string, seq: number) =>
      JSON.stringify(
        telemetryWindow(e.deviceId, boot, seq, {
          windowStart: new Date(base - (seq + 1) * 5_000).toISOString(),
          windowEnd: new Date(base - seq * 5_000).toISOString(),
        }),
      );
    const stored = async () =>
      (await query<{ n: number }>(h, 'SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', [e.deviceId]))[0]?.n;
    const c = connectAs(h, e);
    await new Promise((resolve, reject) => c.once('connect', resolve).once('error', reject));
    try {
      // the genuine agent first, then both in turns (the clone's windows inside the time the genuine boot covers)
      for (let seq = 0; seq < 10; seq++) await c.publishAsync(topics.telemetry(e.deviceId), win(real, seq), { qos: 1 });
      await waitFor(async () => (await stored()) === 10, 20_000, 'the genuine windows stored');
      for (let seq = 0; seq < 10; seq++) {
        await c.publishAsync(topics.telemetry(e.deviceId), win(clone, seq), { qos: 1 });
        await c.publishAsync(topics.telemetry(e.deviceId), win(real, seq + 10), { qos: 1 });
      }
    } finally {
      await c.endAsync();
    }
    await waitFor(
      async () =>
        (await query<{ n: number }>(h, 'SELECT count(*)::int AS n FROM "RejectedMessage" WHERE "deviceId" = $1', [e.deviceId]))[0]?.n ===
          10 && (await stored()) === 20,
      20_000,
      'the clone windows kept as dead letters, the genuine ones stored',
    );
    const rows = await query<{ bootId: string; n: number }>(
      h,
      'SELECT "bootId"::text AS "bootId", count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1 GROUP BY 1',
      [e.deviceId],
    );
    expect(rows).toEqual([{ bootId: real, n: 20 }]);
    const letters = await query<{ code: string; reason: string }>(h, 'SELECT code, reason FROM "RejectedMessage" WHERE "deviceId" = $1', [
      e.deviceId,
    ]);
    expect(new Set(letters.map((l) => l.code))).toEqual(new Set(['interleaved']));
    expect(letters[0]?.reason).toContain(clone);
    expect(letters[0]?.reason).toContain(real);

    // the alarm: on the device (API), in the audit (coalesced: one event for the burst), as a fleet alert
    const alarm = await waitFor(async () => (await device(h, e.deviceId)).cloneAlarm, 10_000, 'clone alarm on the device');
    expect(alarm.reason).toContain(`boot ${clone}`);
    const audit = await query<{ action: string; details: { kind: string } }>(
      h,
      `SELECT action, details FROM "AuditEvent" WHERE "targetId" = $1 AND action = 'device.clone_suspected'`,
      [e.deviceId],
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]?.details.kind).toBe('interleaved_boots');
    await h.cp.app.get(AlertEvaluator).evaluate(new Date());
    const alerts = (await (await h.api('/api/v1/alerts?state=all')).json()) as AlertList;
    expect(alerts.items.filter((a) => a.metric === 'clone_suspected' && a.subject === e.deviceId).map((a) => a.state)).toEqual(['firing']);

    // answered by the operator: revoked, then enabled again, the alarm is cleared
    expect((await h.api(`/api/v1/devices/${e.deviceId}/revoke`, { method: 'POST' })).status).toBe(200);
    expect((await h.api(`/api/v1/devices/${e.deviceId}/enable`, { method: 'POST' })).status).toBe(200);
    expect((await device(h, e.deviceId)).cloneAlarm).toBeNull();
  });

  it('row 13: an old boot coming online again after a newer one, twice, is alarmed; reboots and a late Last Will are not', async () => {
    const e = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
    const other = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
    const status = (state: 'online' | 'offline', bootId: string) => JSON.stringify({ state, bootId, at: new Date().toISOString() });
    const [a, b, c, d] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    // the genuine device: three reboots, the first boot's Last Will arriving after the second boot's online
    const g = connectAs(h, other);
    await new Promise((resolve, reject) => g.once('connect', resolve).once('error', reject));
    try {
      for (const [state, boot] of [
        ['online', c],
        ['online', d],
        ['offline', c],
        ['online', randomUUID()],
      ] as const)
        await g.publishAsync(topics.status(other.deviceId), status(state, boot), { qos: 1 });
    } finally {
      await g.endAsync();
    }
    // two agents with one identity, announcing their boots in turns
    const cl = connectAs(h, e);
    await new Promise((resolve, reject) => cl.once('connect', resolve).once('error', reject));
    try {
      for (const boot of [a, b, a, b]) await cl.publishAsync(topics.status(e.deviceId), status('online', boot), { qos: 1 });
    } finally {
      await cl.endAsync();
    }
    const alarm = await waitFor(async () => (await device(h, e.deviceId)).cloneAlarm, 10_000, 'clone alarm on the device');
    expect(alarm.reason).toContain(`boot ${b} came online again after boot ${a}`);
    const audit = await query<{ details: { kind: string } }>(
      h,
      `SELECT details FROM "AuditEvent" WHERE "targetId" = $1 AND action = 'device.clone_suspected'`,
      [e.deviceId],
    );
    expect(audit.map((x) => x.details.kind)).toEqual(['returning_boots']);
    // the genuine device's messages were handled before the clone's (one replica, in order): no alarm
    expect((await device(h, other.deviceId)).cloneAlarm).toBeNull();
  });

  it.runIf(kind === 'embedded')(
    'row 13: two clients with one identity taking each other over are held off after the limit, and alarmed',
    async () => {
      const e = await enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle');
      let connects = 0;
      const refusals: number[] = [];
      // both reconnect 100 ms after losing the session, as a naive agent would
      const clients = [connectAs(h, e, 100), connectAs(h, e, 100)];
      for (const c of clients) {
        c.on('connect', () => void connects++);
        c.on('error', (err) => {
          if ('code' in err && typeof err.code === 'number') refusals.push(err.code);
        });
      }
      try {
        await sleep(6_000);
      } finally {
        for (const c of clients) c.end(true);
      }
      // without the hold-off the two took the session from each other every ~100 ms: dozens of connects
      expect(connects, `connects: ${connects}, refusals: ${refusals.length}`).toBeLessThanOrEqual(5);
      expect(refusals.length).toBeGreaterThan(0);
      expect(new Set(refusals)).toEqual(new Set([3]));
      const alarm = await waitFor(async () => (await device(h, e.deviceId)).cloneAlarm, 10_000, 'clone alarm on the device');
      expect(alarm.reason).toMatch(/took each other over 4 times/);
      const audit = await query<{ details: { kind: string } }>(
        h,
        `SELECT details FROM "AuditEvent" WHERE "targetId" = $1 AND action = 'device.clone_suspected'`,
        [e.deviceId],
      );
      expect(audit.map((a) => a.details.kind)).toEqual(['takeover_storm']);
    },
    60_000,
  );
});
