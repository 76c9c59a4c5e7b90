import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { Mosquitto } from '@edge-fleet/test-utils';
import pg from 'pg';
import { z } from 'zod';
import { fmt, sleep } from '../core/stats.js';
import { FaultSharesSchema } from '../sim/faults.js';
import { autoSourceAddresses, Fleet } from '../sim/fleet.js';
import { startControlPlaneProcess } from './support/control-plane.process.js';
import { RawFleet } from './support/raw-fleet.js';
import { assignScenario, uploadMlp } from './support/operator-api.js';
import { benchArgs, CommSampler, machineLine, out, ProcSampler } from './support/report.js';
import { seedDevices } from './support/seed.js';

const Args = z.object({
  devices: z.coerce.number().int().min(1).max(50_000).default(1_000),
  timeoutSeconds: z.coerce.number().min(5).max(3_600).default(120),
  /**
   * mosquitto: a private Mosquitto started here with a password file (the seeded devices, each
   * restricted to its own topics, and the control plane's account), never an anonymous broker.
   */
  broker: z.enum(['embedded', 'mosquitto']).default('embedded'),
  /** After each run, wait at most this long for its last acknowledgements (not measured) before the next. */
  settleSeconds: z.coerce.number().min(0).max(3_600).default(180),
  /** Another build's control plane (e.g. a copy of apps/control-plane/dist made before a change), to compare runs of both. */
  main: z.string().optional(),
  /** The assignment paths measured, in this order, one after the other on the same connected fleet. */
  paths: z
    .string()
    .default('whole,chunks')
    .transform((v) => v.split(','))
    .pipe(z.array(z.enum(['whole', 'chunks'])).min(1)),
  /**
   * The devices: raw (raw sockets, packets written by hand: support/raw-fleet.ts) or clients (the
   * simulator's virtual devices, an MQTT client library each, ~380 µs of CPU a device per fan-out).
   */
  sim: z.enum(['raw', 'clients']).default('raw'),
});
const a = benchArgs(
  Args,
  'usage: bench:fanout [--devices 1000] [--timeout-seconds 120] [--broker embedded|mosquitto] [--sim raw|clients] [--paths whole,chunks] [--settle-seconds 180] [--main apps/control-plane/dist-before/main.js]',
);
type Path = z.infer<typeof Args>['paths'][number];
const LABEL: Record<Path, string> = {
  whole: 'whole (one transaction; its states signed for publishing while it commits, then published from memory)',
  chunks: 'chunks (a transaction per chunk, published from the states just written, signed on threads)',
};

/** What one assignment measured, in ms from the PUT (NaN: not reached). */
interface Run {
  path: Path;
  devices: number;
  /** Devices assigned and connected: the base of every share. */
  reachable: number;
  putMs: number;
  notified: { p50: number; p99: number; all: number; n: number };
  acks: { p50: number; p99: number; all: number; n: number };
  cores: { controlPlane: number; postgres: number; simulator: number; broker: number };
  /** Seconds the CPU figures cover (the PUT to the last ack). */
  sampledSeconds: number;
  peakRssMb: number;
  /** Transactions committed in the control plane's database from the PUT to the last ack. */
  transactions: number;
}

out(machineLine());
out(
  `load average at start: ${loadavg()
    .map((x) => fmt(x, 2))
    .join(' ')}`,
);
// the devices are seeded once the control plane has migrated its database: the broker starts with its account alone
const cpAccount = { username: 'edge-fleet-control-plane', password: randomBytes(18).toString('base64url') };
const broker = a.broker === 'mosquitto' ? await Mosquitto.withPasswordFile([], cpAccount) : null;
await broker?.start();
const cp = await startControlPlaneProcess({
  mqttUrl: broker?.url,
  dbPrefix: 'ef_bench_fanout',
  ...(a.main ? { main: resolve(a.main) } : {}),
  // info: the assignment's own lines say where its time went (read, decide, write; then publishing)
  env: { LOG_LEVEL: 'info', ...(broker ? { MQTT_USERNAME: cpAccount.username, MQTT_PASSWORD: cpAccount.password } : {}) },
  keepLines: /"msg":"scenario (assigned|published)"/,
});
const db = new pg.Client({ connectionString: cp.dbUrl });
try {
  await db.connect();
  const creds = await seedDevices(cp.dbUrl, a.devices, 'autonomous_driving', 'edge-dsa-vehicle');
  await broker?.setPasswordFile(
    creds.map((c) => ({ username: c.deviceId, password: c.deviceSecret })),
    cpAccount,
  );
  // each run gives the fleet a model it does not run yet, so every run moves every device
  const models = [];
  for (const [i, path] of a.paths.entries()) models.push(await uploadMlp(cp.url, cp.operatorToken, `fanout-${path}-${i}`, 7 + i));
  const notified = new Map<string, number>();
  let target = Number.POSITIVE_INFINITY;
  const onDesired = (id: string, version: number, at: number): void => {
    if (version >= target && !notified.has(id)) notified.set(id, at);
  };
  const { hostname: host, port } = new URL(cp.mqttUrl);
  const fleet =
    a.sim === 'raw'
      ? new RawFleet({
          host,
          port: Number(port),
          devices: creds,
          sourceAddresses: autoSourceAddresses(creds.length),
          connectConcurrency: 64,
          onDesired,
        })
      : new Fleet({
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
          onDesired,
        });
  const tc = Date.now();
  const connected = await fleet.start();
  out(
    `fan-out: ${connected}/${a.devices} devices connected in ${fmt((Date.now() - tc) / 1000)} s (${a.sim === 'raw' ? 'raw sockets, packets by hand' : 'virtual devices, an MQTT client each'}); broker ${broker ? `private Mosquitto ${broker.url} (password file, per-device ACLs)` : 'embedded aedes'}`,
  );
  // let the online → republish traffic settle
  for (let i = 0; i < 60; i++) {
    const n = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM "Device" WHERE status = 'online'`)).rows[0]?.n ?? 0);
    if (n >= connected) break;
    await sleep(500);
  }

  /** One assignment of the scenario to `modelId` over `path`, measured until every device acknowledged it. */
  async function measure(path: Path, modelId: string, version: number): Promise<Run> {
    await sleep(2_000);
    notified.clear();
    target = version;
    out(
      `[${path}] load average before: ${loadavg()
        .map((x) => fmt(x, 2))
        .join(' ')}`,
    );
    const pgCounts = async (): Promise<{ commits: number }> => {
      const r = await db.query<{ commits: string }>(
        `SELECT xact_commit::text AS commits FROM pg_stat_database WHERE datname = current_database()`,
      );
      return { commits: Number(r.rows[0]?.commits ?? 0) };
    };
    const pg0 = await pgCounts();
    const cpu = new ProcSampler(cp.pid);
    const pgCpu = new CommSampler(['postgres', 'mosquitto']);
    const simCpu0 = process.cpuUsage();
    const t0 = Date.now();
    const assigned = await assignScenario(cp.url, cp.operatorToken, 'autonomous_driving', modelId, path);
    const putMs = Date.now() - t0;
    // a device that never connected cannot hear of it: shares are of the connected ones
    const reachable = Math.min(assigned, connected);
    const deadline = t0 + a.timeoutSeconds * 1000;
    const acked = `FROM "ReportedState" WHERE "appliedAssignmentVersion" >= $1 AND "activeVariantId" IS NOT NULL`;
    while (Date.now() < deadline) {
      const acks = Number((await db.query<{ n: string }>(`SELECT count(*) AS n ${acked}`, [version])).rows[0]?.n ?? 0);
      if (acks >= reachable && notified.size >= reachable) break;
      await sleep(250);
    }
    const stats = cpu.finish();
    const sampledSeconds = (Date.now() - t0) / 1000;
    // Postgres flushes these counters about once a second: read them after it has
    await sleep(1_500);
    const pg1 = await pgCounts();
    const pgStats = await pgCpu.finish();
    const simCpu = process.cpuUsage(simCpu0);
    const times = [...notified.values()].map((t) => t - t0).sort((x, y) => x - y);
    const ackRows = await db.query<{ ms: number }>(
      `SELECT extract(epoch FROM "receivedAt") * 1000 - $2::float8 AS ms ${acked} ORDER BY 1`,
      [version, t0],
    );
    const ackMs = ackRows.rows.map((r) => Number(r.ms));
    // the next run must not inherit this one's backlog (updates still applying, reports still arriving)
    const settleFrom = Date.now();
    let settled = false;
    while (Date.now() - settleFrom < a.settleSeconds * 1000) {
      const acks = Number((await db.query<{ n: string }>(`SELECT count(*) AS n ${acked}`, [version])).rows[0]?.n ?? 0);
      if ((settled = acks >= reachable)) break;
      await sleep(1_000);
    }
    out(
      `[${path}] settled before the next run: ${settled ? `yes, ${fmt((Date.now() - settleFrom) / 1000)} s after the measurement ended` : `no, after ${a.settleSeconds} s`}`,
    );
    const at = (xs: number[], share: number): number =>
      xs.length >= Math.ceil(share * reachable) ? (xs[Math.ceil(share * reachable) - 1] ?? Number.NaN) : Number.NaN;
    return {
      path,
      devices: assigned,
      reachable,
      putMs,
      notified: { p50: at(times, 0.5), p99: at(times, 0.99), all: at(times, 1), n: notified.size },
      acks: { p50: at(ackMs, 0.5), p99: at(ackMs, 0.99), all: at(ackMs, 1), n: ackMs.length },
      cores: {
        controlPlane: stats.cores,
        postgres: pgStats.postgres ?? 0,
        simulator: (simCpu.user + simCpu.system) / 1e6 / ((Date.now() - t0) / 1000),
        broker: pgStats.mosquitto ?? 0,
      },
      sampledSeconds,
      peakRssMb: stats.peakRssMb,
      // the bench's own few count queries are among them
      transactions: pg1.commits - pg0.commits,
    };
  }

  const s = (ms: number): string => (Number.isFinite(ms) ? `${fmt(ms / 1000, 2)} s` : 'not reached');
  const runs: Run[] = [];
  for (const [i, path] of a.paths.entries()) {
    const model = models[i];
    if (!model) break;
    const r = await measure(path, model.id, i + 1);
    runs.push(r);
    out(`[${path}] ${LABEL[path]}`);
    out(`[${path}] PUT /api/v1/scenarios/autonomous_driving/model answered in ${fmt(r.putMs, 0)} ms for ${r.devices} devices`);
    const logged = cp.keptLines().map((l) => JSON.parse(l) as { msg?: string; ms?: unknown; envelopesSignedMs?: unknown });
    const stages = logged.filter((l) => l.msg === 'scenario assigned')[i]?.ms as Record<string, number> | undefined;
    if (stages) out(`[${path}] of which, by the control plane's log (ms): ${JSON.stringify(stages)}`);
    // whole only: its states are published from memory after the write stage, while the PUT is answered
    const wholeRuns = runs.filter((x) => x.path === 'whole').length;
    const publishedLine = logged.filter((l) => l.msg === 'scenario published')[wholeRuns - 1];
    const published = publishedLine?.ms;
    if (path === 'whole' && stages && typeof published === 'number') {
      const from = (stages.read ?? 0) + (stages.decide ?? 0) + (stages.write ?? 0);
      out(`[${path}] every state handed to the broker ${s(from + published)} after the PUT began (control plane's log)`);
      if (typeof publishedLine?.envelopesSignedMs === 'number')
        out(
          `[${path}] envelopes signed on the signing threads in ${fmt(publishedLine.envelopesSignedMs, 0)} ms, from when the states were built`,
        );
    }
    out(
      `[${path}] desired state received: 50 % ${s(r.notified.p50)}, 99 % ${s(r.notified.p99)}, all ${s(r.notified.all)} (${r.notified.n}/${r.reachable} connected); goal all ≤ 3 s at 10,000`,
    );
    out(
      `[${path}] acknowledgements stored (reported state with the new model): 50 % ${s(r.acks.p50)}, 99 % ${s(r.acks.p99)}, 100 % ${s(r.acks.all)} (${r.acks.n}/${r.reachable} connected); goal 99 % ≤ 10 s at 10,000`,
    );
    // the simulator's own receive times are the notify figures: on a shared box its CPU bounds them too
    out(
      `[${path}] during fan-out: control plane ${fmt(r.cores.controlPlane, 2)} cores, peak RSS ${fmt(r.peakRssMb, 0)} MB; simulator ${fmt(r.cores.simulator, 2)} cores; postgres ${fmt(r.cores.postgres, 2)} cores; ` +
        `${r.transactions} Postgres transactions (${fmt(r.transactions / Math.max(1, r.reachable), 2)} per device)`,
    );
    // the CPU the fan-out cost, as core-seconds: the least wall time this machine's cores need for it
    const work = (c: number): number => c * r.sampledSeconds;
    const server = work(r.cores.controlPlane) + work(r.cores.postgres) + work(r.cores.broker);
    const all = server + work(r.cores.simulator);
    out(
      `[${path}] work, in core-seconds (the PUT to the last ack): control plane ${fmt(work(r.cores.controlPlane), 1)}, postgres ${fmt(work(r.cores.postgres), 1)}` +
        `${a.broker === 'mosquitto' ? `, mosquitto ${fmt(work(r.cores.broker), 1)}` : ''}, simulator ${fmt(work(r.cores.simulator), 1)}; ` +
        `on ${cpus().length} cores that is at least ${fmt(all / cpus().length, 1)} s with the simulator, ${fmt(server / cpus().length, 1)} s for the server side alone`,
    );
  }
  const base = runs.find((r) => r.path === 'whole');
  const next = runs.find((r) => r.path === 'chunks');
  if (base && next) {
    const ratio = (x: number, y: number): string => (Number.isFinite(x) && Number.isFinite(y) && x > 0 ? `×${fmt(y / x, 2)}` : 'n/a');
    out(
      `chunks / whole, same run and fleet: PUT answered ${ratio(base.putMs, next.putMs)}, all notified ${ratio(base.notified.all, next.notified.all)}, ` +
        `99 % notified ${ratio(base.notified.p99, next.notified.p99)}, acks 50 % ${ratio(base.acks.p50, next.acks.p50)}, 99 % ${ratio(base.acks.p99, next.acks.p99)}, ` +
        `100 % ${ratio(base.acks.all, next.acks.all)}`,
    );
  }
  if (fleet instanceof RawFleet) {
    const c = fleet.counters;
    // the raw devices send no telemetry; the virtual devices send a window a minute each (~170/s at 10,000)
    out(
      `raw devices: ${c.connected} connected, ${c.refused} refused, ${c.closed} connections lost, ${c.unreadable} desired states unreadable, ${c.reported} reports sent`,
    );
  }
  out(
    `load average at end: ${loadavg()
      .map((x) => fmt(x, 2))
      .join(' ')}`,
  );
  await fleet.stop();
} catch (e) {
  // the control plane's own last words say more than the bench's
  process.stderr.write(`fan-out failed: ${e instanceof Error ? e.message : String(e)}\ncontrol plane log tail:\n${cp.logTail()}\n`);
  process.exitCode = 1;
} finally {
  await db.end().catch(() => undefined);
  await cp.stop();
  await broker?.close();
}
process.exit(process.exitCode ?? 0);
