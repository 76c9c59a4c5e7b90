import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { filters, hardwarePreset, parseTopic } from '@edge-fleet/shared';
import mqtt from 'mqtt';
import { sleep } from '../../core/stats.js';
import type { SimDeviceCredentials } from '../../sim/credentials.file.js';
import { FaultSharesSchema } from '../../sim/faults.js';
import { autoSourceAddresses, Fleet } from '../../sim/fleet.js';
import { freePort } from '@edge-fleet/test-utils';

/** A fleet that publishes telemetry at `ratePerSecond` in total (each device one window per devices/rate s). */
export function loadFleet(
  devices: SimDeviceCredentials[],
  mqttUrl: string,
  ratePerSecond: number,
  onAcked?: (publishedAt: number, ackedAt: number) => void,
): Fleet {
  return new Fleet({
    devices,
    mqttUrl,
    sourceAddresses: autoSourceAddresses(devices.length),
    seed: 1,
    connectConcurrency: 64,
    client: null,
    faults: FaultSharesSchema.parse({}),
    timing: {
      telemetryIntervalMs: Math.max(10, Math.round((devices.length / ratePerSecond) * 1000)),
      updateTimeScale: 0,
      slowFactor: 1,
      reportPhases: false,
      reconnectBaseMs: 1_000,
      keepaliveSeconds: 60,
    },
    onTelemetryAcked: onAcked,
  });
}

export function fakeDevices(n: number): SimDeviceCredentials[] {
  const secret = randomBytes(32).toString('base64url');
  const profile = hardwarePreset('edge-npu-trading');
  return Array.from({ length: n }, (_, index) => ({
    index,
    deviceId: randomUUID(),
    deviceSecret: secret,
    scenario: 'financial_trading' as const,
    preset: 'edge-npu-trading',
    hardwareProfile: profile,
  }));
}

export interface BaselineResult {
  broker: string;
  offered: number;
  delivered: number;
  lagP50Ms: number;
  lagP99Ms: number;
}

/**
 * The broker's own delivery rate to a bare QoS 1 subscriber under the same load: a bare aedes
 * in a child process (the embedded broker's library, without auth, ACL or ingest), or an external
 * broker as it is.
 */
export async function measureBaseline(
  kind: 'aedes' | 'external',
  externalUrl: string,
  devices: number,
  rate: number,
  seconds: number,
): Promise<BaselineResult> {
  let url = externalUrl;
  let stopBroker = (): Promise<void> => Promise.resolve();
  if (kind === 'aedes') {
    const port = await freePort();
    const child = fork(fileURLToPath(new URL('../bare-broker.js', import.meta.url)), [String(port)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve) => child.once('message', () => resolve()));
    url = `mqtt://127.0.0.1:${port}`;
    stopBroker = () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send({ type: 'stop' });
      });
  }
  const fleetDevices = fakeDevices(devices);
  const mine = new Set(fleetDevices.map((d) => d.deviceId));
  const lags: number[] = [];
  let delivered = 0;
  let counting = false;
  const sub = await mqtt.connectAsync(url, { clientId: `bench-sub-${randomUUID()}`, clean: true, protocolVersion: 4 });
  await sub.subscribeAsync(filters.telemetry, { qos: 1 });
  sub.on('message', (topic, payload) => {
    const t = parseTopic(topic);
    if (!counting || !t || !mine.has(t.deviceId)) return;
    delivered += 1;
    // windowEnd is the publish time (ms); the payload is parsed only as far as this field
    const m = /"windowEnd":"([^"]+)"/.exec(payload.toString('utf8'));
    if (m?.[1] && delivered % 10 === 0) lags.push(Date.now() - Date.parse(m[1]));
  });
  const fleet = loadFleet(fleetDevices, url, rate);
  await fleet.start(undefined, true);
  await sleep(2_000);
  const sent0 = fleet.counters.telemetrySent;
  counting = true;
  await sleep(seconds * 1000);
  counting = false;
  const sent = fleet.counters.telemetrySent - sent0;
  await fleet.stop();
  await sub.endAsync();
  await stopBroker();
  lags.sort((a, b) => a - b);
  const at = (p: number): number => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))] ?? Number.NaN;
  return {
    broker: kind === 'aedes' ? 'bare aedes 1.2 (child process)' : url,
    offered: sent / seconds,
    delivered: delivered / seconds,
    lagP50Ms: at(50),
    lagP99Ms: at(99),
  };
}
