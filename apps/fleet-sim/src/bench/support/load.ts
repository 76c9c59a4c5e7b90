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
import { RawLoad, type RawLoadStats } from './raw-load.js';
import { CommSampler, ProcSampler } from './report.js';

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
  /** The broker's CPU per delivered message (µs): the bare aedes child's, or every `mosquitto` process's. */
  brokerCpuPerMessageUs: number;
}

/**
 * An external broker the bench started itself: its process (whose CPU is read alone, not every
 * `mosquitto` on the machine) and, with authentication, the bare subscriber's credentials and how
 * the generated devices get theirs.
 */
export interface OwnBroker {
  pid: number;
  subscriber?: { username: string; password: string };
  provision?: (devices: SimDeviceCredentials[]) => Promise<void>;
}

/**
 * The broker's own delivery rate to a bare QoS 1 subscriber under the same load: a bare aedes
 * in a child process (the embedded broker's library, without auth, ACL or ingest), or an external
 * broker as it is (`own` when the bench started it).
 */
export async function measureBaseline(
  kind: 'aedes' | 'external',
  externalUrl: string,
  devices: number,
  rate: number,
  seconds: number,
  generator: 'raw' | 'fleet' = 'fleet',
  processes = 2,
  own?: OwnBroker,
): Promise<BaselineResult> {
  let url = externalUrl;
  let brokerPid: number | null = own?.pid ?? null;
  let stopBroker = (): Promise<void> => Promise.resolve();
  if (kind === 'aedes') {
    const port = await freePort();
    const child = fork(fileURLToPath(new URL('../bare-broker.js', import.meta.url)), [String(port)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve) => child.once('message', () => resolve()));
    url = `mqtt://127.0.0.1:${port}`;
    brokerPid = child.pid ?? null;
    stopBroker = () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send({ type: 'stop' });
      });
  }
  const fleetDevices = fakeDevices(devices);
  const mine = new Set(fleetDevices.map((d) => d.deviceId));
  await own?.provision?.(fleetDevices);
  const lags: number[] = [];
  let delivered = 0;
  let counting = false;
  const sub = await mqtt.connectAsync(url, { clientId: `bench-sub-${randomUUID()}`, clean: true, protocolVersion: 4, ...own?.subscriber });
  await sub.subscribeAsync(filters.telemetry, { qos: 1 });
  sub.on('message', (topic, payload) => {
    const t = parseTopic(topic);
    if (!counting || !t || !mine.has(t.deviceId)) return;
    delivered += 1;
    // windowEnd is the publish time (ms); the payload is parsed only as far as this field
    const m = /"windowEnd":"([^"]+)"/.exec(payload.toString('utf8'));
    if (m?.[1] && delivered % 10 === 0) lags.push(Date.now() - Date.parse(m[1]));
  });
  const load = await startLoad(generator, fleetDevices, url, rate, processes);
  await sleep(2_000);
  const sent0 = await load.sent();
  const brokerCpu = brokerPid !== null ? new ProcSampler(brokerPid) : new CommSampler(['mosquitto']);
  const delivered0 = delivered;
  counting = true;
  await sleep(seconds * 1000);
  counting = false;
  const brokerCores = brokerCpu instanceof ProcSampler ? brokerCpu.finish().cores : ((await brokerCpu.finish()).mosquitto ?? Number.NaN);
  const sent = (await load.sent()) - sent0;
  await load.stop();
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
    brokerCpuPerMessageUs: ((brokerCores * seconds) / Math.max(1, delivered - delivered0)) * 1e6,
  };
}

/** Either load generator behind one face: the raw one (low CPU) or the simulated fleet (full device behaviour). */
export interface Load {
  sent(): Promise<number>;
  acked(): Promise<number>;
  failed(): number;
  /** The generator's own CPU seconds so far (its processes, or this one's for the fleet). */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

export async function startLoad(
  generator: 'raw' | 'fleet',
  devices: SimDeviceCredentials[],
  mqttUrl: string,
  rate: number,
  processes: number,
): Promise<Load & { connected: number }> {
  if (generator === 'raw') {
    const u = new URL(mqttUrl);
    const { load, connected } = await RawLoad.start({
      host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname,
      port: Number(u.port || 1883),
      devices,
      ratePerSecond: rate,
      processes,
    });
    load.go();
    // after stop the processes are gone: their last figures answer
    let final: RawLoadStats | null = null;
    const stats = async (): Promise<RawLoadStats> => final ?? (await load.stats());
    return {
      connected,
      sent: async () => (await stats()).sent,
      acked: async () => (await stats()).acked,
      failed: () => (final ? final.sent - final.acked : 0),
      cpuSeconds: async () => (await stats()).cpuSeconds,
      stop: async () => {
        final ??= await load.stop();
      },
    };
  }
  const fleet = loadFleet(devices, mqttUrl, rate);
  const cpu0 = process.cpuUsage();
  const connected = await fleet.start(undefined, true);
  return {
    connected,
    sent: () => Promise.resolve(fleet.counters.telemetrySent),
    acked: () => Promise.resolve(fleet.counters.telemetryAcked),
    failed: () => fleet.counters.telemetryFailed,
    cpuSeconds: () => {
      const c = process.cpuUsage(cpu0);
      return Promise.resolve((c.user + c.system) / 1e6);
    },
    stop: () => fleet.stop(),
  };
}
