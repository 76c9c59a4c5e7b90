import { cpus, loadavg } from 'node:os';
import { Mosquitto } from '@edge-fleet/test-utils';
import pg from 'pg';
import { z } from 'zod';
import { fmt, sleep } from '../core/stats.js';
import { startControlPlaneProcess, type ControlPlaneProcess } from './support/control-plane.process.js';
import { measureBaseline, startLoad } from './support/load.js';
import { benchArgs, machineLine, out, PostgresSampler, ProcSampler } from './support/report.js';
import { seedDevices } from './support/seed.js';

const Args = z.object({
  devices: z.coerce.number().int().min(1).max(50_000).default(500),
  rate: z.coerce.number().min(1).max(1_000_000).default(5_000),
  seconds: z.coerce.number().min(5).max(3_600).default(60),
  baselineSeconds: z.coerce.number().min(0).max(600).default(15),
  // mosquitto: a private Mosquitto with dynamic security started here (never the machine's anonymous one)
  broker: z.enum(['embedded', 'mosquitto']).default('embedded'),
  // control-plane replicas sharing the ingest (a shared subscription; external broker only): each count in turn
  replicas: z
    .string()
    .default('1')
    .transform((x) => x.split(',').map(Number))
    .pipe(z.array(z.number().int().min(1).max(4)).min(1)),
  generator: z.enum(['raw', 'fleet']).default('raw'),
  processes: z.coerce.number().int().min(1).max(16).default(2),
  // an older build of the control plane (its dist/main.js, copied inside apps/control-plane so that
  // its packages resolve): every configuration runs with it first, then with this checkout's, same load
  beforeBuild: z.string().optional(),
  // where the control plane keeps the rollups (TELEMETRY_ROLLUPS): each in turn, same load, same run
  rollups: z
    .string()
    .default('ingest,fold')
    .transform((x) => x.split(','))
    .pipe(z.array(z.enum(['ingest', 'fold'])).min(1)),
});
const a = benchArgs(
  Args,
  'usage: bench:ingest [--devices 500] [--rate 5000 msg/s offered in total] [--seconds 60] [--baseline-seconds 15] [--broker embedded|mosquitto] [--replicas 1,2] [--generator raw|fleet] [--processes 2] [--rollups ingest,fold] [--before-build apps/control-plane/dist-before/main.js]',
);
if (a.broker === 'embedded' && a.replicas.some((n) => n > 1)) {
  process.stderr.write('--replicas: more than one replica shares the ingest only on an external broker (--broker mosquitto)\n');
  process.exit(2);
}
/**
 * A fresh Mosquitto per stretch: a stopped control plane's persistent session stays a member of the
 * shared subscription, and Mosquitto goes on handing it its turn (README, "Running with Mosquitto"),
 * so a second stretch on the same broker saw only half of the windows committed.
 */
let mosquitto = null as Mosquitto | null;
async function freshBroker(): Promise<void> {
  await mosquitto?.close();
  mosquitto = a.broker === 'mosquitto' ? await Mosquitto.create() : null;
  await mosquitto?.start();
}
const brokerPid = (m: Mosquitto): number => {
  const pid = m.pid;
  if (pid == null) throw new Error(`the bench's Mosquitto is not running:\n${m.log()}`);
  return pid;
};
await freshBroker();

out(machineLine());
out(
  `ingest: ${a.devices} devices, ${fmt(a.rate, 0)} msg/s offered (QoS 1), ${a.seconds} s, broker ${mosquitto ? `Mosquitto with dynamic security at ${mosquitto.url} (started by the bench)` : 'embedded aedes'}`,
);
out(
  a.generator === 'raw'
    ? `generator: raw sockets with pre-serialised PUBLISH packets, ${a.processes} process(es), one connection per device`
    : 'generator: the simulated fleet (mqtt.js clients, full device behaviour) in this process',
);
if (a.baselineSeconds > 0) {
  const m = mosquitto;
  const b = await measureBaseline(
    mosquitto ? 'external' : 'aedes',
    mosquitto?.url ?? '',
    a.devices,
    a.rate,
    a.baselineSeconds,
    a.generator,
    a.processes,
    m
      ? {
          pid: brokerPid(m),
          subscriber: await m.observer(),
          provision: (devices) =>
            m.provisionDevices(
              devices.map((d) => d.deviceId),
              devices[0]?.deviceSecret ?? '',
            ),
        }
      : undefined,
  );
  out(
    `baseline, ${b.broker} → bare subscriber (${a.baselineSeconds} s): offered ${fmt(b.offered, 0)} msg/s, delivered ${fmt(b.delivered, 0)} msg/s, delivery lag p50 ${fmt(b.lagP50Ms)} ms p99 ${fmt(b.lagP99Ms)} ms, broker CPU ${fmt(b.brokerCpuPerMessageUs, 1)} µs per message`,
  );
}

// The bench measures the ingest path, not the per-device quota: the quota is raised to twice the
// offered rate per device, unless the caller sets TELEMETRY_QUOTA_SLACK to measure refusals.
const WINDOW_SECONDS = 5;
const quotaSlack =
  process.env.TELEMETRY_QUOTA_SLACK ?? String(Math.min(1_000, Math.max(2, Math.ceil((a.rate / a.devices) * WINDOW_SECONDS * 2))));
out(`quota: TELEMETRY_QUOTA_SLACK ${quotaSlack} (windows per device per ${WINDOW_SECONDS} s period)`);
interface RunFigures {
  label: string;
  /** The machine's 1-minute load average at the end of the stretch: figures are only as quiet as this. */
  load: number;
  cpUs: number;
  pgUs: number;
  committed: number;
  lagP99: number;
  lost: number;
}

/**
 * One measured stretch against fresh control planes (`replicas` of them on one database, splitting
 * the ingest by the shared subscription) keeping their rollups as `rollups` says.
 */
let measured = 0;
async function measure(rollups: 'ingest' | 'fold', replicas: number, build: string | undefined): Promise<RunFigures> {
  // the baseline's broker serves the first stretch; every later one gets its own (see freshBroker)
  if (measured > 0) await freshBroker();
  measured += 1;
  const broker = mosquitto;
  const label = `${build ? 'before (older build), ' : a.beforeBuild ? 'after, ' : ''}rollups ${rollups}, ${replicas} replica${replicas > 1 ? 's' : ''}`;
  out();
  out(`— ${label}${build ? `: ${build}` : ''}`);
  out(
    rollups === 'ingest'
      ? 'rollups: TELEMETRY_ROLLUPS=ingest (before: kept in the ingest transaction)'
      : 'rollups: TELEMETRY_ROLLUPS=fold (after: windows left pending, folded by the worker job in the same process every 2 s)',
  );
  if (broker) out(`control plane: ${replicas} replica(s) (api + worker each) on one database, one shared subscription`);
  const options = {
    mqttUrl: broker?.url,
    main: build,
    dbPrefix: 'ef_bench_ingest',
    env: {
      TELEMETRY_WINDOW_SECONDS: String(WINDOW_SECONDS),
      TELEMETRY_QUOTA_SLACK: quotaSlack,
      TELEMETRY_ROLLUPS: rollups,
      ...(broker ? { ...broker.controlPlaneEnv, MQTT_PROVISIONING: 'dynsec' } : {}),
    },
  };
  const cp = await startControlPlaneProcess(options);
  const cps: ControlPlaneProcess[] = [cp];
  const db = new pg.Client({ connectionString: cp.dbUrl });
  const pending = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM "TelemetryRollupPending"')).rows[0]?.n ?? 0);
  try {
    // one after another: each applies the migrations
    while (cps.length < replicas) cps.push(await startControlPlaneProcess({ ...options, replicaOf: cp }));
    await db.connect();
    const creds = await seedDevices(cp.dbUrl, a.devices, 'financial_trading');
    await broker?.provisionDevices(
      creds.map((d) => d.deviceId),
      creds[0]?.deviceSecret ?? '',
    );
    const t = Date.now();
    const load = await startLoad(a.generator, creds, cp.mqttUrl, a.rate, a.processes);
    out(`connected ${load.connected}/${a.devices} devices in ${fmt((Date.now() - t) / 1000)} s`);
    await sleep(3_000); // warm-up
    const cpu = cps.map((c) => new ProcSampler(c.pid));
    const pgCpu = new PostgresSampler(cp.dbUrl);
    const brokerCpu = broker ? new ProcSampler(brokerPid(broker)) : null;
    const c0 = { sent: await load.sent(), acked: await load.acked(), cpu: await load.cpuSeconds(), pending: await pending() };
    const t0 = new Date();
    await sleep(a.seconds * 1000);
    const t1 = new Date();
    const load1 = loadavg()[0] ?? Number.NaN;
    const c1 = { sent: await load.sent(), acked: await load.acked(), cpu: await load.cpuSeconds(), pending: await pending() };
    const perReplica = cpu.map((c) => c.finish());
    const cpStats = { cores: perReplica.reduce((n, r) => n + r.cores, 0), peakRssMb: Math.max(...perReplica.map((r) => r.peakRssMb)) };
    const pgCores = await pgCpu.finish();
    const mosquittoCores = brokerCpu ? brokerCpu.finish().cores : null;
    await load.stop();
    const ackedTotal = await load.acked();
    // wait for ingest to drain: rows reach the acked count, or stop growing for 10 s (an external
    // broker holds what it acknowledged until the control plane takes it: minutes of backlog at most)
    let rows = 0;
    for (let i = 0, stable = 0; i < 360 && stable < 20; i++) {
      const n = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM "TelemetryWindow"')).rows[0]?.n ?? 0);
      stable = n === rows ? stable + 1 : 0;
      rows = n;
      if (rows >= ackedTotal) break;
      await sleep(500);
    }
    const committedRows = Number(
      (
        await db.query<{ n: string }>('SELECT count(*) AS n FROM "TelemetryWindow" WHERE "receivedAt" >= $1 AND "receivedAt" < $2', [
          t0,
          t1,
        ])
      ).rows[0]?.n ?? 0,
    );
    const win = await db.query<{ n: string; p50: number | null; p99: number | null }>(
      `SELECT count(*) AS n,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM "receivedAt" - "windowEnd") * 1000) AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM "receivedAt" - "windowEnd") * 1000) AS p99
         FROM "TelemetryWindow" WHERE "windowEnd" >= $1 AND "windowEnd" < $2`,
      [t0, t1],
    );
    const committed = committedRows / a.seconds;
    const offered = (c1.sent - c0.sent) / a.seconds;
    const acked = (c1.acked - c0.acked) / a.seconds;
    const rejected = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM "RejectedMessage"')).rows[0]?.n ?? 0);
    out(
      `offered ${fmt(offered, 0)} msg/s, PUBACKed ${fmt(acked, 0)} msg/s, committed ${fmt(committed, 0)} msg/s (rows committed during the ${a.seconds} s window)`,
    );
    // a control plane that fell far behind usually says why (refusals, a lost connection): its last lines
    if (committed < offered / 2)
      for (const c of cps) out(`control plane ${c.pid} fell behind; its last log lines:\n${c.logTail().slice(-1_500)}`);
    const lagP99 = win.rows[0]?.p99 ?? Number.NaN;
    out(`ingest lag (publish → row committed): p50 ${fmt(win.rows[0]?.p50 ?? Number.NaN)} ms, p99 ${fmt(lagP99)} ms`);
    // more rows than PUBACKs is no loss: windows committed whose PUBACK had not reached the device yet
    const lost = Math.max(0, ackedTotal - rows);
    out(
      `rows lost: ${lost} (PUBACKed ${ackedTotal}, rows ${rows}${rows > ackedTotal ? `, of which ${rows - ackedTotal} committed with their PUBACK still on the way` : ''}, rejected ${rejected}, publish errors or unacknowledged ${load.failed()})`,
    );
    if (rollups === 'fold') {
      // the fold's work belongs in the figure: pending windows growing over the stretch would be work left out of it
      const t2 = Date.now();
      while ((await pending()) > 0 && Date.now() - t2 < 60_000) await sleep(200);
      out(
        `rollup fold: pending windows ${c0.pending} at the start of the stretch, ${c1.pending} at its end (the fold kept up when they stay below a fold interval's windows); all folded ${fmt((Date.now() - t2) / 1000)} s after the load stopped`,
      );
    }
    const generatorCores = (c1.cpu - c0.cpu) / a.seconds;
    out(
      `control plane${replicas > 1 ? ` (${replicas} replicas: ${perReplica.map((r) => fmt(r.cores, 2)).join(' + ')})` : ''}: ${fmt(cpStats.cores, 2)} cores CPU, peak RSS ${fmt(cpStats.peakRssMb, 0)} MB${replicas > 1 ? ' (largest replica)' : ''}; load generator: ${fmt(generatorCores, 2)} cores (${fmt(((c1.cpu - c0.cpu) / Math.max(1, c1.sent - c0.sent)) * 1e6, 1)} µs per message)`,
    );
    // CPU per committed window, from /proc: what the goal (≤ 60 µs for control plane + Postgres) is about
    const perWindowUs = (cores: number): number => ((cores * a.seconds) / Math.max(1, committedRows)) * 1e6;
    const cpUs = perWindowUs(cpStats.cores);
    const pgUs = perWindowUs(pgCores.backends + pgCores.background);
    out(
      `CPU per committed window: control plane ${fmt(cpUs, 1)} µs${broker ? (replicas > 1 ? ` (all ${replicas} replicas)` : '') : ' (its embedded broker included)'}, Postgres ${fmt(pgUs, 1)} µs, together ${fmt(cpUs + pgUs, 1)} µs (goal ≤ 60 µs)${mosquittoCores !== null ? `; Mosquitto ${fmt(perWindowUs(mosquittoCores), 1)} µs` : ''}`,
    );
    out(
      `  Postgres: this database's backends ${fmt(perWindowUs(pgCores.backends), 1)} µs, the shared WAL writer, checkpointer and background writer ${fmt(perWindowUs(pgCores.background), 1)} µs (they also serve any other database on the server)`,
    );
    out(`load average (1 min) at the end of the stretch: ${fmt(load1)} on ${cpus().length} cores`);
    return { label, load: load1, cpUs, pgUs, committed, lagP99, lost };
  } finally {
    await db.end().catch(() => undefined);
    // the first replica last: it removes the database and data directory the others use
    for (const c of cps.reverse()) await c.stop();
  }
}

const runs: RunFigures[] = [];
try {
  for (const rollups of a.rollups)
    for (const replicas of a.replicas)
      for (const build of a.beforeBuild ? [a.beforeBuild, undefined] : [undefined]) runs.push(await measure(rollups, replicas, build));
} finally {
  await mosquitto?.close();
}
const [first, ...rest] = runs;
if (first && rest.length > 0) {
  out();
  out(`same run, against the first (${first.label}):`);
  for (const r of runs)
    out(
      `  ${r.label}: committed ${fmt(r.committed, 0)} msg/s (${fmt(r.committed / Math.max(1, first.committed), 2)}×); CPU per committed window control plane ${fmt(r.cpUs, 1)} µs + Postgres ${fmt(r.pgUs, 1)} µs = ${fmt(r.cpUs + r.pgUs, 1)} µs (${fmt((r.cpUs + r.pgUs) / (first.cpUs + first.pgUs), 2)}×); lag p99 ${fmt(r.lagP99)} ms; lost ${r.lost}; load average ${fmt(r.load)}`,
    );
}
out(`goal (10 min): ≥ 25,000 msg/s committed, p99 lag ≤ 500 ms, 0 lost`);
process.exit(0);
