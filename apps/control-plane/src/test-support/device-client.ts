import mqtt, { type MqttClient } from 'mqtt';
import { hardwarePreset, topics, type EnrollResponse, type HardwarePresetName, type Scenario } from '@edge-fleet/shared';
import { jsonPost, type ApiTarget } from './harness.js';

export async function enrollDevice(
  h: ApiTarget,
  scenario: Scenario,
  preset: HardwarePresetName = 'edge-npu-trading',
): Promise<EnrollResponse> {
  const created = await jsonPost(h, '/api/v1/enrollment-tokens', { scenario });
  if (created.status !== 201) throw new Error(`enrollment token not created: ${created.status} ${await created.text()}`);
  const tok = (await created.json()) as { token: string };
  const res = await jsonPost(h, '/api/v1/devices/enroll', { token: tok.token, hardwareProfile: hardwarePreset(preset) }, false);
  if (res.status !== 201) throw new Error(`enroll failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as EnrollResponse;
}

/** Connects as a device; resolves with the client or rejects with the broker's refusal. */
export async function connectDevice(
  h: ApiTarget,
  e: Pick<EnrollResponse, 'deviceId' | 'deviceSecret'>,
  opts: { password?: string; clientId?: string; will?: boolean } = {},
): Promise<MqttClient> {
  const client = mqtt.connect(h.config.mqttUrl, {
    clientId: opts.clientId ?? e.deviceId,
    username: e.deviceId,
    password: opts.password ?? e.deviceSecret,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...(opts.will === false
      ? {}
      : { will: { topic: topics.status(e.deviceId), payload: Buffer.from('{"state":"offline"}'), qos: 1 as const, retain: true } }),
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

/**
 * A valid telemetry window (the schema the agent sends) of five seconds, the default window length:
 * window `seq` ends `seq` windows before now, so a run of them stays within the per-device quota
 * the way a real device's consecutive windows do.
 */
export function telemetryWindow(
  deviceId: string,
  bootId: string,
  seq: number,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  const end = new Date(Date.now() - seq * 5_000);
  return {
    schema: 1,
    deviceId,
    bootId,
    seq,
    windowStart: new Date(end.getTime() - 5_000).toISOString(),
    windowEnd: end.toISOString(),
    modelVersionId: null,
    variantId: null,
    precision: null,
    inferences: 10,
    errors: 0,
    latencyMs: { p50: 1, p95: 1, p99: 1, max: 1 },
    power: { watts: 1, source: 'estimate', detail: 'test' },
    memory: { rssMb: 1, heapUsedMb: 1 },
    ...over,
  };
}
