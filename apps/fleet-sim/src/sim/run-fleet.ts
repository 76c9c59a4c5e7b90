import { readFile } from 'node:fs/promises';
import type { SimArgs } from '../cli/cli-args.js';
import { ControlPlaneClient } from './control-plane.client.js';
import { loadCredentialsFile, type CredentialsFile } from './credentials.file.js';
import { enrollFleet } from './enroller.js';
import { autoSourceAddresses, Fleet } from './fleet.js';
import { planFleet } from './fleet-mix.js';

export type Log = (msg: string) => void;

async function operatorToken(a: SimArgs): Promise<string | null> {
  if (a.operatorToken) return a.operatorToken;
  return readFile(a.operatorTokenFile, 'utf8').then(
    (t) => t.trim() || null,
    () => null,
  );
}

/** Brings the fleet's credentials up to `--devices`: reuses the credentials file, enrolls the rest. */
export async function prepareCredentials(a: SimArgs, client: ControlPlaneClient, log: Log): Promise<CredentialsFile> {
  const existing = await loadCredentialsFile(a.credentials);
  if (existing && existing.controlPlaneUrl !== client.baseUrl) {
    throw new Error(
      `${a.credentials} holds devices of ${existing.controlPlaneUrl}, not ${client.baseUrl}; pass another --credentials file`,
    );
  }
  const plans = planFleet(a.devices, a.scenarioMix, a.seed);
  const have = existing?.devices.filter((d) => d.index < a.devices).length ?? 0;
  if (have < a.devices) {
    log(`enrolling ${a.devices - have} devices (${have} reused from ${a.credentials}), ${a.enrollConcurrency} at a time`);
  }
  return enrollFleet({ client, plans, existing, file: a.credentials, concurrency: a.enrollConcurrency, namePrefix: a.namePrefix, log });
}

/** The CLI's whole run: enroll or reuse, connect, report every 10 s, stop on a signal or after --seconds. */
export async function runFleet(a: SimArgs, log: Log): Promise<void> {
  const client = new ControlPlaneClient(a.url.replace(/\/$/, ''), await operatorToken(a));
  const creds = await prepareCredentials(a, client, log);
  const devices = creds.devices.filter((d) => d.index < a.devices);
  const mqttUrl = a.mqttUrl ?? creds.mqttUrl;
  const sourceAddresses = a.sourceAddresses === 'auto' ? autoSourceAddresses(devices.length) : a.sourceAddresses;
  const fleet = new Fleet({
    devices,
    mqttUrl,
    sourceAddresses,
    faults: a.faults,
    seed: a.seed,
    connectConcurrency: a.connectConcurrency,
    client,
    timing: {
      telemetryIntervalMs: a.telemetryMs ?? null,
      updateTimeScale: a.updateTimeScale,
      slowFactor: a.slowFactor,
      reportPhases: true,
      reconnectBaseMs: 1_000,
      keepaliveSeconds: 60,
    },
  });
  const faulty = Object.entries(fleet.faultCounts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');
  log(`connecting ${devices.length} devices to ${mqttUrl} from ${sourceAddresses.join(', ')}${faulty ? `; faults: ${faulty}` : ''}`);
  const started = Date.now();
  const ok = await fleet.start((n, total) => log(`connected ${n}/${total}`));
  log(`${ok}/${devices.length} devices connected in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  let last = { ...fleet.counters };
  const timer = setInterval(() => {
    const c = fleet.counters;
    const rss = process.memoryUsage().rss / 1_048_576;
    log(
      `online ${c.connected} | telemetry ${((c.telemetryAcked - last.telemetryAcked) / 10).toFixed(0)}/s acked, ${c.telemetryFailed} failed | desired ${c.desiredReceived} | updates ok ${c.updatesOk} failed ${c.updatesFailed} | flaps ${c.flaps} crashes ${c.crashes} | rss ${rss.toFixed(0)} MB`,
    );
    last = { ...c };
  }, 10_000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (a.seconds !== undefined) setTimeout(resolve, a.seconds * 1000).unref();
  });
  clearInterval(timer);
  log('stopping: every device publishes offline and disconnects');
  await fleet.stop();
}
