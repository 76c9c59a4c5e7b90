import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startHarness, type Harness } from '../test-support/harness.js';

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
