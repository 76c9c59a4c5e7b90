import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EnrollResponse, type ReportedState, topics } from '@edge-fleet/shared';
import { DeviceTelemetrySchema } from '@edge-fleet/shared/api';
import { connectDevice, enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { setScenarioModel, startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';
import { openSignedGrant } from '../test-support/signed-desired.js';
import { VirtualDevice } from '../test-support/virtual-device.js';

/**
 * Hybrid placement, control-plane side, on the real control plane (Postgres, Redis, broker): the
 * desired state of a device whose scenario's policy location is hybrid names the scenario's cloud
 * nodes (from their reports) and carries a signed, short-lived grant, re-issued before it expires;
 * windows with forwarded requests are stored and shown apart from the local runs.
 * Grants live 60 s here (a re-publication every 20 s); 15 minutes in production.
 */
const CLOUD_URL = 'http://127.0.0.1:18701';
let h: Harness;
let hybrid: VirtualDevice;
let edgeOnly: VirtualDevice;
let cloud: EnrollResponse;
let cloudClient: MqttClient;

function publish(client: MqttClient, topic: string, payload: unknown, retain = false): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, JSON.stringify(payload), { qos: 1, retain }, (err) => (err ? reject(err) : resolve()));
  });
}

beforeAll(async () => {
  h = await startHarness({ HYBRID_GRANT_TTL_SECONDS: '60', HYBRID_FORWARD_ON_LATENCY: 'on' });
  // a cloud node of robotic_manipulation (a hybrid tier): it reports the address it serves on
  cloud = await enrollDevice(h, 'robotic_manipulation', 'cloud-cpu-node');
  cloudClient = await connectDevice(h, cloud);
  await publish(cloudClient, topics.status(cloud.deviceId), { state: 'online' }, true);
  const report: ReportedState = {
    schema: 1,
    deviceId: cloud.deviceId,
    bootId: '3b0b7a0e-8f43-4a0e-9b1e-2a7c1c1d6a01',
    phase: 'idle',
    appliedAssignmentVersion: null,
    active: null,
    lastUpdate: null,
    agentVersion: 'test',
    reportedAt: new Date().toISOString(),
    inferenceUrl: CLOUD_URL,
  };
  await publish(cloudClient, topics.reported(cloud.deviceId), report);
  await waitFor(
    async () => {
      const res = await h.api(`/api/v1/devices/${cloud.deviceId}`);
      const body = (await res.json()) as { status?: string; reported?: { inferenceUrl: string | null } | null };
      // the device API shows a cloud node's address (the dashboard's device page too)
      return body.status === 'online' && body.reported?.inferenceUrl === CLOUD_URL ? true : undefined;
    },
    10_000,
    'the cloud node online with its address stored',
  );
  // each scenario runs a model, so its devices are issued desired states
  const v = await uploadMlp(h, 'hybrid', '1', 18);
  await setScenarioModel(h, 'robotic_manipulation', v.id);
  await setScenarioModel(h, 'financial_trading', v.id);
  hybrid = await VirtualDevice.start(h, 'robotic_manipulation', 'robot-npu-arm');
  edgeOnly = await VirtualDevice.start(h, 'financial_trading', 'edge-npu-trading');
}, 60_000);

afterAll(async () => {
  await hybrid.stop();
  await edgeOnly.stop();
  cloudClient.end(true);
  await h.close();
});

describe('hybrid placement in the desired state', () => {
  it("names the scenario's cloud node and a grant scoped to scenario + device + expiry, signed under the fleet's root; edge-only devices get none", async () => {
    const d = await waitFor(
      () => Promise.resolve(hybrid.received.find((s) => s.hybrid !== undefined && s.hybrid.nodes.length > 0)),
      15_000,
      'a desired state naming the cloud node',
    );
    const placement = d.hybrid;
    if (placement === undefined) throw new Error('no placement');
    expect(placement.nodes).toEqual([{ deviceId: cloud.deviceId, url: CLOUD_URL }]);
    expect(placement.forwardOnLatency).toBe(true);
    // the tier target of robotic_manipulation's default policy
    expect(placement.latencyTargetMs).toBe(20);
    const grant = openSignedGrant(placement.grant, hybrid.enrollment.rootPublicKey);
    expect(grant).toMatchObject({ kind: 'oip-forward', scenario: 'robotic_manipulation', deviceId: hybrid.id });
    expect(Date.parse(grant.expiresAt) - Date.parse(grant.issuedAt)).toBe(60_000);
    // an edge-tier device, and the cloud node itself, are told of no cloud node
    await waitFor(() => Promise.resolve(edgeOnly.received.length > 0 || undefined), 10_000, 'the edge device desired state');
    expect(edgeOnly.received.every((s) => s.hybrid === undefined)).toBe(true);
  }, 30_000);

  it('re-issues the grant before it expires: the worker re-publishes the state with a fresh one, same assignment', async () => {
    const grants = () =>
      hybrid.received.flatMap((s) => (s.hybrid ? [{ s, g: openSignedGrant(s.hybrid.grant, hybrid.enrollment.rootPublicKey) }] : []));
    const first = grants().at(-1);
    if (first === undefined) throw new Error('no grant yet');
    const next = await waitFor(
      () => Promise.resolve(grants().find((x) => Date.parse(x.g.issuedAt) > Date.parse(first.g.issuedAt))),
      30_000,
      'a re-issued grant',
    );
    expect(next.s.assignmentVersion).toBe(first.s.assignmentVersion);
    // re-issued a third of the way into the grant's life, long before the old one expires
    expect(Date.parse(next.g.issuedAt)).toBeLessThan(Date.parse(first.g.expiresAt) - 30_000);
    expect(Date.parse(next.g.expiresAt)).toBeGreaterThan(Date.parse(first.g.expiresAt));
  }, 40_000);

  it('a cloud node that reports a new address is named to its hybrid devices at once, not at the next grant refresh', async () => {
    const url = 'http://127.0.0.1:18702';
    const second = await enrollDevice(h, 'robotic_manipulation', 'cloud-gpu-node');
    const client = await connectDevice(h, second);
    await publish(client, topics.status(second.deviceId), { state: 'online' }, true);
    await waitFor(
      async () =>
        ((await (await h.api(`/api/v1/devices/${second.deviceId}`)).json()) as { status?: string }).status === 'online' || undefined,
      10_000,
      'the second cloud node online',
    );
    const from = hybrid.received.length;
    const reportedAt = Date.now();
    await publish(client, topics.reported(second.deviceId), {
      schema: 1,
      deviceId: second.deviceId,
      bootId: '5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
      phase: 'idle',
      appliedAssignmentVersion: null,
      active: null,
      lastUpdate: null,
      agentVersion: 'test',
      reportedAt: new Date().toISOString(),
      inferenceUrl: url,
    } satisfies ReportedState);
    const named = await waitFor(
      () => Promise.resolve(hybrid.received.slice(from).find((s) => s.hybrid?.nodes.some((n) => n.url === url))),
      10_000,
      'a desired state naming the second node',
    );
    client.end(true);
    // the grant refresh runs every 20 s here: a state within 3 s of the report is the announcement
    expect(Date.now() - reportedAt).toBeLessThan(3_000);
    expect(named.hybrid?.nodes.map((n) => n.deviceId).sort()).toEqual([cloud.deviceId, second.deviceId].sort());
  }, 30_000);

  it('stores windows with forwarded requests and shows them apart from local runs in the device telemetry API', async () => {
    // another hybrid device of the scenario, on its own connection (the virtual one keeps its session)
    const other = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    const client = await connectDevice(h, other, { will: false });
    const w = telemetryWindow(other.deviceId, '9d3c1f0e-5b7a-4c1e-8a2f-0b6d4e3c2a10', 0, {
      source: 'traffic',
      inferences: 30,
      fallbacks: 70,
      remote: { inferences: 70, errors: 3, latencyMs: { p50: 2.5, p95: 4, p99: 6, max: 9 } },
    });
    await publish(client, topics.telemetry(other.deviceId), w);
    const point = await waitFor(
      async () => {
        const res = await h.api(`/api/v1/devices/${other.deviceId}/telemetry`);
        const t = DeviceTelemetrySchema.parse(await res.json());
        return t.points.find((p) => (p.remoteInferences ?? 0) > 0);
      },
      10_000,
      'the stored window',
    );
    client.end(true);
    expect(point).toMatchObject({ inferences: 30, remoteInferences: 70, remoteErrors: 3, remoteP50: 2.5, remoteP99: 6 });
  }, 30_000);
});
