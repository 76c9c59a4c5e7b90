import { publishArgs } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { startHarness, waitFor, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const trpc = (p: string, token?: string) => fetch(`${h.cp.url}/trpc/${p}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

describe('tRPC API for the dashboard', () => {
  it('refuses calls without an operator token, without leaking a stack trace', async () => {
    const res = await trpc('fleet.overview');
    expect(res.status).toBe(401);
    const body = await res.text();
    expect(body).toContain('UNAUTHORIZED');
    expect(body).not.toMatch(/stack|at .*\.ts:\d+/);
  });

  it('serves the fleet overview with the six default scenarios and live device counts', async () => {
    const e = await enrollDevice(h, 'financial_trading');
    const c = await connectDevice(h, e);
    const online = publishArgs('status', e.deviceId, { state: 'online' });
    await c.publishAsync(online.topic, online.payload, online.options);
    const overview = await waitFor(
      async () => {
        const r = (await (await trpc('fleet.overview', h.cp.operatorToken)).json()) as {
          result: { data: { total: number; byStatus: { online: number }; scenarios: { scenario: string; online: number }[] } };
        };
        return r.result.data.byStatus.online === 1 ? r.result.data : null;
      },
      10_000,
      'online count',
    );
    expect(overview.total).toBe(1);
    expect(overview.scenarios).toHaveLength(6);
    expect(overview.scenarios.find((s) => s.scenario === 'financial_trading')?.online).toBe(1);
    await c.endAsync();
  });

  it('validates procedure input and names the field', async () => {
    const res = await trpc(`devices.get?input=${encodeURIComponent(JSON.stringify({ id: 'nope' }))}`, h.cp.operatorToken);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/id/);
  });
});

describe('tRPC errors', () => {
  it('maps a typed error raised in a procedure to its code (bad YAML is BAD_REQUEST, not a 500)', async () => {
    const res = await fetch(`${h.cp.url}/trpc/policies.importYaml`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.cp.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ yaml: 'deployment_strategy:\n  extreme_risk: {}\n' }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/unknown risk tier/);
  });
});
