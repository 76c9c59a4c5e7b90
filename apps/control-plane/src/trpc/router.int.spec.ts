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
          result: {
            data: { total: number; byStatus: { online: number }; scenarios: { scenario: string; online: number }[]; countedAt: string };
          };
        };
        return r.result.data.byStatus.online === 1 ? r.result.data : null;
      },
      10_000,
      'online count',
    );
    expect(overview.total).toBe(1);
    // says when it counted: a large fleet's answer may serve the requests of the next second
    expect(Math.abs(Date.now() - Date.parse(overview.countedAt))).toBeLessThan(10_000);
    expect(overview.scenarios).toHaveLength(6);
    expect(overview.scenarios.find((s) => s.scenario === 'financial_trading')?.online).toBe(1);
    await c.endAsync();
  });

  it('refuses a batch of more than 16 procedures before running any, and serves one of 16', async () => {
    const batch = (n: number) => Array.from({ length: n }, () => 'fleet.overview').join(',');
    const input = (n: number) => encodeURIComponent(JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [i, {}]))));
    const over = await trpc(`${batch(17)}?batch=1&input=${input(17)}`, h.cp.operatorToken);
    expect(over.status).toBe(400);
    expect(await over.text()).toContain('a tRPC batch may call at most 16 procedures; this one calls 17');
    // 600 mutations in one POST (the probe's case): refused before any runs
    const names = Array.from({ length: 600 }, () => 'policies.update').join(',');
    const big = await fetch(`${h.cp.url}/trpc/${names}?batch=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.cp.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(
        Object.fromEntries(Array.from({ length: 600 }, (_, i) => [i, { scenario: 'data_analysis_agent', latencyTargetMs: 99 }])),
      ),
    });
    expect(big.status).toBe(400);
    expect(await big.text()).toContain('this one calls 600');
    const ok = await trpc(`${batch(16)}?batch=1&input=${input(16)}`, h.cp.operatorToken);
    expect(ok.status).toBe(200);
    expect((await ok.json()) as unknown[]).toHaveLength(16);
  });

  it('answers with headers that forbid framing, sniffing and referrers', async () => {
    for (const res of [await trpc('fleet.overview', h.cp.operatorToken), await h.api('/api/v1/devices')]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
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

describe('one operation, one service method: tRPC answers as REST does', () => {
  const auth = () => ({ authorization: `Bearer ${h.cp.operatorToken}`, 'content-type': 'application/json' });

  it('updates a policy through the same method as PUT /api/v1/policies/{scenario}: the same answer', async () => {
    const settings = {
      tier: 'medium',
      latencyTargetMs: 250,
      latencyPercentile: 'p95',
      location: 'edge',
      precisionOrder: ['int8', 'fp16'],
      memoryPlacement: 'gpu',
      errorRateMax: 0.02,
      powerBudgetW: null,
      accuracyFloor: 0.9,
    };
    const viaTrpc = await fetch(`${h.cp.url}/trpc/policies.update`, {
      method: 'POST',
      headers: auth(),
      body: JSON.stringify({ scenario: 'robotic_manipulation', ...settings }),
    });
    expect(viaTrpc.status).toBe(200);
    const trpcPolicy = ((await viaTrpc.json()) as { result: { data: unknown } }).result.data;
    expect(trpcPolicy).toMatchObject({ scenario: 'robotic_manipulation', ...settings });
    const viaRest = await h.api('/api/v1/policies/robotic_manipulation', {
      method: 'PUT',
      headers: auth(),
      body: JSON.stringify(settings),
    });
    expect(await viaRest.json()).toEqual(trpcPolicy);
  });

  it("reads a device's telemetry as REST does, and an unknown device is NOT_FOUND on both", async () => {
    const e = await enrollDevice(h, 'financial_trading');
    const input = encodeURIComponent(JSON.stringify({ id: e.deviceId, sinceMinutes: 60, limit: 10 }));
    const viaTrpc = (await (await trpc(`devices.telemetry?input=${input}`, h.cp.operatorToken)).json()) as { result: { data: unknown } };
    const viaRest = await (await h.api(`/api/v1/devices/${e.deviceId}/telemetry?sinceMinutes=60&limit=10`)).json();
    expect(viaTrpc.result.data).toEqual({ deviceId: e.deviceId, points: [] });
    expect(viaRest).toEqual(viaTrpc.result.data);

    const unknown = '00000000-0000-4000-8000-000000000000';
    const missing = await trpc(`devices.telemetry?input=${encodeURIComponent(JSON.stringify({ id: unknown }))}`, h.cp.operatorToken);
    expect(missing.status).toBe(404);
    expect((await h.api(`/api/v1/devices/${unknown}/telemetry`)).status).toBe(404);
  });
});

describe('the tRPC handler (trpc/express-handler.ts)', () => {
  it('hands tRPC a request without an abort signal that follows the client (no finalizer a call), and still serves batches', async () => {
    const Native = globalThis.Request;
    const withSignal: string[] = [];
    globalThis.Request = class extends Native {
      constructor(input: Request | string | URL, init?: RequestInit) {
        super(input, init);
        const url = input instanceof Native ? input.url : String(input);
        // the client's own fetch passes no signal; a server-side request for the batch must not either
        if (init?.signal && url.includes('fleet.overview')) withSignal.push(url);
      }
    };
    try {
      const res = await trpc(
        `fleet.overview,devices.list?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: {}, 1: {} }))}`,
        h.cp.operatorToken,
      );
      expect(res.status).toBe(200);
      expect((await res.json()) as unknown[]).toHaveLength(2);
    } finally {
      globalThis.Request = Native;
    }
    expect(withSignal).toEqual([]);
  });

  it('bounds a body no parser of the app read (here octet-stream) at 1 MiB: 413, and the call never runs', async () => {
    const before = await (await trpc('policies.list', h.cp.operatorToken)).text();
    const res = await fetch(`${h.cp.url}/trpc/policies.update`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.cp.operatorToken}`, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    });
    expect(res.status).toBe(413);
    expect(await res.text()).toContain('a tRPC request body may be at most 1048576 bytes');
    expect(await (await trpc('policies.list', h.cp.operatorToken)).text()).toBe(before);
  });
});

describe('the API body bound (API_BODY_MAX, 1 MiB)', () => {
  it('refuses a JSON body over 1 MiB with 413 naming the limit (not the model upload limit) on REST and tRPC, keeps the connection, and changes nothing', async () => {
    const before = await (await h.api('/api/v1/policies')).text();
    const big = JSON.stringify({ scenario: 'data_analysis_agent', latencyTargetMs: 99, pad: 'x'.repeat(1024 * 1024) });
    const headers = { authorization: `Bearer ${h.cp.operatorToken}`, 'content-type': 'application/json' };
    const rest = await fetch(`${h.cp.url}/api/v1/policies/data_analysis_agent`, { method: 'PUT', headers, body: big });
    expect(rest.status).toBe(413);
    // read to its end by the parser: nothing left to cut, the connection is kept (uploads close theirs)
    expect(rest.headers.get('connection')).not.toBe('close');
    expect(await rest.text()).toContain('the request body is larger than 1048576 bytes');
    const viaTrpc = await fetch(`${h.cp.url}/trpc/policies.update`, { method: 'POST', headers, body: big });
    expect(viaTrpc.status).toBe(413);
    expect(await viaTrpc.text()).toContain('the request body is larger than 1048576 bytes');
    expect(await (await h.api('/api/v1/policies')).text()).toBe(before);
  });
});
