import { randomUUID } from 'node:crypto';
import { connect as connectTcp } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DYNSEC_RESPONSE_TOPIC, DYNSEC_TOPIC, filters, topics, type EnrollResponse } from '@edge-fleet/shared';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Logger } from '../infra/logger.js';
import { MQTT_BUS } from '../infra/tokens.js';
import { connectDevice, enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { queryRows, startHarness, startHarnessOn, waitFor, type BrokerKind, type Harness } from '../test-support/harness.js';
import { Mosquitto } from '@edge-fleet/test-utils';
import { DynsecClient } from './dynsec-client.js';
import type { MessageBus } from './mqtt-bus.js';

/**
 * RELIABILITY rows 11, 12, 14 and 16 on both brokers, with real MQTT clients: the embedded aedes broker
 * (which checks identities and ACLs itself) and Mosquitto with the dynamic-security plugin, no
 * anonymous access, every device provisioned by the control plane through the plugin's control topic.
 */
interface Setup {
  h: Harness;
}

async function count(h: Harness, sql: string, params: unknown[]): Promise<number> {
  return (await queryRows<{ n: number }>(h, sql, params))[0]?.n ?? 0;
}

const telemetryRows = (h: Harness, deviceId: string) =>
  count(h, 'SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', [deviceId]);

/** Connects with raw options; resolves with the client, or with the broker's refusal as an Error. */
function tryConnect(url: string, o: IClientOptions): Promise<MqttClient | Error> {
  const c = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, ...o });
  return new Promise((resolve) => {
    c.once('connect', () => resolve(c));
    c.once('error', (e) => {
      c.end(true);
      resolve(e);
    });
    c.once('close', () => {
      if (!c.connected) resolve(new Error('connection closed before CONNACK'));
    });
  });
}

const creds = (e: EnrollResponse, over: IClientOptions = {}): IClientOptions => ({
  clientId: e.deviceId,
  username: e.deviceId,
  password: e.deviceSecret,
  ...over,
});

/** A subscription is refused: a SUBACK failure (128), or the broker drops the connection (aedes). Never a grant. */
async function refusedSubscription(c: MqttClient, filter: string): Promise<'refused' | 'closed' | number[]> {
  try {
    const granted = await c.subscribeAsync(filter, { qos: 1 });
    return granted.every((x) => x.qos === 128) ? 'refused' : granted.map((x) => x.qos);
  } catch (e) {
    if (!c.connected) return 'closed';
    // MQTT.js rejects a SUBACK whose every code is a failure
    if (e instanceof Error && /^Subscribe error/.test(e.message)) return 'refused';
    throw e;
  }
}

describe.each<BrokerKind>(['embedded', 'mosquitto'])('broker ACLs on the %s broker', (kind) => {
  let s: Setup;
  let bus: MessageBus;
  beforeAll(async () => {
    s = { h: await startHarnessOn(kind) };
    bus = s.h.cp.app.get<MessageBus>(MQTT_BUS);
  }, 60_000);
  afterAll(async () => {
    await s.h.close();
  });

  it("row 11: device A cannot publish as B, nor reach the broker's control topic; no forged row reaches Postgres", async () => {
    const { h } = s;
    const a = await enrollDevice(h, 'financial_trading');
    const b = await enrollDevice(h, 'financial_trading');
    const ca = await connectDevice(h, a, { will: false });
    const boot = randomUUID();
    // forged telemetry, report and status for B; an attempt to make itself a broker client
    for (const [topic, payload] of [
      [topics.telemetry(b.deviceId), JSON.stringify(telemetryWindow(b.deviceId, boot, 1))],
      [topics.reported(b.deviceId), JSON.stringify({ deviceId: b.deviceId, phase: 'idle' })],
      [topics.status(b.deviceId), JSON.stringify({ state: 'offline' })],
      [DYNSEC_TOPIC, JSON.stringify({ commands: [{ command: 'createClient', username: 'intruder', password: 'intruder-password' }] })],
      ['$SYS/broker/forged', 'x'],
    ] as const) {
      if (ca.connected) ca.publish(topic, payload, { qos: 1 });
    }
    await sleep(300);
    const cb = await connectDevice(h, b, { will: false });
    await cb.publishAsync(topics.telemetry(b.deviceId), JSON.stringify(telemetryWindow(b.deviceId, boot, 2)), { qos: 1 });
    await waitFor(async () => (await telemetryRows(h, b.deviceId)) >= 1, 10_000, "B's own telemetry row");
    // B's own window only (seq 2), none of A's forgeries
    expect(await count(h, 'SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1 AND seq = 1', [b.deviceId])).toBe(0);
    expect(await telemetryRows(h, b.deviceId)).toBe(1);
    expect(await count(h, 'SELECT count(*)::int AS n FROM "ReportedState" WHERE "deviceId" = $1', [b.deviceId])).toBe(0);
    const intruder = await tryConnect(h.config.mqttUrl, { clientId: 'intruder', username: 'intruder', password: 'intruder-password' });
    expect(intruder, 'the client A tried to create').toBeInstanceOf(Error);
    ca.end(true);
    await cb.endAsync();
  });

  it("row 11: A's subscriptions to B's topics, #, $SYS/#, shared subscriptions and $CONTROL are refused and deliver nothing", async () => {
    const { h } = s;
    const a = await enrollDevice(h, 'financial_trading');
    const b = await enrollDevice(h, 'financial_trading');
    const cb = await connectDevice(h, b, { will: false });
    const own = topics.commands(a.deviceId);
    const denied = [
      topics.desired(b.deviceId),
      topics.commands(b.deviceId),
      '#',
      '$SYS/#',
      filters.telemetry,
      filters.shared('edge-fleet', filters.telemetry),
      filters.shared('x', topics.desired(b.deviceId)),
      `${DYNSEC_RESPONSE_TOPIC}`,
      '$CONTROL/#',
    ];
    for (const [i, filter] of denied.entries()) {
      const got: string[] = [];
      const session = async (clean: boolean) => {
        const c = await tryConnect(h.config.mqttUrl, creds(a, { clean }));
        if (c instanceof Error) throw c;
        c.on('message', (topic) => got.push(topic));
        return c;
      };
      // a persistent session: a denied filter must not end up in it either
      let c = await session(true);
      await c.endAsync();
      c = await session(false);
      expect((await c.subscribeAsync(own, { qos: 1 })).map((g) => g.qos)).toEqual([1]);
      const refusal = await refusedSubscription(c, filter);
      expect(['refused', 'closed'], `subscribing ${filter}`).toContain(refusal);
      if (refusal === 'closed') c = await session(false);
      // traffic the denied filter would match: B's telemetry and desired state, the broker's $SYS
      await cb.publishAsync(topics.telemetry(b.deviceId), JSON.stringify(telemetryWindow(b.deviceId, randomUUID(), i + 1)), { qos: 1 });
      await bus.publish(topics.desired(b.deviceId), '{"probe":"for B"}');
      await bus.publish(topics.commands(b.deviceId), '{"probe":"for B"}');
      // positive control, sent last: once A has it, the rest had its chance
      await bus.publish(own, '{"probe":"for A"}');
      await waitFor(() => Promise.resolve(got.includes(own)), 10_000, `A's own message (after ${filter})`);
      expect(got, `delivered to A after subscribing ${filter}`).toEqual([own]);
      await c.endAsync();
    }
    await cb.endAsync();
  });

  it('row 12: odd client ids and a client id that is not the identity are refused at CONNECT; the broker keeps serving others', async () => {
    const { h } = s;
    const a = await enrollDevice(h, 'financial_trading');
    const b = await enrollDevice(h, 'financial_trading');
    const canary = await connectDevice(h, b, { will: false });
    for (const clientId of ['#', '+', 'a/b', '', 'x'.repeat(10 * 1024), '__proto__', 'constructor', b.deviceId, a.deviceId.toUpperCase()]) {
      const r = await tryConnect(h.config.mqttUrl, creds(a, { clientId, clean: true }));
      if (!(r instanceof Error)) r.end(true);
      expect(r, `client id ${JSON.stringify(clientId.slice(0, 40))}`).toBeInstanceOf(Error);
    }
    // a wrong secret, and B's secret under A's name
    expect(await tryConnect(h.config.mqttUrl, creds(a, { password: 'x'.repeat(43) }))).toBeInstanceOf(Error);
    expect(await tryConnect(h.config.mqttUrl, creds(a, { password: b.deviceSecret }))).toBeInstanceOf(Error);
    // the canary was never disturbed and still gets a window to Postgres
    expect(canary.connected).toBe(true);
    await canary.publishAsync(topics.telemetry(b.deviceId), JSON.stringify(telemetryWindow(b.deviceId, randomUUID(), 1)), { qos: 1 });
    await waitFor(async () => (await telemetryRows(h, b.deviceId)) === 1, 10_000, 'canary row');
    const ok = await tryConnect(h.config.mqttUrl, creds(a));
    expect(ok).not.toBeInstanceOf(Error);
    if (!(ok instanceof Error)) await ok.endAsync();
    await canary.endAsync();
  });

  it('row 14: a revoked device is cut off at once and refused at CONNECT; its queued and retained messages are not delivered; audited', async () => {
    const { h } = s;
    const a = await enrollDevice(h, 'financial_trading');
    const b = await enrollDevice(h, 'financial_trading');
    // an offline persistent session with A's subscriptions, and a retained desired state for it
    let c = await tryConnect(h.config.mqttUrl, creds(a, { clean: false }));
    if (c instanceof Error) throw c;
    await c.subscribeAsync({ [topics.desired(a.deviceId)]: { qos: 1 }, [topics.commands(a.deviceId)]: { qos: 1 } });
    await bus.publish(topics.desired(a.deviceId), '{"stale":"desired"}', { retain: true });
    // the live session is ended at once by the revocation
    const closed = new Promise<void>((resolve) => (c as MqttClient).once('close', () => resolve()));
    const res = await h.api(`/api/v1/devices/${a.deviceId}/revoke`, { method: 'POST' });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('revoked');
    await closed;
    c.end(true);
    await bus.publish(topics.commands(a.deviceId), '{"queued":"for the revoked device"}');
    // refused at CONNECT, with the persistent session and with a clean one
    for (const clean of [false, true]) expect(await tryConnect(h.config.mqttUrl, creds(a, { clean }))).toBeInstanceOf(Error);
    // downloads refused: the device's credentials no longer pass (401, where an unknown artifact is 404)
    const basic = `Basic ${Buffer.from(`${a.deviceId}:${a.deviceSecret}`).toString('base64')}`;
    expect((await fetch(`${h.cp.url}/api/v1/artifacts/${'f'.repeat(64)}`, { headers: { authorization: basic } })).status).toBe(401);
    // audited, once even if asked twice
    expect((await h.api(`/api/v1/devices/${a.deviceId}/revoke`, { method: 'POST' })).status).toBe(200);
    expect(
      await count(h, `SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'device.revoke' AND "targetId" = $1`, [a.deviceId]),
    ).toBe(1);
    // the broker keeps serving others
    const cb = await connectDevice(h, b, { will: false });
    await cb.publishAsync(topics.telemetry(b.deviceId), JSON.stringify(telemetryWindow(b.deviceId, randomUUID(), 1)), { qos: 1 });
    await waitFor(async () => (await telemetryRows(h, b.deviceId)) === 1, 10_000, 'B row');
    // enabled again (no assignment in Postgres, so nothing is republished): the retained desired state
    // cleared at revocation stays gone, and the commands queued while revoked were never kept for it
    const enabled = await h.api(`/api/v1/devices/${a.deviceId}/enable`, { method: 'POST' });
    expect(enabled.status, await enabled.clone().text()).toBe(200);
    expect(
      await count(h, `SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'device.enable' AND "targetId" = $1`, [a.deviceId]),
    ).toBe(1);
    c = await tryConnect(h.config.mqttUrl, creds(a, { clean: true }));
    if (c instanceof Error) throw c;
    const got: string[] = [];
    c.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
    await c.subscribeAsync({ [topics.desired(a.deviceId)]: { qos: 1 }, [topics.commands(a.deviceId)]: { qos: 1 } });
    await bus.publish(topics.commands(a.deviceId), '{"probe":"after enable"}');
    await waitFor(() => Promise.resolve(got.length > 0), 10_000, 'the probe after enable');
    expect(got).toEqual([`${topics.commands(a.deviceId)} {"probe":"after enable"}`]);
    await c.endAsync();
    await cb.endAsync();
  });

  it("row 14: a Last Will aimed at another device's topic is never delivered", async () => {
    const { h } = s;
    const a = await enrollDevice(h, 'financial_trading');
    const b = await enrollDevice(h, 'financial_trading');
    const cb = await connectDevice(h, b, { will: false });
    const boot = randomUUID();
    await cb.publishAsync(topics.status(b.deviceId), JSON.stringify({ state: 'online', bootId: boot }), { qos: 1, retain: true });
    await waitFor(
      async () => ((await (await h.api(`/api/v1/devices/${b.deviceId}`)).json()) as { status: string }).status === 'online',
      10_000,
      'B online',
    );
    const ca = await tryConnect(h.config.mqttUrl, {
      ...creds(a),
      will: { topic: topics.status(b.deviceId), payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
    });
    // refused at CONNECT (Mosquitto checks the Will's topic there) or accepted and its Will dropped (aedes)
    if (!(ca instanceof Error)) {
      ca.stream.destroy();
      await sleep(500);
    }
    // positive control: B's later window reaches Postgres; by then the Will had its chance
    await cb.publishAsync(topics.telemetry(b.deviceId), JSON.stringify(telemetryWindow(b.deviceId, boot, 1)), { qos: 1 });
    await waitFor(async () => (await telemetryRows(h, b.deviceId)) === 1, 10_000, 'B row');
    expect(((await (await h.api(`/api/v1/devices/${b.deviceId}`)).json()) as { status: string }).status).toBe('online');
    await cb.endAsync();
  });
  it('row 16: mutated packets, bad lengths and prototype-key topics leave the broker and the ingest serving a canary', async () => {
    const { h } = s;
    const a = await enrollDevice(h, 'financial_trading');
    const canaryDevice = await enrollDevice(h, 'financial_trading');
    const canary = await connectDevice(h, canaryDevice, { will: false });
    const { hostname, port } = new URL(h.config.mqttUrl);
    // a valid CONNECT of A's, as bytes, to mutate
    const clientId = Buffer.from(a.deviceId);
    const user = Buffer.from(a.deviceId);
    const pass = Buffer.from(a.deviceSecret);
    const str = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
    const body = Buffer.concat([str(Buffer.from('MQTT')), Buffer.from([4, 0xc2, 0, 30]), str(clientId), str(user), str(pass)]);
    const connect = Buffer.concat([Buffer.from([0x10, (body.length & 0x7f) | 0x80, body.length >> 7]), body]);
    let seed = 12345;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const packets: Buffer[] = [
      Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]), // a remaining length of five bytes: malformed
      Buffer.from([0x30, 0x00]), // PUBLISH before CONNECT
      Buffer.from([0xf0, 0x00]), // reserved packet type
    ];
    for (let i = 0; i < 60; i++) {
      const m = Buffer.from(connect);
      for (let k = 0; k < 1 + rand(4); k++) m[rand(m.length)] = rand(256);
      packets.push(m.subarray(0, 1 + rand(m.length)));
    }
    for (let i = 0; i < 20; i++) packets.push(Buffer.from(Array.from({ length: 1 + rand(64) }, () => rand(256))));
    await Promise.all(
      packets.map(
        (p) =>
          new Promise<void>((resolve) => {
            const sock = connectTcp({ host: hostname, port: Number(port) }, () => sock.end(p));
            sock.on('data', () => undefined);
            sock.on('error', () => resolve());
            sock.on('close', () => resolve());
            sock.setTimeout(3_000, () => sock.destroy());
          }),
      ),
    );
    // an authenticated device: prototype-key topics and a prototype-key payload on its own topic
    const ca = await connectDevice(h, a, { will: false });
    for (const topic of [
      '__proto__',
      'constructor/prototype',
      `fleet/v1/devices/__proto__/telemetry`,
      'fleet/v1/devices/constructor/status',
    ])
      if (ca.connected) ca.publish(topic, '{}', { qos: 1 });
    if (ca.connected)
      ca.publish(topics.telemetry(a.deviceId), '{"__proto__":{"polluted":true},"constructor":{"prototype":{}}}', { qos: 1 });
    ca.end(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // the canary still gets a window to Postgres, and the control plane is ready
    expect(canary.connected).toBe(true);
    await canary.publishAsync(
      topics.telemetry(canaryDevice.deviceId),
      JSON.stringify(telemetryWindow(canaryDevice.deviceId, randomUUID(), 1)),
      {
        qos: 1,
      },
    );
    await waitFor(async () => (await telemetryRows(h, canaryDevice.deviceId)) === 1, 10_000, 'canary row');
    expect((await fetch(`${h.cp.url}/readyz`)).status).toBe(200);
    await canary.endAsync();
  });
});

describe('Mosquitto dynamic security: provisioning and reconciliation at start', () => {
  let mosquitto: Mosquitto;
  let h: Harness;
  let admin: DynsecClient;
  beforeAll(async () => {
    mosquitto = await Mosquitto.create('dynsec');
    await mosquitto.start();
    h = await startHarness(mosquitto.controlPlaneEnv);
    const { username, password } = mosquitto.admin ?? { username: '', password: '' };
    admin = new DynsecClient({ url: mosquitto.url, username, password, log: new Logger('test', 'error') });
    await admin.start();
  }, 60_000);
  afterAll(async () => {
    await admin.stop();
    await h.close();
    await mosquitto.close();
  });

  const client = async (username: string) => (await admin.run([{ command: 'getClient', username }]))[0];

  it('an enrolled device is a client bound to its id with a role of its own topics', async () => {
    const e = await enrollDevice(h, 'financial_trading');
    const r = await client(e.deviceId);
    expect(r?.error).toBeUndefined();
    expect(r?.data).toMatchObject({
      client: { username: e.deviceId, clientid: e.deviceId, roles: [{ rolename: `edge-fleet-device-${e.deviceId}` }] },
    });
    const c = await connectDevice(h, e);
    await c.endAsync();
  });

  it('at start, missing devices are created, revoked ones disabled, clients Postgres does not know disabled', async () => {
    const missing = await enrollDevice(h, 'financial_trading');
    const revoked = await enrollDevice(h, 'financial_trading');
    expect((await h.api(`/api/v1/devices/${revoked.deviceId}/revoke`, { method: 'POST' })).status).toBe(200);
    const orphan = randomUUID();
    await admin.run([
      { command: 'deleteClient', username: missing.deviceId },
      { command: 'enableClient', username: revoked.deviceId },
      {
        command: 'createClient',
        username: orphan,
        password: 'orphan-password-0123456789',
        clientid: orphan,
        textname: 'edge-fleet device',
      },
    ]);
    expect(await tryConnect(mosquitto.url, creds(revoked))).not.toBeInstanceOf(Error);
    // a second replica starts on the same database and broker
    const h2 = await startHarness(mosquitto.controlPlaneEnv, { dbUrl: h.dbUrl });
    try {
      expect((await client(missing.deviceId))?.data).toMatchObject({ client: { username: missing.deviceId, clientid: missing.deviceId } });
      expect((await client(revoked.deviceId))?.data).toMatchObject({ client: { disabled: true } });
      expect((await client(orphan))?.data).toMatchObject({ client: { disabled: true } });
      expect(await tryConnect(mosquitto.url, creds(revoked))).toBeInstanceOf(Error);
      expect(
        await tryConnect(mosquitto.url, { clientId: orphan, username: orphan, password: 'orphan-password-0123456789' }),
      ).toBeInstanceOf(Error);
    } finally {
      await h2.close().catch(() => undefined);
    }
  });
});
