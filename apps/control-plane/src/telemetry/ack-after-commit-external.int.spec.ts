import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { topics } from '@edge-fleet/shared';
import pg from 'pg';
import { startControlPlaneProcess, startListening, type Proc } from '../test-support/control-plane-process.js';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { freshDatabase, TEST_REDIS_URL, waitFor, type ApiTarget } from '../test-support/harness.js';
import { Mosquitto } from '@edge-fleet/test-utils';

/**
 * RELIABILITY row 18 on the external broker: devices publish telemetry through Mosquitto (dynamic
 * security) and count the PUBACKs the broker gives them; a control-plane replica is SIGKILLed while
 * windows flow (some of them received and not yet committed), devices go on publishing while it is
 * down, it is started again under the same MQTT_CLIENT_ID. Every window a device saw acknowledged
 * must end as a row. Before the ingest acknowledged only after the commit on a persistent session,
 * the windows buffered at the kill and those sent while no replica listened were acknowledged and lost.
 */
interface Replica {
  proc: Proc;
  target: ApiTarget;
  metrics(): Promise<string>;
}

/** One control-plane process (api + worker) on the shared database, broker and data directory. */
async function startReplica(env: Record<string, string>, dir: string, clientId: string, mqttUrl: string): Promise<Replica> {
  const { proc, url } = await startListening(
    'main',
    // info: the line saying it listens is what tells its /readyz from another process's on the port
    (port) => ({ ...env, DATA_DIR: dir, PORT: String(port), MQTT_CLIENT_ID: clientId, LOG_LEVEL: 'info' }),
    { what: `control plane ${clientId}`, readyWithinMs: 120_000 },
  );
  const token = (await readFile(path.join(dir, 'operator-token'), 'utf8')).trim();
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`${url}${p}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  return {
    proc,
    target: { cp: { url }, config: { mqttUrl }, api },
    metrics: async () => (await api('/metrics')).text(),
  };
}

async function kill(r: Replica): Promise<void> {
  const exited = new Promise((resolve) => r.proc.child.once('exit', resolve));
  r.proc.child.kill('SIGKILL');
  await exited;
}

const buffered = (metrics: string): number => Number(/edge_fleet_ingest_buffered_windows(?:\{[^}]*\})? (\d+)/.exec(metrics)?.[1] ?? 0);

/** A device publishing windows at QoS 1 as fast as the broker acknowledges them, a few in flight; it records each PUBACK. */
class CountingDevice {
  readonly acked = new Set<number>();
  private seq = 0;
  private running = true;
  private loop: Promise<void> = Promise.resolve();
  private readonly bootId = randomUUID();

  private constructor(
    readonly deviceId: string,
    private readonly client: mqtt.MqttClient,
  ) {}

  static async start(target: ApiTarget): Promise<CountingDevice> {
    const e = await enrollDevice(target, 'autonomous_driving', 'edge-dsa-vehicle');
    const client = await mqtt.connectAsync(target.config.mqttUrl, {
      clientId: e.deviceId,
      username: e.deviceId,
      password: e.deviceSecret,
      protocolVersion: 4,
      reconnectPeriod: 500,
    });
    const d = new CountingDevice(e.deviceId, client);
    d.loop = Promise.all([d.publishLoop(), d.publishLoop()]).then(() => undefined);
    return d;
  }

  private async publishLoop(): Promise<void> {
    while (this.running) {
      const seq = this.seq++;
      const w = telemetryWindow(this.deviceId, this.bootId, seq);
      try {
        await this.client.publishAsync(topics.telemetry(this.deviceId), JSON.stringify(w), { qos: 1 });
        this.acked.add(seq);
      } catch {
        // not acknowledged: nothing owed
      }
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.client.endAsync();
  }
}

async function storedSeqs(db: pg.Client, deviceId: string): Promise<Set<number>> {
  const r = await db.query<{ seq: number }>('SELECT seq::int AS seq FROM "TelemetryWindow" WHERE "deviceId" = $1', [deviceId]);
  return new Set(r.rows.map((x) => x.seq));
}

/** Waits until every acknowledged window of every device is stored (or the time is up); returns what is missing per device. */
async function ackedButNotStored(db: pg.Client, devices: CountingDevice[], withinMs: number): Promise<Record<string, number[]>> {
  const until = Date.now() + withinMs;
  for (;;) {
    const missing: Record<string, number[]> = {};
    for (const d of devices) {
      const stored = await storedSeqs(db, d.deviceId);
      const lost = [...d.acked].filter((s) => !stored.has(s)).sort((a, b) => a - b);
      if (lost.length > 0) missing[d.deviceId] = lost;
    }
    if (Object.keys(missing).length === 0 || Date.now() > until) return missing;
    await sleep(500);
  }
}

describe('acknowledged means stored on the external broker (RELIABILITY row 18)', () => {
  // each test its own broker, database and data directory: a replica's session outlives its process
  let mosquitto: Mosquitto;
  let db: { url: string; drop: () => Promise<void> };
  let dir: string;
  let client: pg.Client;
  const running: Replica[] = [];

  beforeEach(async () => {
    mosquitto = await Mosquitto.create();
    await mosquitto.start();
    db = await freshDatabase('ef_test_ackext');
    dir = await mkdtemp(path.join(tmpdir(), 'ef-ackext-'));
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterEach(async () => {
    for (const r of running.splice(0)) await r.proc.stop();
    await client.end();
    await db.drop();
    await mosquitto.close();
    await rm(dir, { recursive: true, force: true });
  });

  const env = (): Record<string, string> => ({
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    ...mosquitto.controlPlaneEnv,
    QUEUE_PREFIX: `ef-ackext-${randomBytes(4).toString('hex')}`,
    WORKER_METRICS_PORT: '0',
    EMBEDDED_POSTGRES: 'never',
    START_REDIS: 'never',
    VARIANT_BUILD: 'off',
    // windows wait up to 3 s for their commit: a kill lands among windows received and not committed
    TELEMETRY_FLUSH_MS: '3000',
    TELEMETRY_QUOTA_SLACK: '1000',
    LOG_LEVEL: 'warn',
  });

  const start = async (clientId: string, e: Record<string, string>): Promise<Replica> => {
    const r = await startReplica(e, dir, clientId, mosquitto.url);
    running.push(r);
    return r;
  };

  /** Devices publish through a SIGKILL of one replica and its restart; returns what they saw acknowledged and what of it is not stored. */
  async function crashDuringTraffic(replicas: [Replica, ...Replica[]], victim: Replica, victimId: string, e: Record<string, string>) {
    const devices = await Promise.all([0, 1, 2].map(() => CountingDevice.start(replicas[0].target)));
    const total = () => devices.reduce((n, d) => n + d.acked.size, 0);
    try {
      // windows flowing, some of them held by the victim for their commit
      await waitFor(async () => buffered(await victim.metrics()) >= 3, 30_000, 'windows buffered at the victim');
      await kill(victim);
      running.splice(running.indexOf(victim), 1);
      const atKill = total();
      // devices go on publishing while the victim is down: the broker holds their windows for its session
      await sleep(2_000);
      await start(victimId, e);
      await sleep(1_000);
      expect(total(), 'windows acknowledged after the kill').toBeGreaterThan(atKill);
    } finally {
      await Promise.all(devices.map((d) => d.stop()));
    }
    const lost = await ackedButNotStored(client, devices, 60_000);
    const lostCount = Object.values(lost).reduce((n, l) => n + l.length, 0);
    console.log(`row 18 (${replicas.length} replica(s)): ${total()} windows acknowledged by the broker, ${lostCount} of them not stored`);
    return { acked: total(), lost };
  }

  it('row 18: one replica SIGKILLed mid-traffic and restarted: 0 windows acknowledged but lost', async () => {
    const e = env();
    const one = await start('ef-ackext-one', e);
    const { acked, lost } = await crashDuringTraffic([one], one, 'ef-ackext-one', e);
    expect(acked).toBeGreaterThan(50);
    expect(lost, `of ${acked} acknowledged windows`).toEqual({});
  }, 300_000);

  it('row 18: two replicas on a shared subscription, one SIGKILLed mid-traffic and restarted: 0 acknowledged but lost', async () => {
    const e = env();
    const a = await start('ef-ackext-a', e);
    const b = await start('ef-ackext-b', e);
    const { acked, lost } = await crashDuringTraffic([a, b], b, 'ef-ackext-b', e);
    expect(acked).toBeGreaterThan(50);
    expect(lost, `of ${acked} acknowledged windows`).toEqual({});
  }, 300_000);

  it('row 18: a replica removed for good: drain-session stores what its session held and removes the session', async () => {
    const e = env();
    const a = await start('ef-drain-a', e);
    const b = await start('ef-drain-b', e);
    const devices = await Promise.all([0, 1, 2].map(() => CountingDevice.start(a.target)));
    try {
      await waitFor(async () => buffered(await b.metrics()) >= 1, 30_000, 'windows reaching replica b');
      // b is gone for good; the broker goes on handing its session b's turn of the shared subscription
      await kill(b);
      running.splice(running.indexOf(b), 1);
      await sleep(2_000);
    } finally {
      await Promise.all(devices.map((d) => d.stop()));
    }
    const acked = devices.reduce((n, d) => n + d.acked.size, 0);
    const stranded = await ackedButNotStored(client, devices, 5_000);
    expect(Object.keys(stranded).length, 'windows acknowledged and held in the removed replica session').toBeGreaterThan(0);

    const drain = startControlPlaneProcess('drain-session', { ...e, DATA_DIR: dir, LOG_LEVEL: 'info' }, [
      'ef-drain-b',
      '--quiet-seconds',
      '2',
    ]);
    const code = await new Promise<number | null>((resolve) => drain.child.once('exit', resolve));
    expect(code, drain.output().slice(-3_000)).toBe(0);
    expect(drain.output()).toContain('session drained and removed from the broker');
    expect(await ackedButNotStored(client, devices, 10_000), `of ${acked} acknowledged windows`).toEqual({});

    // the session is gone: connecting under its id finds none
    const probe = mqtt.connect(mosquitto.url, {
      clientId: 'ef-drain-b',
      username: e.MQTT_USERNAME,
      password: e.MQTT_PASSWORD,
      protocolVersion: 4,
      clean: false,
      reconnectPeriod: 0,
    });
    const sessionPresent = await new Promise<boolean>((resolve, reject) => {
      probe.once('connect', (ack) => resolve(ack.sessionPresent));
      probe.once('error', reject);
    });
    await probe.endAsync(true);
    expect(sessionPresent).toBe(false);
  }, 300_000);
});
