import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { freePort, waitFor } from '@edge-fleet/test-utils';
import {
  callApi,
  type E2eControlPlane,
  launchBrowser,
  polling,
  startDashboard,
  startE2eControlPlane,
  startProcess,
  type Proc,
  uploadMlp,
  waitForActiveVariant,
} from './processes.js';

const procs: Proc[] = [];
let run: E2eControlPlane | undefined;
let dataDir = '';
let api = '';
let token = '';
let browser: Browser | null = null;

const call = <T>(method: string, p: string, body?: unknown): Promise<T> => callApi<T>(api, token, method, p, body);

beforeAll(async () => {
  run = await startE2eControlPlane('ef-e2e');
  ({ dataDir, api, token } = run);
});

afterAll(async () => {
  await browser?.close();
  for (const p of procs.reverse()) await p.stop();
  await run?.stop();
});

interface Device {
  id: string;
  name: string;
  status: string;
  hardwareClass: string;
  reported: { phase: string; activeVariantId: string | null } | null;
}

describe('the whole loop on real processes', () => {
  it('enrolls an agent, assigns it a model, runs it in onnxruntime, stores its telemetry and shows it in the browser', async () => {
    const servePort = await freePort();
    const { token: enrollToken } = await call<{ token: string }>('POST', '/api/v1/enrollment-tokens', { scenario: 'robotic_manipulation' });
    const agent = startProcess(
      [
        'apps/device-agent/dist/cli.js',
        '--url',
        api,
        '--token',
        enrollToken,
        '--profile',
        'robot-npu-arm',
        '--name',
        'e2e-arm',
        '--data-dir',
        path.join(dataDir, 'agent'),
        '--serve-port',
        String(servePort),
      ],
      {},
    );
    procs.push(agent);

    const device = await waitFor(
      async () => {
        const list = await call<{ items: Device[] }>('GET', '/api/v1/devices?search=e2e-arm');
        return list.items.find((d) => d.status === 'online');
      },
      60_000,
      'agent enrolled and online',
      polling(agent),
    );
    expect(device.hardwareClass).toBe('edge-npu-10t');

    const version = await uploadMlp(api, token, 'e2e-mlp', 5);
    await call('PUT', '/api/v1/scenarios/robotic_manipulation/model', { modelVersionId: version.id });

    const running = await waitForActiveVariant(call, device.id, version.variants[0]?.id, agent);
    expect(running.reported?.activeVariantId).toBe(version.variants[0]?.id);

    const points = await waitFor(
      async () => {
        const t = await call<{ points: { inferences: number; p99: number | null; powerSource: string; variantId: string | null }[] }>(
          'GET',
          `/api/v1/devices/${device.id}/telemetry`,
        );
        const withModel = t.points.filter((p) => p.variantId === version.variants[0]?.id && p.inferences > 0);
        return withModel.length >= 2 ? withModel : null;
      },
      60_000,
      'telemetry rows of the new model',
      polling(agent),
    );
    expect(points[0]?.p99).toBeGreaterThan(0);
    expect(['estimate', 'sensor']).toContain(points[0]?.powerSource);

    const { proc: dash, web } = await startDashboard(api);
    procs.push(dash);

    browser = await launchBrowser();
    const page = await browser.newPage();
    await page.goto(`${web}/devices/${device.id}`);
    await page.waitForURL(/\/login/);
    await page.fill('[data-testid="token-input"]', 'not-the-token-0000000000');
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="login-error"]');
    await page.fill('[data-testid="token-input"]', token);
    await page.click('[data-testid="login-submit"]');
    await page.waitForURL((u) => !u.pathname.startsWith('/login'));
    await page.goto(`${web}/devices/${device.id}`);
    await page.waitForSelector('[data-testid="device-name"]');
    expect(await page.textContent('[data-testid="device-name"]')).toContain('e2e-arm');
    await page.waitForFunction(() => /\d/.test(document.querySelector('[data-testid="latest-p99"]')?.textContent ?? ''), undefined, {
      timeout: 30_000,
    });
    expect(await page.locator('[data-testid="latency-chart"] polyline').count()).toBeGreaterThan(0);
    expect(await page.textContent('[data-testid="latest-power"]')).toMatch(/estimate|sensor/);
    // no application has called the model yet: the figures are the probe's, and the page says so
    expect(await page.textContent('[data-testid="telemetry-source"]')).toBe('probe (no traffic)');

    // issue 18: the demo's application client sends real requests to the agent's local inference API
    const { items: policies } = await call<{ items: { scenario: string; tier: string }[] }>('GET', '/api/v1/policies');
    const tier = policies.find((p) => p.scenario === 'robotic_manipulation')?.tier;
    const targets = [{ name: 'e2e-arm', baseUrl: `http://127.0.0.1:${servePort}`, model: 'robotic_manipulation', tier }];
    const traffic = startProcess(['apps/fleet-sim/dist/traffic/demo-traffic.cli.js', JSON.stringify(targets)], {});
    procs.push(traffic);
    const served = await waitFor(
      async () => {
        const t = await call<{ points: { source: string; inferences: number; queueP99: number | null }[] }>(
          'GET',
          `/api/v1/devices/${device.id}/telemetry`,
        );
        return t.points.filter((p) => p.source === 'traffic' && p.inferences > 0).at(-1);
      },
      60_000,
      'telemetry windows of real traffic',
      polling(traffic),
    );
    expect(served.queueP99).toBeGreaterThanOrEqual(0);
    await page.waitForFunction(
      () => /^traffic: \d+ requests?$/.test(document.querySelector('[data-testid="telemetry-source"]')?.textContent ?? ''),
      undefined,
      { timeout: 30_000 },
    );
    expect(await page.textContent('[data-testid="latency-chart"]')).toMatch(/Inference latency — probe \/ traffic/);
    expect(await page.textContent('[data-testid="latest-queue-p99"]')).toMatch(/\d+(\.\d+)? ms/);
    await traffic.stop();
    expect(traffic.output()).toMatch(/e2e-arm: \{"ok":[1-9]\d*,"refused":0,"failed":0/);
    await page.screenshot({ path: path.join(tmpdir(), 'ef-e2e-device.png'), fullPage: true });
  });
});
