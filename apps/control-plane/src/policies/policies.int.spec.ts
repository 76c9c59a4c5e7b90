import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { insertHardwareProfile, setScenarioModel, startHarness, uploadMlp, type Harness } from '../test-support/harness.js';

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

interface RuleRow {
  id: string;
  name: string;
  metric: string;
  scenario: string | null;
  threshold: number | null;
  forSeconds: number;
  enabled: boolean;
}
interface RemediationRow {
  scenario: string;
  mode: string;
  maxDevicesPerHour: number;
  holdOffSeconds: number;
}
interface Doc {
  deployment_strategy: Record<string, Record<string, Record<string, unknown> & { alerts: Record<string, unknown>[] }>>;
  alerts: Record<string, unknown>[];
}
const rules = async () => ((await (await h.api('/api/v1/alert-rules')).json()) as { items: RuleRow[] }).items;
const remediation = async () => ((await (await h.api('/api/v1/remediation/settings')).json()) as { items: RemediationRow[] }).items;
const exported = async (): Promise<Doc> => parseYaml(await (await h.api('/api/v1/policies/export.yaml')).text()) as Doc;
const robot = (d: Doc) => {
  const s = d.deployment_strategy.medium_risk?.robotic_manipulation;
  if (!s) throw new Error('no robotic_manipulation in the export');
  return s;
};

describe('alert rules and remediation in the policy YAML', () => {
  it('round trip: the export carries every rule and every remediation setting, and re-importing it changes nothing', async () => {
    const doc = await exported();
    expect(doc.alerts.map((r) => r.name)).toContain('latency_over_target');
    expect(doc.alerts.find((r) => r.name === 'telemetry_silent')).toMatchObject({ metric: 'telemetry_silent_s', threshold: 300 });
    expect(robot(doc)).toMatchObject({ alerts: [], remediation: { mode: 'off', max_devices_per_hour: 10, hold_off_seconds: 900 } });
    const [beforeRules, beforeRem] = [await rules(), await remediation()];
    const res = await yaml(stringifyYaml(doc));
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await res.json()).toMatchObject({ alertRules: { created: [], updated: [], deleted: [] }, remediation: [] });
    expect(await rules()).toEqual(beforeRules);
    expect(await remediation()).toEqual(beforeRem);
  });

  it("applies a scenario's rules and remediation with the policies (audited), exports them back, and deletes a rule left out", async () => {
    const doc = await exported();
    robot(doc).alerts = [
      { name: 'robot_memory_headroom', metric: 'memory_headroom_mb', threshold: 256, for_seconds: 120, severity: 'critical' },
    ];
    robot(doc).remediation = { mode: 'suggest', max_devices_per_hour: 3 };
    const offline = doc.alerts.find((r) => r.name === 'device_offline');
    if (offline) offline.for_seconds = 300;
    const res = await yaml(stringifyYaml(doc));
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await res.json()).toMatchObject({
      alertRules: { created: ['robot_memory_headroom'], updated: ['device_offline'], deleted: [] },
      remediation: ['robotic_manipulation'],
    });
    expect((await rules()).find((r) => r.name === 'robot_memory_headroom')).toMatchObject({
      metric: 'memory_headroom_mb',
      scenario: 'robotic_manipulation',
      threshold: 256,
      forSeconds: 120,
      enabled: true,
    });
    expect((await rules()).find((r) => r.name === 'device_offline')).toMatchObject({ forSeconds: 300, scenario: null });
    // the keys the document left out keep their value
    expect((await remediation()).find((r) => r.scenario === 'robotic_manipulation')).toMatchObject({
      mode: 'suggest',
      maxDevicesPerHour: 3,
      holdOffSeconds: 900,
    });
    const again = robot(await exported());
    expect(again.alerts).toEqual([
      {
        name: 'robot_memory_headroom',
        metric: 'memory_headroom_mb',
        threshold: 256,
        for_seconds: 120,
        lookback_seconds: 60,
        hysteresis: 0.1,
        severity: 'critical',
        enabled: true,
      },
    ]);
    expect(again.remediation).toMatchObject({ mode: 'suggest', max_devices_per_hour: 3 });
    const c = new pg.Client({ connectionString: h.dbUrl });
    await c.connect();
    const audit = await c.query<{ action: string; targetId: string }>(
      `SELECT action, "targetId" FROM "AuditEvent" WHERE action IN ('alert_rule.create', 'alert_rule.update', 'remediation.settings') ORDER BY id`,
    );
    expect(audit.rows.map((r) => r.action)).toEqual(['alert_rule.create', 'alert_rule.update', 'remediation.settings']);
    // a declared list is the whole list: the rule left out of it is deleted
    const without = await exported();
    robot(without).alerts = [];
    const del = await yaml(stringifyYaml(without));
    expect(await del.json()).toMatchObject({ alertRules: { created: [], updated: [], deleted: ['robot_memory_headroom'] } });
    expect((await rules()).some((r) => r.name === 'robot_memory_headroom')).toBe(false);
    const deleted = await c.query(`SELECT 1 FROM "AuditEvent" WHERE action = 'alert_rule.delete'`);
    await c.end();
    expect(deleted.rowCount).toBe(1);
  });

  it('a bad rule or remediation setting refuses the whole document with a 400 naming its path, and nothing is stored', async () => {
    const [policiesBefore, rulesBefore, remBefore] = [await list(), await rules(), await remediation()];
    const good = { name: 'robot_latency', metric: 'latency_ms', threshold: 15 };
    const cases: [(d: Doc) => void, RegExp][] = [
      [
        (d) => (robot(d).alerts = [good, { name: 'robot_temp', metric: 'temperature', threshold: 80 }]),
        /deployment_strategy\.medium_risk\.robotic_manipulation\.alerts\.1\.metric: unknown metric "temperature"/,
      ],
      [(d) => (robot(d).alerts = [{ ...good, for_seconds: 100_000 }]), /robotic_manipulation\.alerts\.0\.for_seconds: .*at most 86400 s/],
      [
        (d) => (robot(d).alerts = [{ ...good, threshold: -3 }]),
        /robotic_manipulation\.alerts\.0\.threshold: a latency_ms threshold must be above 0/,
      ],
      [(d) => (robot(d).alerts = [{ ...good, colour: 'red' }]), /robotic_manipulation\.alerts\.0: Unrecognized key: "colour"/],
      [(d) => (robot(d).remediation = { mode: 'sometimes' }), /robotic_manipulation\.remediation\.mode:/],
      [(d) => (robot(d).remediation = { rate_factor: 2 }), /robotic_manipulation\.remediation\.rate_factor: rateFactor must be below 1/],
      [
        (d) => d.alerts.push({ name: 'power', metric: 'memory_headroom_mb', threshold: 0 }),
        /alerts\.\d+\.threshold: a memory headroom floor/,
      ],
      [(d) => (robot(d).alerts = [{ ...good, name: 'device_offline' }]), /alert rule device_offline appears more than once/],
    ];
    for (const [change, message] of cases) {
      const doc = await exported();
      // a valid change beside the bad one: it must not be applied either
      const trading = doc.deployment_strategy.high_risk?.financial_trading;
      if (trading) trading.latency_target = 'p99 < 7ms';
      change(doc);
      const r = await yaml(stringifyYaml(doc));
      expect(r.status, message.source).toBe(400);
      expect(await errorOf(r)).toMatch(message);
    }
    expect(await list()).toEqual(policiesBefore);
    expect(await rules()).toEqual(rulesBefore);
    expect(await remediation()).toEqual(remBefore);
  });

  it('tRPC exports and imports the same document', async () => {
    const call = (p: string, init?: RequestInit) => h.api(`/trpc/${p}`, init);
    const got = (await (await call('policies.exportYaml')).json()) as { result: { data: { yaml: string } } };
    expect(got.result.data.yaml).toBe(await (await h.api('/api/v1/policies/export.yaml')).text());
    const doc = parseYaml(got.result.data.yaml) as Doc;
    robot(doc).alerts = [{ name: 'robot_bad', metric: 'error_rate', threshold: 3 }];
    const bad = await call('policies.importYaml', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ yaml: stringifyYaml(doc) }),
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toMatch(/robotic_manipulation\.alerts\.0\.threshold: an error rate threshold is a fraction/);
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
    await insertHardwareProfile(db, 'cache-hw', 'cloud-cpu-node');
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
