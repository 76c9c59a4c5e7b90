import pg from 'pg';
import { z } from 'zod';
import { fmt, sleep } from '../core/stats.js';
import { startControlPlaneProcess } from './support/control-plane.process.js';
import { loadFleet, measureBaseline } from './support/load.js';
import { benchArgs, CommSampler, machineLine, out, ProcSampler } from './support/report.js';
import { seedDevices } from './support/seed.js';

const Args = z.object({
  devices: z.coerce.number().int().min(1).max(50_000).default(500),
  rate: z.coerce.number().min(1).max(1_000_000).default(5_000),
  seconds: z.coerce.number().min(5).max(3_600).default(60),
  baselineSeconds: z.coerce.number().min(0).max(600).default(15),
  broker: z.enum(['embedded', 'mosquitto']).default('embedded'),
  mqttUrl: z.string().default('mqtt://127.0.0.1:1883'),
});
const a = benchArgs(
  Args,
  'usage: bench:ingest [--devices 500] [--rate 5000 msg/s offered in total] [--seconds 60] [--baseline-seconds 15] [--broker embedded|mosquitto] [--mqtt-url mqtt://127.0.0.1:1883]',
);

out(machineLine());
out(
  `ingest: ${a.devices} devices, ${fmt(a.rate, 0)} msg/s offered (QoS 1), ${a.seconds} s, broker ${a.broker === 'embedded' ? 'embedded aedes' : a.mqttUrl}`,
);
if (a.baselineSeconds > 0) {
  const b = await measureBaseline(a.broker === 'embedded' ? 'aedes' : 'external', a.mqttUrl, a.devices, a.rate, a.baselineSeconds);
  out(
    `baseline, ${b.broker} → bare subscriber (${a.baselineSeconds} s): offered ${fmt(b.offered, 0)} msg/s, delivered ${fmt(b.delivered, 0)} msg/s, delivery lag p50 ${fmt(b.lagP50Ms)} ms p99 ${fmt(b.lagP99Ms)} ms`,
  );
}

// The bench measures the ingest path, not the per-device quota: the quota is raised to twice the
// offered rate per device, unless the caller sets TELEMETRY_QUOTA_SLACK to measure refusals.
const WINDOW_SECONDS = 5;
const quotaSlack =
  process.env.TELEMETRY_QUOTA_SLACK ?? String(Math.min(1_000, Math.max(2, Math.ceil((a.rate / a.devices) * WINDOW_SECONDS * 2))));
out(`quota: TELEMETRY_QUOTA_SLACK ${quotaSlack} (windows per device per ${WINDOW_SECONDS} s period)`);
const cp = await startControlPlaneProcess({
  mqttUrl: a.broker === 'mosquitto' ? a.mqttUrl : undefined,
  dbPrefix: 'ef_bench_ingest',
  env: { TELEMETRY_WINDOW_SECONDS: String(WINDOW_SECONDS), TELEMETRY_QUOTA_SLACK: quotaSlack },
});
const db = new pg.Client({ connectionString: cp.dbUrl });
try {
  await db.connect();
  const creds = await seedDevices(cp.dbUrl, a.devices, 'financial_trading');
  const fleet = loadFleet(creds, cp.mqttUrl, a.rate);
  const t = Date.now();
  const connected = await fleet.start(undefined, true);
  out(`connected ${connected}/${a.devices} devices in ${fmt((Date.now() - t) / 1000)} s`);
  await sleep(3_000); // warm-up
  const cpu = new ProcSampler(cp.pid);
  const pgCpu = new CommSampler(a.broker === 'mosquitto' ? ['postgres', 'mosquitto'] : ['postgres']);
  const simCpu0 = process.cpuUsage();
  const c0 = { ...fleet.counters };
  const t0 = new Date();
  await sleep(a.seconds * 1000);
  const t1 = new Date();
  const c1 = { ...fleet.counters };
  const cpStats = cpu.finish();
  const others = pgCpu.finish();
  const simCpu = process.cpuUsage(simCpu0);
  await fleet.stop();
  // wait for ingest to drain: rows stop growing (or reach the acked count)
  let rows = 0;
  for (let i = 0, stable = 0; i < 120 && stable < 6; i++) {
    const n = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM "TelemetryWindow"')).rows[0]?.n ?? 0);
    stable = n === rows ? stable + 1 : 0;
    rows = n;
    if (rows >= fleet.counters.telemetryAcked) break;
    await sleep(500);
  }
  const committedRows = Number(
    (await db.query<{ n: string }>('SELECT count(*) AS n FROM "TelemetryWindow" WHERE "receivedAt" >= $1 AND "receivedAt" < $2', [t0, t1]))
      .rows[0]?.n ?? 0,
  );
  const win = await db.query<{ n: string; p50: number | null; p99: number | null }>(
    `SELECT count(*) AS n,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "receivedAt" - "windowEnd") * 1000) AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM "receivedAt" - "windowEnd") * 1000) AS p99
       FROM "TelemetryWindow" WHERE "windowEnd" >= $1 AND "windowEnd" < $2`,
    [t0, t1],
  );
  const committed = committedRows / a.seconds;
  const offered = (c1.telemetrySent - c0.telemetrySent) / a.seconds;
  const acked = (c1.telemetryAcked - c0.telemetryAcked) / a.seconds;
  const rejected = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM "RejectedMessage"')).rows[0]?.n ?? 0);
  out(
    `offered ${fmt(offered, 0)} msg/s, PUBACKed ${fmt(acked, 0)} msg/s, committed ${fmt(committed, 0)} msg/s (rows committed during the ${a.seconds} s window)`,
  );
  out(`ingest lag (publish → row committed): p50 ${fmt(win.rows[0]?.p50 ?? Number.NaN)} ms, p99 ${fmt(win.rows[0]?.p99 ?? Number.NaN)} ms`);
  // more rows than PUBACKs is no loss: windows committed whose PUBACK had not reached the device yet
  const lost = Math.max(0, fleet.counters.telemetryAcked - rows);
  out(
    `rows lost: ${lost} (PUBACKed ${fleet.counters.telemetryAcked}, rows ${rows}${rows > fleet.counters.telemetryAcked ? `, of which ${rows - fleet.counters.telemetryAcked} committed with their PUBACK still on the way` : ''}, rejected ${rejected}, publish errors ${fleet.counters.telemetryFailed})`,
  );
  out(
    `control plane: ${fmt(cpStats.cores, 2)} cores CPU, peak RSS ${fmt(cpStats.peakRssMb, 0)} MB; simulator: ${fmt((simCpu.user + simCpu.system) / 1e6 / a.seconds, 2)} cores`,
  );
  out(
    `other processes: ${Object.entries(others)
      .map(([k, v]) => `${k} ${fmt(v, 2)} cores`)
      .join(', ')}`,
  );
  out(`goal (10 min): ≥ 25,000 msg/s committed, p99 lag ≤ 500 ms, 0 lost`);
} finally {
  await db.end().catch(() => undefined);
  await cp.stop();
}
process.exit(0);
