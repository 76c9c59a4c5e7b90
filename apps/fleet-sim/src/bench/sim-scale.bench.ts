import { randomBytes, randomUUID } from 'node:crypto';
import { hardwarePreset } from '@edge-fleet/shared';
import { Mosquitto } from '@edge-fleet/test-utils';
import { z } from 'zod';
import { fmt, sleep } from '../core/stats.js';
import { FaultSharesSchema } from '../sim/faults.js';
import { autoSourceAddresses, Fleet } from '../sim/fleet.js';
import { planFleet } from '../sim/fleet-mix.js';
import { benchArgs, machineLine, out } from './support/report.js';

const Args = z.object({
  devices: z.coerce.number().int().min(1).max(100_000).default(10_000),
  seconds: z.coerce.number().min(5).max(3_600).default(60),
  /** Unset: a private Mosquitto with a password file holding the simulated devices (per-device ACLs by pattern). */
  mqttUrl: z.string().optional(),
  sourceAddresses: z.coerce.number().int().min(0).max(250).default(0),
});
const a = benchArgs(
  Args,
  'usage: bench:sim [--devices 10000] [--seconds 60] [--mqtt-url URL of a broker that accepts the simulated credentials] [--source-addresses n (0 = auto)]',
);

/**
 * How many virtual devices one process holds, and at what memory: devices with made-up
 * credentials, no enrollment, on a private Mosquitto that knows them from a password file
 * (each device id its username, each restricted to its own topics), not an anonymous broker.
 */
out(machineLine());
const secret = randomBytes(32).toString('base64url');
const devices = planFleet(a.devices, { kind: 'even' }, 1).map((p) => ({
  index: p.index,
  deviceId: randomUUID(),
  deviceSecret: secret,
  scenario: p.scenario,
  preset: p.preset,
  hardwareProfile: hardwarePreset(p.preset),
}));
const broker = a.mqttUrl ? null : await Mosquitto.withPasswordFile(devices.map((d) => ({ username: d.deviceId, password: secret })));
await broker?.start();
const mqttUrl = a.mqttUrl ?? broker?.url ?? '';
out(
  broker
    ? `broker: private Mosquitto ${mqttUrl}, password file (${fmt(devices.length, 0)} devices), per-device ACL patterns`
    : `broker: ${mqttUrl}`,
);
const sourceAddresses =
  a.sourceAddresses > 0 ? Array.from({ length: a.sourceAddresses }, (_, i) => `127.0.0.${i + 1}`) : autoSourceAddresses(a.devices);
const fleet = new Fleet({
  devices,
  mqttUrl,
  sourceAddresses,
  seed: 1,
  connectConcurrency: 500,
  client: null,
  faults: FaultSharesSchema.parse({}),
  timing: {
    telemetryIntervalMs: null,
    updateTimeScale: 1,
    slowFactor: 3,
    reportPhases: true,
    reconnectBaseMs: 2_000,
    keepaliveSeconds: 60,
  },
});
const t0 = Date.now();
const connected = await fleet.start();
const connectS = (Date.now() - t0) / 1000;
const rssAfterConnect = process.memoryUsage().rss / 1_048_576;
const acked0 = fleet.counters.telemetryAcked;
let peak = rssAfterConnect;
const until = Date.now() + a.seconds * 1000;
while (Date.now() < until) {
  await sleep(1_000);
  peak = Math.max(peak, process.memoryUsage().rss / 1_048_576);
}
const rate = (fleet.counters.telemetryAcked - acked0) / a.seconds;
out(
  `simulator: ${fmt(connected, 0)}/${fmt(a.devices, 0)} devices connected to ${mqttUrl} from ${sourceAddresses.length} source address(es) in ${fmt(connectS)} s`,
);
out(`  telemetry acked ${fmt(rate, 0)} msg/s (one window per device per 10 s until a desired state says otherwise)`);
out(
  `  RSS after connect ${fmt(rssAfterConnect, 0)} MB, peak over ${a.seconds} s ${fmt(peak, 0)} MB (${fmt((peak * 1024) / Math.max(1, connected), 1)} KB per device); goal ≤ 512 MB for 10,000`,
);
await fleet.stop();
await broker?.close();
process.exit(0);
