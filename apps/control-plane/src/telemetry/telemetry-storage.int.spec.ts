import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LatencyHistogram, parsePayload, topics, type EnrollResponse, type TelemetryWindow } from '@edge-fleet/shared';
import type { DeviceTelemetry } from '@edge-fleet/shared/api';
import { mulberry32, type Random } from '@edge-fleet/shared/random';
import pg from 'pg';
import { FleetService } from '../fleet/fleet.service.js';
import { enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { queryRows, startHarness, type Harness } from '../test-support/harness.js';
import { TelemetryRetentionService } from './telemetry-retention.service.js';
import { TelemetryRollupFoldService } from './telemetry-rollup-fold.service.js';
import { TelemetryRepository } from './telemetry.repository.js';

const RETENTION_DAYS = 3;
const DAY = 86_400_000;
let h: Harness;
let db: pg.Client;
beforeAll(async () => {
  // windows up to 10 days before enrollment are believable here, so the retention check is what refuses old ones
  h = await startHarness({ TELEMETRY_RETENTION_DAYS: String(RETENTION_DAYS), TELEMETRY_PRE_ENROLL_SECONDS: String(10 * 86_400) });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
});
afterAll(async () => {
  await db.end();
  await h.close();
});

/** A window of a random shape: histogram or not (an older agent), either source, one of two variants or none. */
function randomWindow(rnd: Random, deviceId: string, bootId: string, seq: number, now: number): Record<string, unknown> {
  const start = now - 10_000 - Math.floor(rnd() * 3 * 3_600_000);
  const inferences = Math.floor(rnd() * 500);
  const hist = new LatencyHistogram();
  for (let i = 0; i < inferences; i++) hist.record(0.05 + rnd() ** 3 * 80);
  const withHistogram = rnd() < 0.8;
  const variant = [null, 'variant-a', 'variant-b'][Math.floor(rnd() * 3)] ?? null;
  const p = (q: number) => (inferences > 0 ? hist.quantile(q) : 0);
  return telemetryWindow(deviceId, bootId, seq, {
    windowStart: new Date(start).toISOString(),
    windowEnd: new Date(start + 1_000 + Math.floor(rnd() * 9_000)).toISOString(),
    modelVersionId: variant ? 'mv-1' : null,
    variantId: variant,
    precision: variant ? 'fp32' : null,
    inferences,
    errors: Math.floor(rnd() * Math.min(5, inferences + 1)),
    latencyMs: inferences > 0 ? { p50: p(0.5), p95: p(0.95), p99: p(0.99), max: p(1) } : null,
    latencyHistogram: withHistogram && inferences > 0 ? hist.toSparse() : null,
    power: { watts: Math.round(rnd() * 2_000) / 100, source: 'estimate', detail: 'seeded' },
    memory: { rssMb: 50 + Math.floor(rnd() * 100), heapUsedMb: 10 },
    source: rnd() < 0.5 ? 'traffic' : 'probe',
  });
}

async function send(d: EnrollResponse, w: Record<string, unknown>) {
  const bytes = Buffer.from(JSON.stringify(w));
  return h.cp.ingest.accept(topics.telemetry(d.deviceId), parsePayload('telemetry', d.deviceId, bytes), bytes);
}

interface RawRow {
  deviceId: string;
  scenario: string;
  hardwareClass: string;
  source: string;
  variantId: string | null;
  windowStart: Date;
  windowEnd: Date;
  inferences: number;
  errors: number;
  powerW: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  latencyHistogram: [number, number][] | null;
}

/** What a set of raw windows gives, computed from the stored windows themselves (not from the rollup code). */
function fromRaw(rows: RawRow[]) {
  const hist = LatencyHistogram.merged(rows.flatMap((r) => (r.latencyHistogram ? [r.latencyHistogram] : [])));
  const approx = rows.filter((r) => !r.latencyHistogram && r.latencyP50Ms !== null);
  const approxN = approx.reduce((s, r) => s + r.inferences, 0);
  return {
    windows: rows.length,
    inferences: rows.reduce((s, r) => s + r.inferences, 0),
    errors: rows.reduce((s, r) => s + r.errors, 0),
    p50:
      hist.count > 0
        ? hist.quantile(0.5)
        : approxN > 0
          ? approx.reduce((s, r) => s + r.inferences * (r.latencyP50Ms ?? 0), 0) / approxN
          : null,
    p99:
      hist.count > 0
        ? hist.quantile(0.99)
        : approxN > 0
          ? approx.reduce((s, r) => s + r.inferences * (r.latencyP99Ms ?? 0), 0) / approxN
          : null,
    powerW: rows.reduce((s, r) => s + r.powerW, 0) / rows.length,
    energyJ: rows.reduce((s, r) => s + (r.powerW * (r.windowEnd.getTime() - r.windowStart.getTime())) / 1_000, 0),
  };
}

function groupBy<T>(rows: T[], key: (r: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) m.set(key(r), [...(m.get(key(r)) ?? []), r]);
  return m;
}

/** A seeded generator, its seed logged (STORAGE_SEED=<seed> replays a failure). */
function seededRandom(what: string): Random {
  const seed = Number(process.env.STORAGE_SEED ?? Date.now() % 100_000);
  console.log(`${what}: STORAGE_SEED=${seed}`);
  return mulberry32(seed);
}

const bucket = (t: Date, s: number) => Math.floor(t.getTime() / (s * 1_000)) * s * 1_000;

describe('telemetry storage: rollups and partitions (real Postgres, real ingest)', () => {
  it('rollups per device and per scenario/variant/hardware class, 1 min and 1 h, equal what the raw windows give once folded, histogram percentiles included, whether kept in the ingest transaction or folded by the worker (mixed); redelivered windows count once (row 18: seeded)', async () => {
    const rnd = seededRandom('telemetry rollup property test');
    const devices = await Promise.all([
      enrollDevice(h, 'financial_trading', 'edge-npu-trading'),
      enrollDevice(h, 'financial_trading', 'edge-gpu-kiosk'),
      enrollDevice(h, 'financial_trading', 'edge-gpu-kiosk'),
      enrollDevice(h, 'autonomous_driving', 'edge-dsa-vehicle'),
    ]);
    const now = Date.now();
    const sent: { d: EnrollResponse; w: Record<string, unknown> }[] = devices.flatMap((d) => {
      const boot = randomUUID();
      return Array.from({ length: 120 }, (_, seq) => ({ d, w: randomWindow(rnd, d.deviceId, boot, seq, now) }));
    });
    // several batches, so rollups stored by one are merged with the next; every tenth window is sent
    // twice; the first third kept in the ingest's transaction (TELEMETRY_ROLLUPS=ingest), the rest
    // left pending and folded by the worker's job as it runs, and at the end by a drain
    const repo = h.cp.app.get(TelemetryRepository);
    for (let i = 0; i < sent.length; i += 97) {
      repo.rollups = i < sent.length / 3 ? 'ingest' : 'fold';
      const chunk = sent.slice(i, i + 97);
      const results = await Promise.all(chunk.flatMap(({ d, w }, j) => (j % 10 === 0 ? [send(d, w), send(d, w)] : [send(d, w)])));
      expect(results.every((r) => r.ok)).toBe(true);
    }
    repo.rollups = h.config.TELEMETRY_ROLLUPS;
    await h.cp.app.get(TelemetryRollupFoldService).drain();
    const raw = (
      await db.query<RawRow>(
        `SELECT w."deviceId", d.scenario, hp."hardwareClass", w.source, w."variantId", w."windowStart", w."windowEnd", w.inferences, w.errors,
                w."powerW", w."latencyP50Ms", w."latencyP99Ms", w."latencyHistogram"
           FROM "TelemetryWindow" w JOIN "Device" d ON d.id = w."deviceId" JOIN "HardwareProfile" hp ON hp.id = d."hardwareProfileId"`,
      )
    ).rows;
    expect(raw).toHaveLength(sent.length);

    const deviceRollups = (await db.query(`SELECT * FROM "TelemetryDeviceRollup"`)).rows as Record<string, unknown>[];
    const groupRollups = (await db.query(`SELECT * FROM "TelemetryGroupRollup"`)).rows as Record<string, unknown>[];
    for (const s of [60, 3_600]) {
      const byDevice = groupBy(raw, (r) => `${r.deviceId}|${bucket(r.windowStart, s)}|${r.source}|${r.variantId ?? ''}`);
      const stored = deviceRollups.filter((r) => r.bucketSeconds === s);
      expect(stored).toHaveLength(byDevice.size);
      for (const r of stored) {
        const want = fromRaw(
          byDevice.get(`${String(r.deviceId)}|${(r.bucketStart as Date).getTime()}|${String(r.source)}|${String(r.variantId)}`) ?? [],
        );
        const hist = r.latencyHistogram ? LatencyHistogram.fromSparse(r.latencyHistogram as [number, number][]) : null;
        expect({ windows: r.windows, inferences: Number(r.inferences), errors: Number(r.errors) }).toEqual({
          windows: want.windows,
          inferences: want.inferences,
          errors: want.errors,
        });
        if (hist && hist.count > 0) expect(hist.quantile(0.99)).toBe(want.p99);
        expect(r.energyJ as number).toBeCloseTo(want.energyJ, 6);
      }
      const byGroup = groupBy(raw, (r) => `${r.scenario}|${r.hardwareClass}|${r.variantId ?? ''}|${r.source}|${bucket(r.windowStart, s)}`);
      const storedGroups = groupRollups.filter((r) => r.bucketSeconds === s);
      expect(storedGroups).toHaveLength(byGroup.size);
      for (const r of storedGroups) {
        const k = `${String(r.scenario)}|${String(r.hardwareClass)}|${String(r.variantId)}|${String(r.source)}|${(r.bucketStart as Date).getTime()}`;
        const want = fromRaw(byGroup.get(k) ?? []);
        const hist = r.latencyHistogram ? LatencyHistogram.fromSparse(r.latencyHistogram as [number, number][]) : null;
        expect([r.windows, Number(r.inferences), Number(r.errors)]).toEqual([want.windows, want.inferences, want.errors]);
        if (hist && hist.count > 0) expect([hist.quantile(0.5), hist.quantile(0.99)]).toEqual([want.p50, want.p99]);
      }
    }

    // the device page's long charts: one point per minute (6 h) or per hour (24 h), per source and variant, its figures those of the windows it merges
    const d0 = devices[0];
    if (!d0) throw new Error('no device');
    for (const [minutes, s] of [
      [360, 60],
      [1_440, 3_600],
    ] as const) {
      const res = await h.api(`/api/v1/devices/${d0.deviceId}/telemetry?sinceMinutes=${minutes}&limit=5000`);
      expect(res.status).toBe(200);
      const chart = (await res.json()) as DeviceTelemetry;
      const perBucket = groupBy(
        raw.filter((r) => r.deviceId === d0.deviceId),
        (r) => `${bucket(r.windowStart, s)}|${r.source}|${r.variantId ?? ''}`,
      );
      expect(chart.points).toHaveLength(perBucket.size);
      for (const p of chart.points) {
        const rows = perBucket.get(`${bucket(new Date(p.windowStart), s)}|${p.source}|${p.variantId ?? ''}`) ?? [];
        const want = fromRaw(rows);
        expect({ inferences: p.inferences, errors: p.errors }).toEqual({ inferences: want.inferences, errors: want.errors });
        // exact from a histogram; inference-weighted window percentiles (float sums) when no window had one
        for (const [got, exp] of [
          [p.p50, want.p50],
          [p.p99, want.p99],
        ] as const) {
          if (exp === null) expect(got).toBeNull();
          else expect(got).toBeCloseTo(exp, 9);
        }
        expect(p.powerW).toBeCloseTo(want.powerW, 9);
      }
    }
    // shorter ranges are still read window by window
    const short = (await (await h.api(`/api/v1/devices/${d0.deviceId}/telemetry?sinceMinutes=60&limit=5000`)).json()) as DeviceTelemetry;
    expect(short.points).toHaveLength(
      raw.filter((r) => r.deviceId === d0.deviceId && r.windowEnd.getTime() >= Date.now() - 3_600_000).length,
    );

    // the scenario overview: the last 24 h of each scenario, every device and variant merged
    const overview = await h.cp.app.get(FleetService).overview();
    const trading = overview.scenarios.find((s) => s.scenario === 'financial_trading');
    const want = fromRaw(raw.filter((r) => r.scenario === 'financial_trading'));
    expect(trading?.last24h).toMatchObject({ windows: want.windows, inferences: want.inferences, errors: want.errors, p99: want.p99 });
    expect(overview.scenarios.find((s) => s.scenario === 'data_analysis_agent')?.last24h).toBeNull();
  }, 120_000);

  it("a window's strings are stored exactly as sent, even with what COPY's text format treats specially (tab, newline, carriage return, backslash, a literal \\N); a batch that repeats a key stores its first", async () => {
    const d = await enrollDevice(h, 'financial_trading', 'edge-npu-trading');
    const boot = randomUUID();
    const detail = 'idle\t1.2 W\nactive\r\\N \\ ende, ünïcode';
    const w = telemetryWindow(d.deviceId, boot, 0, {
      power: { watts: 1.5, source: 'estimate', detail },
      latencyHistogram: [[3, 4]],
      variantId: 'variant\\tab\t',
      modelVersionId: 'mv\\N',
      precision: 'fp32',
    });
    expect((await send(d, w)).ok).toBe(true);
    const repo = h.cp.app.get(TelemetryRepository);
    // as the ingest hands windows to the repository: parsed, defaults filled in
    const first = telemetryWindow(d.deviceId, boot, 1, {
      inferences: 7,
      cacheHits: 0,
      fallbacks: 0,
      source: 'probe',
    }) as unknown as TelemetryWindow;
    const second = { ...first, inferences: 8 };
    expect(await repo.insertBatch([first, second])).toBe(1);
    const rows = (
      await db.query<{
        seq: string;
        powerDetail: string;
        variantId: string;
        modelVersionId: string;
        inferences: number;
        latencyHistogram: unknown;
      }>(
        `SELECT seq::text, "powerDetail", "variantId", "modelVersionId", inferences, "latencyHistogram" FROM "TelemetryWindow" WHERE "deviceId" = $1 ORDER BY seq`,
        [d.deviceId],
      )
    ).rows;
    expect(rows).toEqual([
      { seq: '0', powerDetail: detail, variantId: 'variant\\tab\t', modelVersionId: 'mv\\N', inferences: 10, latencyHistogram: [[3, 4]] },
      { seq: '1', powerDetail: 'test', variantId: null, modelVersionId: null, inferences: 7, latencyHistogram: null },
    ]);
  });

  it('the scenario overview (tRPC fleet.overview, merged in Postgres) gives each scenario what its raw windows of the last 24 h (whole hours) give, every device, class, variant and source together; older windows are left out', async () => {
    const rnd = seededRandom('scenario overview property test');
    const devices = await Promise.all([
      enrollDevice(h, 'customer_support_agent', 'edge-gpu-kiosk'),
      enrollDevice(h, 'customer_support_agent', 'edge-npu-trading'),
      enrollDevice(h, 'content_generation_agent', 'edge-gpu-kiosk'),
    ]);
    const now = Date.now();
    for (const d of devices) {
      const boot = randomUUID();
      const sent = await Promise.all(
        Array.from({ length: 80 }, (_, seq) => {
          const w = randomWindow(rnd, d.deviceId, boot, seq, now);
          // a third start 20 to 30 h ago: around the overview's first hour, some inside, some before
          if (rnd() < 0.33) {
            const start = now - 20 * 3_600_000 - Math.floor(rnd() * 10 * 3_600_000);
            const length = new Date(String(w.windowEnd)).getTime() - new Date(String(w.windowStart)).getTime();
            Object.assign(w, { windowStart: new Date(start).toISOString(), windowEnd: new Date(start + length).toISOString() });
          }
          return send(d, w);
        }),
      );
      expect(sent.every((r) => r.ok)).toBe(true);
    }
    await h.cp.app.get(TelemetryRollupFoldService).drain();
    const since = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 23 * 3_600_000;
    const raw = (
      await db.query<RawRow>(
        `SELECT d.scenario, w."windowStart", w."windowEnd", w.inferences, w.errors, w."powerW", w."latencyP50Ms", w."latencyP99Ms",
                w."latencyHistogram"
           FROM "TelemetryWindow" w JOIN "Device" d ON d.id = w."deviceId" WHERE w."windowStart" >= $1`,
        [new Date(since)],
      )
    ).rows;
    const res = await h.api('/trpc/fleet.overview');
    expect(res.status).toBe(200);
    const overview = ((await res.json()) as { result: { data: Awaited<ReturnType<FleetService['overview']>> } }).result.data;
    const byScenario = groupBy(raw, (r) => r.scenario);
    expect(byScenario.has('customer_support_agent') && byScenario.has('content_generation_agent')).toBe(true);
    for (const s of overview.scenarios) {
      const rows = byScenario.get(s.scenario);
      if (!rows) {
        expect(s.last24h).toBeNull();
        continue;
      }
      const want = fromRaw(rows);
      const got = s.last24h;
      expect({ windows: got?.windows, inferences: got?.inferences, errors: got?.errors }).toEqual({
        windows: want.windows,
        inferences: want.inferences,
        errors: want.errors,
      });
      for (const [g, w] of [
        [got?.p50, want.p50],
        [got?.p99, want.p99],
      ] as const) {
        if (w === null) expect(g).toBeNull();
        else expect(g).toBeCloseTo(w, 9);
      }
      expect(got?.powerW).toBeCloseTo(want.powerW, 9);
      expect(got?.energyWh).toBeCloseTo(want.energyJ / 3_600, 9);
    }
  }, 120_000);

  it("a chart of an unknown device is not_found, raw or from the rollups (each one statement with the device's row); a device without windows or rollups in the range gets no points", async () => {
    for (const minutes of [15, 360, 1_440]) {
      const unknown = await h.api(`/api/v1/devices/${randomUUID()}/telemetry?sinceMinutes=${minutes}`);
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
    const quiet = await enrollDevice(h, 'data_analysis_agent', 'edge-gpu-kiosk');
    for (const minutes of [15, 360, 1_440]) {
      const res = await h.api(`/api/v1/devices/${quiet.deviceId}/telemetry?sinceMinutes=${minutes}`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as DeviceTelemetry).points).toEqual([]);
    }
  });

  it('the retention job creates day partitions ahead and for the days the default partition holds (moving their windows in), drops days past TELEMETRY_RETENTION_DAYS with their 1-minute rollups, and keeps hourly rollups', async () => {
    const retention = h.cp.app.get(TelemetryRetentionService);
    const repo = h.cp.app.get(TelemetryRepository);
    const partitionOf = async (seq: number) =>
      (await db.query<{ p: string }>(`SELECT tableoid::regclass::text AS p FROM "TelemetryWindow" WHERE seq = $1`, [seq])).rows.map(
        (r) => r.p,
      );
    const d = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    const boot = randomUUID();
    const windowAt = (seq: number, at: Date): TelemetryWindow => ({
      ...(telemetryWindow(d.deviceId, boot, seq, {
        windowStart: at.toISOString(),
        windowEnd: new Date(at.getTime() + 5_000).toISOString(),
      }) as unknown as TelemetryWindow),
      cacheHits: 0,
      fallbacks: 0,
      source: 'probe',
    });
    // the job ran when the control plane started (partitions from yesterday to a week ahead): the
    // test's clock is a month ahead, where no partition exists yet
    const now = new Date(Date.now() + 30 * DAY);
    const day = (offset: number) => new Date(now.getTime() + offset * DAY).toISOString().slice(0, 10);
    const pName = (offset: number) => `"TelemetryWindow_p${day(offset).replaceAll('-', '')}"`;
    // a window for a day without a partition is kept (in the default partition), not lost
    expect(await repo.insertBatch([windowAt(1_000_001, now), windowAt(1_000_002, new Date(now.getTime() + 9 * DAY))])).toBe(2);
    // their rollups made now, so that no fold races the retention passes below
    await h.cp.app.get(TelemetryRollupFoldService).drain();
    expect(await partitionOf(1_000_001)).toEqual(['"TelemetryWindow_default"']);

    const first = await retention.run(now);
    // yesterday to a week ahead, and the day of the window nine days ahead that waited in the default partition
    expect(first.created).toEqual([...Array.from({ length: 9 }, (_, i) => day(i - 1)), day(9)]);
    expect(first.moved).toBe(2);
    expect(await partitionOf(1_000_001)).toEqual([pName(0)]);
    expect(await partitionOf(1_000_002)).toEqual([pName(9)]);
    // idempotent: a second pass at the same time changes nothing of its own (the control plane's own
    // scheduled pass, on the real clock, may have made today's days again meanwhile: those it drops)
    const again = await retention.run(now);
    expect(again).toMatchObject({ created: [], moved: 0, deletedDefault: 0 });
    expect(again.dropped.filter((x) => x >= day(-1))).toEqual([]);

    // five days later: the days up to two days ahead are past retention (3 days), their windows and minute rollups go
    const later = new Date(now.getTime() + 5 * DAY);
    const count = async (sql: string) => Number((await db.query<{ n: string }>(sql)).rows[0]?.n);
    const hourRollups = `SELECT count(*) AS n FROM "TelemetryDeviceRollup" WHERE "bucketSeconds" = 3600`;
    const hourRollupsBefore = await count(hourRollups);
    // both windows as if the fold had set them aside: a parked window goes with its day
    await db.query(`INSERT INTO "TelemetryRollupParked" ("windowId", "windowStart", "reason")
      SELECT id, "windowStart", 'test' FROM "TelemetryWindow" WHERE seq IN (1000001, 1000002)`);
    const pass = await retention.run(later);
    expect(pass.dropped).toEqual(expect.arrayContaining([day(-1), day(0), day(1)]));
    expect(pass.dropped).not.toContain(day(2));
    expect(pass.created).toContain(day(12));
    expect(await partitionOf(1_000_002)).toEqual([pName(9)]);
    expect(await partitionOf(1_000_001)).toEqual([]);
    expect(
      await count(
        `SELECT count(*) AS n FROM "TelemetryWindow" WHERE "windowStart" < '${new Date(later.getTime() - RETENTION_DAYS * DAY).toISOString()}'`,
      ),
    ).toBe(0);
    expect(pass.deletedMinuteRollups).toBeGreaterThan(0);
    expect(await count(`SELECT count(*) AS n FROM "TelemetryWindowKey" WHERE seq = 1000001`)).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM "TelemetryWindowKey" WHERE seq = 1000002`)).toBe(1);
    expect(pass.deletedParked).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM "TelemetryRollupParked" WHERE reason = 'test'`)).toBe(1);
    await db.query(`DELETE FROM "TelemetryRollupParked" WHERE reason = 'test'`);
    expect(
      await count(`SELECT count(*) AS n FROM "TelemetryDeviceRollup" WHERE "bucketSeconds" = 60 AND "bucketStart" < '${day(2)}'`),
    ).toBe(0);
    expect(await count(hourRollups)).toBe(hourRollupsBefore);
  }, 60_000);

  it('an api replica starts with the day partitions from yesterday to a week ahead, before any window can arrive: the first windows of a new database go to their day, not the default partition', async () => {
    // api only: no worker, so no retention job to make them
    const api = await startHarness({}, { roles: ['api'] });
    try {
      const days = await queryRows<{ name: string }>(
        api,
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '"TelemetryWindow"'::regclass ORDER BY 1`,
      );
      const today = Date.parse(new Date().toISOString().slice(0, 10));
      const want = Array.from(
        { length: 9 },
        (_, i) => `TelemetryWindow_p${new Date(today + (i - 1) * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`,
      );
      expect(days.map((d) => d.name)).toEqual([...want, 'TelemetryWindow_default'].sort());
      const d = await enrollDevice(api, 'robotic_manipulation', 'robot-npu-arm');
      const w = telemetryWindow(d.deviceId, randomUUID(), 0);
      const bytes = Buffer.from(JSON.stringify(w));
      expect(await api.cp.ingest.accept(topics.telemetry(d.deviceId), parsePayload('telemetry', d.deviceId, bytes), bytes)).toEqual({
        ok: true,
      });
      const stored = await queryRows<{ p: string }>(
        api,
        `SELECT tableoid::regclass::text AS p FROM "TelemetryWindow" WHERE "deviceId" = $1`,
        [d.deviceId],
      );
      expect(stored.map((r) => r.p)).toEqual([`"TelemetryWindow_p${String(w.windowStart).slice(0, 10).replaceAll('-', '')}"`]);
    } finally {
      await api.close();
    }
  }, 60_000);

  it('a window older than TELEMETRY_RETENTION_DAYS is refused with a reason and kept as a dead letter, not stored to be dropped unseen (row 15)', async () => {
    const d = await enrollDevice(h, 'customer_support_agent', 'edge-gpu-kiosk');
    const start = new Date(Date.now() - (RETENTION_DAYS + 1) * DAY);
    const w = telemetryWindow(d.deviceId, randomUUID(), 7, {
      windowStart: start.toISOString(),
      windowEnd: new Date(start.getTime() + 5_000).toISOString(),
    });
    const r = await send(d, w);
    expect(r.ok).toBe(false);
    const dead = await db.query<{ code: string; reason: string }>(`SELECT code, reason FROM "RejectedMessage" WHERE "deviceId" = $1`, [
      d.deviceId,
    ]);
    expect(dead.rows).toEqual([
      { code: 'timestamp', reason: expect.stringContaining('older than the telemetry retention (3 days)') as string },
    ]);
    expect(
      (await db.query<{ n: string }>(`SELECT count(*) AS n FROM "TelemetryWindow" WHERE "deviceId" = $1`, [d.deviceId])).rows[0]?.n,
    ).toBe('0');
  }, 30_000);
});
