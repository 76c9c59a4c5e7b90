import pg from 'pg';
import { z } from 'zod';
import { fmt, sleep } from '../core/stats.js';
import { FaultSharesSchema } from '../sim/faults.js';
import { autoSourceAddresses, Fleet } from '../sim/fleet.js';
import { startControlPlaneProcess } from './support/control-plane.process.js';
import { assignScenario, uploadMlp } from './support/operator-api.js';
import { benchArgs, CommSampler, machineLine, out, ProcSampler } from './support/report.js';
import { seedDevices } from './support/seed.js';

const Args = z.object({
  devices: z.coerce.number().int().min(1).max(50_000).default(1_000),
  timeoutSeconds: z.coerce.number().min(5).max(3_600).default(120),
  broker: z.enum(['embedded', 'mosquitto']).default('embedded'),
  mqttUrl: z.string().default('mqtt://127.0.0.1:1883'),
});
const a = benchArgs(
  Args,
  'usage: bench:fanout [--devices 1000] [--timeout-seconds 120] [--broker embedded|mosquitto] [--mqtt-url mqtt://127.0.0.1:1883]',
);

out(machineLine());
const cp = await startControlPlaneProcess({ mqttUrl: a.broker === 'mosquitto' ? a.mqttUrl : undefined, dbPrefix: 'ef_bench_fanout' });
const db = new pg.Client({ connectionString: cp.dbUrl });
try {
  await db.connect();
  const model = await uploadMlp(cp.url, cp.operatorToken, 'fanout-mlp');
  const creds = await seedDevices(cp.dbUrl, a.devices, 'autonomous_driving', 'edge-dsa-vehicle');
  const notified = new Map<string, number>();
  let target = Number.POSITIVE_INFINITY;
  const fleet = new Fleet({
    devices: creds,
    mqttUrl: cp.mqttUrl,
    sourceAddresses: autoSourceAddresses(creds.length),
    seed: 1,
    connectConcurrency: 64,
    client: null,
    faults: FaultSharesSchema.parse({}),
    // instant updates and outcome-only reports: the figure is the control plane's fan-out, not simulated download time
    timing: {
      telemetryIntervalMs: 60_000,
      updateTimeScale: 0,
      slowFactor: 1,
      reportPhases: false,
      reconnectBaseMs: 1_000,
      keepaliveSeconds: 60,
    },
    onDesired: (id, version, at) => {
      if (version >= target && !notified.has(id)) notified.set(id, at);
    },
  });
  const tc = Date.now();
  const connected = await fleet.start();
  out(
    `fan-out: ${connected}/${a.devices} devices connected in ${fmt((Date.now() - tc) / 1000)} s; broker ${a.broker === 'embedded' ? 'embedded aedes' : a.mqttUrl}`,
  );
  // let the online → republish traffic settle
  for (let i = 0; i < 60; i++) {
    const n = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM "Device" WHERE status = 'online'`)).rows[0]?.n ?? 0);
    if (n >= connected) break;
    await sleep(500);
  }
  await sleep(1_000);
  target = 1; // the first assignment of every device
  const cpu = new ProcSampler(cp.pid);
  const pgCpu = new CommSampler(['postgres']);
  const simCpu0 = process.cpuUsage();
  const t0 = Date.now();
  const assigned = await assignScenario(cp.url, cp.operatorToken, 'autonomous_driving', model.id);
  const putMs = Date.now() - t0;
  const deadline = t0 + a.timeoutSeconds * 1000;
  let acks = 0;
  while (Date.now() < deadline) {
    acks = Number(
      (
        await db.query<{ n: string }>(
          'SELECT count(*) AS n FROM "ReportedState" WHERE "appliedAssignmentVersion" >= 1 AND "activeVariantId" IS NOT NULL',
        )
      ).rows[0]?.n ?? 0,
    );
    if (acks >= assigned && notified.size >= assigned) break;
    await sleep(250);
  }
  const stats = cpu.finish();
  const pgStats = await pgCpu.finish();
  const simCpu = process.cpuUsage(simCpu0);
  const times = [...notified.values()].map((t) => t - t0).sort((x, y) => x - y);
  const ackRows = await db.query<{ ms: number }>(
    `SELECT extract(epoch FROM "receivedAt") * 1000 - $1::float8 AS ms FROM "ReportedState" WHERE "appliedAssignmentVersion" >= 1 AND "activeVariantId" IS NOT NULL ORDER BY 1`,
    [t0],
  );
  const ackMs = ackRows.rows.map((r) => Number(r.ms));
  const at = (xs: number[], share: number): number =>
    xs.length >= Math.ceil(share * assigned) ? (xs[Math.ceil(share * assigned) - 1] ?? Number.NaN) : Number.NaN;
  const s = (ms: number): string => (Number.isFinite(ms) ? `${fmt(ms / 1000, 2)} s` : 'not reached');
  out(`PUT /api/v1/scenarios/autonomous_driving/model answered in ${fmt(putMs, 0)} ms for ${assigned} devices`);
  out(
    `desired state received: 50 % ${s(at(times, 0.5))}, 99 % ${s(at(times, 0.99))}, all ${s(at(times, 1))} (${notified.size}/${assigned}); goal all ≤ 3 s at 10,000`,
  );
  out(
    `acknowledgements stored (reported state with the new model): 50 % ${s(at(ackMs, 0.5))}, 99 % ${s(at(ackMs, 0.99))}, 100 % ${s(at(ackMs, 1))} (${ackMs.length}/${assigned}); goal 99 % ≤ 10 s at 10,000`,
  );
  const simCores = (simCpu.user + simCpu.system) / 1e6 / ((Date.now() - t0) / 1000);
  // the simulator's own receive times are the notify figures: on a shared box its CPU bounds them too
  out(
    `during fan-out: control plane ${fmt(stats.cores, 2)} cores, peak RSS ${fmt(stats.peakRssMb, 0)} MB; simulator ${fmt(simCores, 2)} cores; postgres ${fmt(pgStats.postgres ?? 0, 2)} cores`,
  );
  await fleet.stop();
} catch (e) {
  // the control plane's own last words say more than the bench's
  process.stderr.write(`fan-out failed: ${e instanceof Error ? e.message : String(e)}\ncontrol plane log tail:\n${cp.logTail()}\n`);
  process.exitCode = 1;
} finally {
  await db.end().catch(() => undefined);
  await cp.stop();
}
process.exit(process.exitCode ?? 0);
