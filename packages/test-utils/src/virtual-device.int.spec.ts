import { randomUUID } from 'node:crypto';
import { ReportedStateSchema, topics, type ReportedState } from '@edge-fleet/shared';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerAddress, VirtualDevice, type InstallResult, type VirtualDesired, type VirtualModel } from './virtual-device.js';
import { Mosquitto } from './mosquitto.js';
import { waitFor } from './wait-for.js';

// A private Mosquitto with dynamic security: the device is provisioned as enrollment would; the probe plays the control plane.
let broker: Mosquitto;
const deviceId = randomUUID();
const seen: { topic: string; payload: string; retain: boolean }[] = [];
const installs: number[] = [];
let failNext: InstallResult | null = null;
let probe: MqttClient;
let device: VirtualDevice<VirtualDesired>;

const model = (n: number): VirtualModel => ({
  modelVersionId: `mv-${n}`,
  variantId: `var-${n}`,
  precision: 'fp32',
  sha256: String(n).repeat(64).slice(0, 64),
  sizeBytes: 1_000,
});
const desired = (assignmentVersion: number, m: VirtualModel | null): VirtualDesired => ({
  deviceId,
  assignmentVersion,
  model: m,
  runtime: { windowSeconds: 1, targetRateHz: 10 },
});
const publishDesired = (d: VirtualDesired): Promise<unknown> =>
  probe.publishAsync(topics.desired(deviceId), JSON.stringify(d), { qos: 1, retain: true });
const reports = (): ReportedState[] =>
  seen.filter((m) => m.topic === topics.reported(deviceId)).map((m) => ReportedStateSchema.parse(JSON.parse(m.payload)));
const report = (what: string, pred: (r: ReportedState) => boolean): Promise<ReportedState> =>
  waitFor(() => reports().find(pred), 5_000, what, { intervalMs: 20 });

beforeAll(async () => {
  broker = await Mosquitto.create('dynsec');
  await broker.start();
  await broker.provisionDevice(deviceId, 's'.repeat(40));
  probe = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, ...(await broker.observer()) });
  probe.on('message', (topic, payload, packet) => seen.push({ topic, payload: payload.toString(), retain: packet.retain }));
  await probe.subscribeAsync(`${topics.deviceRoot(deviceId)}#`, { qos: 1 });
  device = new VirtualDevice<VirtualDesired>({
    deviceId,
    deviceSecret: 's'.repeat(40),
    broker: brokerAddress(broker.url),
    agentVersion: 'virtual-device-test',
    reconnectPeriodMs: () => 0,
    connectTimeoutMs: 5_000,
    behaviour: {
      readDesired: (payload) => JSON.parse(payload.toString()) as VirtualDesired,
      install: (_m, version, ctx) => {
        installs.push(version);
        ctx.setPhase('downloading');
        const result = failNext ?? { outcome: 'ok' as const };
        failNext = null;
        return Promise.resolve(result);
      },
      window: (w) => (w.active ? { seq: w.seq, variantId: w.active.variantId, bootId: w.bootId } : null),
      windowMs: () => 100,
    },
  });
});

afterAll(async () => {
  await device.stop({ clean: false });
  await probe.endAsync();
  await broker.close();
});

describe('VirtualDevice (shared by the control-plane tests and the fleet simulator)', () => {
  it('says online, reports what it runs on connect, and takes the retained desired state', async () => {
    await publishDesired(desired(2, model(2)));
    device.start();
    expect(await device.connectedOnce()).toBe(true);
    device.startTelemetry();
    const status = await waitFor(() => seen.find((m) => m.topic === topics.status(deviceId)), 5_000, 'status');
    expect(JSON.parse(status.payload)).toMatchObject({ state: 'online', bootId: device.bootId });
    const running = await report('running 2', (r) => r.appliedAssignmentVersion === 2);
    expect(running).toMatchObject({
      phase: 'running',
      active: { variantId: 'var-2' },
      lastUpdate: { assignmentVersion: 2, outcome: 'ok' },
    });
    expect(reports().map((r) => r.phase)).toEqual(expect.arrayContaining(['downloading', 'running']));
  });

  it('sends telemetry windows for what runs, numbered from 0', async () => {
    const windows = (): { seq: number; variantId: string }[] =>
      seen.filter((m) => m.topic === topics.telemetry(deviceId)).map((m) => JSON.parse(m.payload) as { seq: number; variantId: string });
    const w = await waitFor(() => (windows().length > 0 ? windows() : null), 5_000, 'telemetry', { intervalMs: 20 });
    expect(w[0]).toMatchObject({ seq: 0, variantId: 'var-2' });
  });

  it('ignores a desired state at or below its watermark', async () => {
    await publishDesired(desired(1, model(1)));
    await new Promise((r) => setTimeout(r, 300));
    expect(device.applied).toBe(2);
    expect(installs).toEqual([2]);
  });

  it('keeps its model when an update fails, says why, and does not retry that version', async () => {
    failNext = { outcome: 'failed', reasonCode: 'download_failed', message: 'told to' };
    await publishDesired(desired(3, model(3)));
    const failed = await report('failed 3', (r) => r.lastUpdate?.assignmentVersion === 3);
    expect(failed).toMatchObject({ phase: 'failed', appliedAssignmentVersion: 2, active: { variantId: 'var-2' } });
    await publishDesired(desired(3, model(3)));
    await new Promise((r) => setTimeout(r, 300));
    expect(installs).toEqual([2, 3]);
  });

  it('takes the same bytes under new names without installing them again', async () => {
    const renamed = { ...model(2), modelVersionId: 'mv-2b', variantId: 'var-2b' };
    await publishDesired(desired(4, renamed));
    const same = await report('applied 4', (r) => r.appliedAssignmentVersion === 4);
    expect(same).toMatchObject({ phase: 'running', active: { variantId: 'var-2b', sha256: renamed.sha256 } });
    expect(installs).toEqual([2, 3]);
  });

  it('applies a state without a model by unloading, and moves the watermark', async () => {
    await publishDesired(desired(5, null));
    const idle = await report('idle 5', (r) => r.appliedAssignmentVersion === 5);
    expect(idle).toMatchObject({ phase: 'idle', active: null, lastUpdate: { assignmentVersion: 5, outcome: 'ok' } });
  });
});
