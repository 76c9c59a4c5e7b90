import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '@edge-fleet/shared';
import type { DeviceEnergy, EnergyReport, ScenarioEnergy, VariantEnergy } from '@edge-fleet/shared/api';
import { connectDevice, enrollDevice, telemetryWindow } from '../test-support/device-client.js';
import { startHarness, uploadMlp, waitFor, type Harness } from '../test-support/harness.js';

/**
 * Energy and cost (M20) on the real services: enrolled devices publish telemetry windows over the
 * embedded broker, ingest stores them in Postgres, and the report's figures are checked against a
 * hand computation from the windows sent.
 */
const SCENARIO = 'financial_trading';
const BOOT = randomUUID();
let h: Harness;
let db: pg.Client;
let fp32: string;
let int8: string;
let fp16: string;
const clients: MqttClient[] = [];
// every window is explicit: 5 s long, ending `endsAgo` seconds before the test's base time
const base = Date.now() - 60_000;
const win = (seq: number, endsAgo: number, variantId: string, precision: string, watts: number, source: string, inferences: number) => ({
  windowStart: new Date(base - (endsAgo + 5) * 1_000).toISOString(),
  windowEnd: new Date(base - endsAgo * 1_000).toISOString(),
  modelVersionId: null,
  variantId,
  precision,
  inferences,
  power: { watts, source, detail: `test ${source}` },
  seq,
});

async function device(windows: ReturnType<typeof win>[]): Promise<string> {
  const e = await enrollDevice(h, SCENARIO);
  const c = await connectDevice(h, e);
  clients.push(c);
  for (const w of windows) {
    await c.publishAsync(topics.telemetry(e.deviceId), JSON.stringify(telemetryWindow(e.deviceId, BOOT, w.seq, w)), { qos: 1 });
  }
  return e.deviceId;
}
let fp32Device: string;
let int8Device: string;
let simDevice: string;

const report = async (q = ''): Promise<EnergyReport> => {
  const res = await h.api(`/api/v1/energy${q}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as EnergyReport;
};
const scenarioOf = (r: EnergyReport): ScenarioEnergy => {
  const s = r.scenarios.find((x) => x.scenario === SCENARIO);
  if (!s) throw new Error(`no ${SCENARIO} in the report`);
  return s;
};
const variantOf = (s: ScenarioEnergy, id: string): VariantEnergy => {
  const v = s.variants.find((x) => x.variantId === id);
  if (!v) throw new Error(`no variant ${id}`);
  return v;
};

beforeAll(async () => {
  h = await startHarness({ ENERGY_TARIFF_PER_KWH: '0.25', ENERGY_CURRENCY: 'EUR' });
  db = new pg.Client({ connectionString: h.dbUrl });
  await db.connect();
  const up = await uploadMlp(h, 'trader', '1.0.0', 7);
  fp32 = up.variant;
  const put = await h.api(`/api/v1/scenarios/${SCENARIO}/model`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelVersionId: up.id }),
  });
  expect(put.status, await put.clone().text()).toBe(200);
  // the builder is off in tests: the version's INT8 and FP16 variants as the builder would store them
  int8 = randomUUID();
  fp16 = randomUUID();
  await db.query(
    `INSERT INTO "ModelVariant" (id, "modelVersionId", precision, sha256, "sizeBytes", status, method)
     VALUES ($1, $3, 'int8', repeat('a', 64), 1234, 'ready', 'int8-dynamic'), ($2, $3, 'fp16', repeat('b', 64), 2345, 'ready', 'fp16')`,
    [int8, fp16, up.id],
  );
  // FP32, one device, sensor power: 3 contiguous windows of 5 s, 4 W, 6 W, 5 W, 100 inferences each
  fp32Device = await device([
    win(0, 0, fp32, 'fp32', 5, 'sensor', 100),
    win(1, 5, fp32, 'fp32', 6, 'sensor', 100),
    win(2, 10, fp32, 'fp32', 4, 'sensor', 100),
  ]);
  // INT8, two devices: one sensor (2 W over 2 windows, 200 inferences each), one estimate (3 W, 100 inferences)
  await device([win(0, 0, int8, 'int8', 2, 'sensor', 200), win(1, 5, int8, 'int8', 2, 'sensor', 200)]);
  int8Device = await device([win(0, 0, int8, 'int8', 3, 'estimate', 100)]);
  // FP32 in the fleet simulator: 10 W, kept apart; and a window two hours old, outside the default 1 h query below
  simDevice = await device([win(0, 0, fp32, 'fp32', 10, 'simulated', 50), win(1, 7_200, fp32, 'fp32', 1_000, 'sensor', 1)]);
  await waitFor(
    async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "TelemetryWindow"')).rows[0]?.n === 8,
    20_000,
    'all 8 windows stored',
  );
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync();
  await db?.end();
  await h?.close();
});

describe('energy report', () => {
  it('gives per-variant count, mean power, energy, energy per inference, kWh/day and cost/day as computed by hand', async () => {
    const s = scenarioOf(await report(`?scenario=${SCENARIO}&sinceHours=1`));
    const v = variantOf(s, fp32).observed;
    // energy 5×5 + 6×5 + 4×5 = 75 J over 15 device-seconds and a 15 s span; 300 inferences
    expect(v).toMatchObject({ basis: 'measured', windows: 3, sensorWindows: 3, estimateWindows: 0, devices: 1, inferences: 300 });
    expect(v.energyJ).toBeCloseTo(75, 6);
    expect(v.meanPowerW).toBeCloseTo(5, 6);
    expect(v.energyPerInferenceMj).toBeCloseTo(250, 6);
    expect(v.ratePerSecond).toBeCloseTo(20, 6);
    expect(v.kwhPerDay).toBeCloseTo((5 * 86_400) / 3_600_000, 9); // 0.12
    expect(v.costPerDay).toBeCloseTo(0.12 * 0.25, 9);
    expect(v.reason).toBeNull();
    expect(variantOf(s, fp32).storageBytes).toBeGreaterThan(0);
    expect(variantOf(s, int8).storageBytes).toBe(1234);
  });

  it('labels a variant estimated when any window came from the estimate, with the count of each', async () => {
    const s = scenarioOf(await report(`?scenario=${SCENARIO}&sinceHours=1`));
    const v = variantOf(s, int8).observed;
    // 2×5 + 2×5 + 3×5 = 35 J, 500 inferences, windows span 10 s (two devices side by side)
    expect(v).toMatchObject({ basis: 'estimated', windows: 3, sensorWindows: 2, estimateWindows: 1, devices: 2, inferences: 500 });
    expect(v.energyJ).toBeCloseTo(35, 6);
    expect(v.energyPerInferenceMj).toBeCloseTo(70, 6);
    expect(v.ratePerSecond).toBeCloseTo(50, 6);
    expect(v.kwhPerDay).toBeCloseTo((3.5 * 86_400) / 3_600_000, 9);
  });

  it('keeps simulated windows apart from measured ones', async () => {
    const s = scenarioOf(await report(`?scenario=${SCENARIO}&sinceHours=1`));
    const v = variantOf(s, fp32);
    expect(v.observed.windows).toBe(3);
    expect(v.simulated).toMatchObject({ basis: 'simulated', windows: 1, simulatedWindows: 1, inferences: 50 });
    expect(v.simulated.energyJ).toBeCloseTo(50, 6);
  });

  it('counts only the windows of the period', async () => {
    const day = variantOf(scenarioOf(await report(`?scenario=${SCENARIO}&sinceHours=24`)), fp32).observed;
    expect(day.windows).toBe(4); // the two-hour-old window
    expect(day.energyJ).toBeCloseTo(75 + 5_000, 6);
  });

  it('gives a variant without windows null figures and the reason', async () => {
    const v = variantOf(scenarioOf(await report(`?scenario=${SCENARIO}&sinceHours=1`)), fp16);
    expect(v.storageBytes).toBe(2345);
    expect(v.observed).toMatchObject({
      basis: null,
      windows: 0,
      energyJ: null,
      meanPowerW: null,
      energyPerInferenceMj: null,
      kwhPerDay: null,
      costPerDay: null,
    });
    expect(v.observed.reason).toMatch(/no sensor or estimated power windows/);
  });

  it('compares each variant with the FP32 one at the same rate, with both bases, and omits it with a reason without data', async () => {
    const s = scenarioOf(await report(`?scenario=${SCENARIO}&sinceHours=1`));
    expect(s.baselineVariantId).toBe(fp32);
    const c8 = s.comparisons.find((c) => c.variantId === int8 && c.kind === 'observed');
    // at INT8's 50 inferences/s: FP32 0.25 J × 50 = 12.5 W, INT8 0.07 J × 50 = 3.5 W; 9 W × 24 h = 0.216 kWh/day
    expect(c8).toMatchObject({ baselineVariantId: fp32, variantBasis: 'estimated', baselineBasis: 'measured', omitted: null });
    expect(c8?.savedKwhPerDay).toBeCloseTo(0.216, 9);
    expect(c8?.savedCostPerDay).toBeCloseTo(0.054, 9);
    expect(c8?.sentence).toMatch(/^INT8 saves 0\.216 kWh\/day \(0\.054 EUR\/day\) against FP32 at the same rate of 50 inferences\/s/);
    expect(c8?.sentence).toMatch(/INT8 estimated.*FP32 measured/);
    const c16 = s.comparisons.find((c) => c.variantId === fp16 && c.kind === 'observed');
    expect(c16).toMatchObject({ sentence: null, savedKwhPerDay: null });
    expect(c16?.omitted).toMatch(/FP16 has no observed energy per inference/);
  });

  it('answers the same report over tRPC', async () => {
    const input = encodeURIComponent(JSON.stringify({ scenario: SCENARIO, sinceHours: 1 }));
    const res = await fetch(`${h.cp.url}/trpc/energy.report?input=${input}`, {
      headers: { authorization: `Bearer ${h.cp.operatorToken}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { data: EnergyReport } };
    const viaRest = await report(`?scenario=${SCENARIO}&sinceHours=1`);
    expect(scenarioOf(body.result.data).variants).toEqual(scenarioOf(viaRest).variants);
  });

  it.each([
    ['sinceHours=0', /sinceHours must be at least 1/],
    ['sinceHours=abc', /sinceHours/],
    ['sinceHours=1.5', /sinceHours must be whole hours/],
    ['sinceHours=100000', /sinceHours must be at most 720/],
    ['scenario=mars_rover', /scenario/],
    ['colour=red', /colour/],
  ])('refuses %s with a 400 naming the problem', async (q, message) => {
    const res = await h.api(`/api/v1/energy?${q}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toMatch(message);
  });
});

describe('energy per device', () => {
  const deviceReport = async (id: string, q = '') => {
    const res = await h.api(`/api/v1/energy/devices/${id}${q}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as DeviceEnergy;
  };

  it("gives one device's energy per inference and per day per variant and in all, measured from its own windows", async () => {
    const r = await deviceReport(fp32Device, '?sinceHours=1');
    expect(r).toMatchObject({ deviceId: fp32Device, scenario: SCENARIO, sinceHours: 1, tariff: { perKwh: 0.25, currency: 'EUR' } });
    expect(r.variants.map((v) => v.variantId)).toEqual([fp32]);
    const v = r.variants[0]?.observed;
    // its 3 windows: 75 J, 300 inferences over 15 s
    expect(v).toMatchObject({ basis: 'measured', windows: 3, devices: 1, inferences: 300 });
    expect(v?.energyPerInferenceMj).toBeCloseTo(250, 6);
    expect(v?.kwhPerDay).toBeCloseTo((5 * 86_400) / 3_600_000, 9);
    expect(r.total.observed).toEqual(v);
    expect(r.total.simulated.basis).toBeNull();
  });

  it('reports the traffic a hybrid device forwarded to cloud nodes as measured bytes beside its energy; none reported is null, not 0', async () => {
    const remote = (bytesSent: number, bytesReceived: number) => ({
      remote: { inferences: 4, errors: 0, latencyMs: null, bytesSent, bytesReceived },
    });
    const hybrid = await device([
      Object.assign(win(0, 0, fp16, 'fp16', 2, 'sensor', 50), remote(1_000, 200)),
      Object.assign(win(1, 5, fp16, 'fp16', 2, 'sensor', 50), remote(3_000, 600)),
    ]);
    await waitFor(
      async () =>
        (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM "TelemetryWindow" WHERE "deviceId" = $1', [hybrid])).rows[0]?.n ===
          2 || undefined,
      20_000,
      'the hybrid device windows stored',
    );
    const r = await deviceReport(hybrid, '?sinceHours=1');
    expect(r.total.observed).toMatchObject({ trafficBytesSent: 4_000, trafficBytesReceived: 800 });
    const v = variantOf(scenarioOf(await report('?sinceHours=1')), fp16);
    expect(v.observed).toMatchObject({ trafficBytesSent: 4_000, trafficBytesReceived: 800 });
    expect((await deviceReport(fp32Device, '?sinceHours=1')).total.observed.trafficBytesSent).toBeNull();
  });

  it("labels the device's figures estimated when its power came from the profile's estimate", async () => {
    const r = await deviceReport(int8Device, '?sinceHours=1');
    expect(r.variants[0]).toMatchObject({ variantId: int8, precision: 'int8', storageBytes: 1234 });
    expect(r.total.observed).toMatchObject({ basis: 'estimated', estimateWindows: 1, inferences: 100 });
    expect(r.total.observed.energyPerInferenceMj).toBeCloseTo(150, 6); // 3 W × 5 s / 100
  });

  it('keeps simulated windows apart, and counts only the period', async () => {
    const hour = await deviceReport(simDevice, '?sinceHours=1');
    expect(hour.total.observed).toMatchObject({ basis: null, windows: 0 });
    expect(hour.total.observed.reason).toMatch(/no sensor or estimated power windows/);
    expect(hour.total.simulated).toMatchObject({ basis: 'simulated', windows: 1, inferences: 50 });
    const day = await deviceReport(simDevice);
    expect(day.sinceHours).toBe(24);
    expect(day.total.observed).toMatchObject({ basis: 'measured', windows: 1, inferences: 1 });
  });

  it('answers the same over tRPC', async () => {
    const input = encodeURIComponent(JSON.stringify({ id: fp32Device, sinceHours: 1 }));
    const res = await fetch(`${h.cp.url}/trpc/energy.device?input=${input}`, {
      headers: { authorization: `Bearer ${h.cp.operatorToken}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { data: DeviceEnergy } };
    expect(body.result.data.variants).toEqual((await deviceReport(fp32Device, '?sinceHours=1')).variants);
  });

  it.each([
    ['not-a-uuid', '', 400, /id/],
    [randomUUID(), '?sinceHours=0', 400, /sinceHours must be at least 1/],
    [randomUUID(), '?scenario=financial_trading', 400, /scenario/],
    [randomUUID(), '', 404, /not found/],
  ])('refuses device %s%s with %i naming the problem', async (id, q, status, message) => {
    const res = await h.api(`/api/v1/energy/devices/${id}${q}`);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
  });
});
