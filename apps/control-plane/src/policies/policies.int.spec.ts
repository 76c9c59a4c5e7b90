import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardwarePreset } from '@edge-fleet/shared';
import pg from 'pg';
import { setScenarioModel, startHarness, uploadMlp, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

interface Policy {
  scenario: string;
  latencyTargetMs: number;
  precisionOrder: string[];
  accuracyFloor: number;
  powerBudgetW: number | null;
  resultCache: { entries: number; ttlMs: number };
  model?: unknown;
}
const list = async () => ((await (await h.api('/api/v1/policies')).json()) as { items: Policy[] }).items;
const yaml = (body: string) => h.api('/api/v1/policies/import', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body });
const errorOf = async (r: Response) => ((await r.json()) as { error: { message: string } }).error.message;

describe('risk-tier policies', () => {
  it('exports the default set as YAML in the deployment-strategy shape, and re-imports it unchanged', async () => {
    const before = await list();
    const res = await h.api('/api/v1/policies/export.yaml');
    expect(res.headers.get('content-type')).toMatch(/yaml/);
    const text = await res.text();
    expect(text).toMatch(/^deployment_strategy:\n {2}high_risk:\n/);
    expect(text).toMatch(/\n {4}financial_trading:\n {6}latency_target: p99 < 10ms\n {6}location: edge\n/);
    expect(text).toMatch(/\n {2}low_risk:\n {4}content_generation_agent:/);
    expect((await yaml(text)).status).toBe(201);
    expect(await list()).toEqual(before);
  });

  it('edits one scenario over REST, with an audit event', async () => {
    const res = await h.api('/api/v1/policies/robotic_manipulation', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        tier: 'medium',
        latencyTargetMs: 15,
        latencyPercentile: 'p99',
        location: 'hybrid',
        precisionOrder: ['int8', 'int4'],
        memoryPlacement: 'L2+L3+DRAM',
        errorRateMax: 0.01,
        powerBudgetW: 4,
        accuracyFloor: 0.97,
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      scenario: 'robotic_manipulation',
      latencyTargetMs: 15,
      precisionOrder: ['int8', 'int4'],
      powerBudgetW: 4,
    });
    const c = new pg.Client({ connectionString: h.dbUrl });
    await c.connect();
    const audit = await c.query(`SELECT details FROM "AuditEvent" WHERE action = 'policy.update' AND "targetId" = 'robotic_manipulation'`);
    await c.end();
    expect(audit.rows.at(-1)).toMatchObject({ details: { before: { latencyTargetMs: 20 }, after: { latencyTargetMs: 15 } } });
  });

  it('refuses bad policies with a message naming the place, and changes nothing', async () => {
    const before = await list();
    const bad = await h.api('/api/v1/policies/financial_trading', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...before[0], scenario: undefined, precisionOrder: ['fp16', 'fp16'] }),
    });
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toMatch(/precisionOrder: precisions must not repeat/);
    const mixed = `deployment_strategy:
  high_risk:
    financial_trading: { latency_target: "p99 < 8ms", location: edge, precision: fp16, memory_placement: SRAM, error_rate_max: 0.0001, accuracy_floor: 0.999 }
  medium_risk:
    robotic_manipulation: { latency_target: "fast please", location: hybrid, precision: int8, memory_placement: DRAM, error_rate_max: 0.01, accuracy_floor: 0.99 }
`;
    const r = await yaml(mixed);
    expect(r.status).toBe(400);
    expect(await errorOf(r)).toMatch(/robotic_manipulation\.latency_target: must look like "p99 < 10ms"/);
    expect((await yaml('deployment_strategy:\n  extreme_risk: {}\n')).status).toBe(400);
    expect(await errorOf(await yaml(': : :'))).toMatch(/invalid policy YAML/);
    expect(await list()).toEqual(before); // the valid financial_trading entry of the refused document was not applied
  });
});

describe('issue 18: the result cache per scenario in the policy', () => {
  const cacheOf = async (scenario: string) => (await list()).find((p) => p.scenario === scenario)?.resultCache;
  const put = (scenario: string, body: unknown) =>
    h.api(`/api/v1/policies/${scenario}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  /** A scenario's policy as an update body: everything but its name and model. */
  const settingsOf = async (scenario: string) => {
    const p = (await list()).find((x) => x.scenario === scenario);
    if (p === undefined) throw new Error(`no policy ${scenario}`);
    const { scenario: _s, model: _m, ...settings } = p;
    return settings;
  };

  it('is off by default, set over REST, kept by an update that does not name it, and exported and imported as YAML', async () => {
    expect(await cacheOf('data_analysis_agent')).toEqual({ entries: 0, ttlMs: 60_000 });
    const res = await put('data_analysis_agent', {
      ...(await settingsOf('data_analysis_agent')),
      resultCache: { entries: 128, ttlMs: 30_000 },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ resultCache: { entries: 128, ttlMs: 30_000 } });
    const { resultCache: _c, ...withoutCache } = await settingsOf('data_analysis_agent');
    expect((await put('data_analysis_agent', withoutCache)).status).toBe(200);
    expect(await cacheOf('data_analysis_agent')).toEqual({ entries: 128, ttlMs: 30_000 });
    const text = await (await h.api('/api/v1/policies/export.yaml')).text();
    expect(text).toMatch(/\n {4}data_analysis_agent:\n(?: {6}.*\n)*? {6}result_cache:\n {8}entries: 128\n {8}ttl_ms: 30000\n/);
    const edited = text.replace(/entries: 128\n {8}ttl_ms: 30000/, 'entries: 64\n        ttl_ms: 5000');
    expect((await yaml(edited)).status).toBe(201);
    expect(await cacheOf('data_analysis_agent')).toEqual({ entries: 64, ttlMs: 5_000 });
  });

  it('refuses a bad cache setting naming the field, and changes nothing', async () => {
    const before = await list();
    const bad = await put('data_analysis_agent', {
      ...(await settingsOf('data_analysis_agent')),
      resultCache: { entries: -1, ttlMs: 5_000 },
    });
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toMatch(/resultCache\.entries/);
    const text = (await (await h.api('/api/v1/policies/export.yaml')).text()).replace(/ttl_ms: 5000/, 'ttl_ms: 10');
    const r = await yaml(text);
    expect(r.status).toBe(400);
    expect(await errorOf(r)).toMatch(/data_analysis_agent: resultCache\.ttlMs/);
    expect(await list()).toEqual(before);
  });

  it('travels in the desired state of the scenario’s devices; a scenario whose cache is off sends none', async () => {
    const on = { ...(await settingsOf('data_analysis_agent')), resultCache: { entries: 64, ttlMs: 5_000 } };
    expect((await put('data_analysis_agent', on)).status).toBe(200);
    const db = new pg.Client({ connectionString: h.dbUrl });
    await db.connect();
    const spec = hardwarePreset('cloud-cpu-node');
    await db.query(`INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec) VALUES ('cache-hw', $1, $2, $3)`, [
      spec.hardwareClass,
      spec.accelerator,
      spec,
    ]);
    const cached = randomUUID();
    const uncached = randomUUID();
    await db.query(
      `INSERT INTO "Device" (id, name, scenario, "hardwareProfileId", "secretHash")
       VALUES ($1, 'cached', 'data_analysis_agent', 'cache-hw', 'x'), ($2, 'uncached', 'content_generation_agent', 'cache-hw', 'x')`,
      [cached, uncached],
    );
    const v = await uploadMlp(h, 'cache-policy', '1', 8);
    for (const scenario of ['data_analysis_agent', 'content_generation_agent']) await setScenarioModel(h, scenario, v.id);
    const runtimeOf = async (id: string) =>
      (await db.query<{ desired: { runtime: Record<string, unknown> } }>('SELECT desired FROM "Assignment" WHERE "deviceId" = $1', [id]))
        .rows[0]?.desired.runtime;
    expect(await runtimeOf(cached)).toMatchObject({ resultCache: { entries: 64, ttlMs: 5_000 } });
    expect(await runtimeOf(uncached)).not.toHaveProperty('resultCache');
    await db.end();
  });
});
