import { waitFor } from '@edge-fleet/test-utils';
import type { VirtualDesired, VirtualDevice } from '@edge-fleet/test-utils/virtual-device';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  callApi,
  enrollWindowedDevice,
  polling,
  signIn,
  startDashboardStack,
  type DashboardStack,
  type E2eControlPlane,
} from './processes.js';

/**
 * The operator's pages that change things (issue 13), in a real browser against the real control
 * plane: alert rules and silences from the Alerts page, a rule firing on a device's telemetry, the
 * Energy page and the device's energy, remediation settings from the Remediation page, and the
 * telemetry windows the rollup fold set aside, requeued by an admin from the overview.
 */
const SCENARIO = 'robotic_manipulation';
const DRAM_MB = 4096;
const RSS_MB = 4000; // 96 MB of headroom: under the rule's 256 MB floor
let stack: DashboardStack | null = null;
let cp: E2eControlPlane | null = null;
let web = '';
let browser: Browser | null = null;
let device: VirtualDevice<VirtualDesired> | null = null;
let deviceId = '';

beforeAll(async () => {
  // a pass every second, so the rule the test creates fires within seconds
  stack = await startDashboardStack('ef-e2e-operations', { ALERT_EVAL_INTERVAL_MS: '1000', ENERGY_TARIFF_PER_KWH: '0.3' });
  ({ cp, web, browser } = stack);
  // one-second windows: 100 inferences on an INT8 variant at an estimated 2 W, the agent at 4000 MB RSS
  const enrolled = await enrollWindowedDevice(cp, {
    scenario: SCENARIO,
    name: 'e2e-arm',
    agentVersion: 'e2e-operations',
    hardwareProfile: {
      name: 'Robot arm NPU',
      hardwareClass: 'robot-npu-8t',
      accelerator: 'npu',
      tops: 8,
      sramMb: 2,
      dramMb: DRAM_MB,
      powerBudgetW: 5,
      idlePowerW: 1,
      activePowerW: 3,
      precisions: ['fp32', 'int8'],
      cpuCores: 4,
    },
    window: () => ({
      modelVersionId: 'e2e-model',
      variantId: 'e2e-int8',
      precision: 'int8',
      inferences: 100,
      errors: 0,
      latencyMs: { p50: 2, p95: 3, p99: 4, max: 5 },
      power: { watts: 2, source: 'estimate', detail: 'profile estimate' },
      memory: { rssMb: RSS_MB, heapUsedMb: 10 },
    }),
  });
  deviceId = enrolled.deviceId;
  device = enrolled.device;
  device.start();
  device.startTelemetry(200);
  await waitFor(() => device?.connected ?? false, 20_000, 'device connected', polling());
});

afterAll(async () => {
  await device?.stop();
  await stack?.stop();
});

async function signedIn(): Promise<Page> {
  if (!browser || !cp) throw new Error('not started');
  const page = await browser.newPage();
  await signIn(page, web, cp.token);
  return page;
}

/** Waits for the page's text to match, or fails with what the page showed. */
async function untilText(page: Page, selector: string, pattern: RegExp, timeout = 30_000): Promise<string> {
  try {
    await page.waitForFunction(
      ([sel, src]) => new RegExp(src).test(document.querySelector(sel)?.textContent ?? ''),
      [selector, pattern.source] as const,
      { timeout },
    );
  } catch (e) {
    throw new Error(`${selector} never matched ${String(pattern)}: ${String(e)}\n--- page ---\n${await page.innerText('body')}`);
  }
  return (await page.textContent(selector)) ?? '';
}

describe('dashboard operations', () => {
  it('alerts page: a rule created through the form is listed, a refused value names its field, and the rule fires on the device', async () => {
    const page = await signedIn();
    await page.goto(`${web}/alerts`);
    await page.click('[data-testid="rule-new"]');
    await page.fill('[data-testid="rule-field-name"]', 'e2e_memory_headroom');
    await page.selectOption('[data-testid="rule-field-metric"]', 'memory_headroom_mb');
    await page.selectOption('[data-testid="rule-field-scenario"]', SCENARIO);
    await page.fill('[data-testid="rule-field-forSeconds"]', '0');
    await page.fill('[data-testid="rule-field-lookbackSeconds"]', '10');
    // no floor: the server refuses it and says which field
    await page.click('[data-testid="rule-save"]');
    expect(await untilText(page, '[data-testid="rule-error"]', /threshold/)).toMatch(/threshold: memory_headroom_mb needs a threshold/);
    await page.fill('[data-testid="rule-field-threshold"]', '-5');
    await page.click('[data-testid="rule-save"]');
    expect(await untilText(page, '[data-testid="rule-error"]', /floor/)).toMatch(/threshold: a memory headroom floor must be above 0/);
    expect(await page.getAttribute('[data-testid="rule-field-threshold"]', 'aria-invalid')).toBe('true');
    await page.fill('[data-testid="rule-field-threshold"]', '256');
    await page.click('[data-testid="rule-save"]');
    await page.waitForSelector('[data-testid="rule-saved"]');
    const row = '[data-testid="rule-row"][data-rule="e2e_memory_headroom"]';
    expect(await untilText(page, row, /memory_headroom_mb/)).toMatch(/robotic manipulation.*memory_headroom_mb.*256/);
    const rules = await callApi<{ items: { name: string; threshold: number; scenario: string }[] }>(
      cp?.api ?? '',
      cp?.token ?? '',
      'GET',
      '/api/v1/alert-rules',
    );
    expect(rules.items.find((r) => r.name === 'e2e_memory_headroom')).toMatchObject({ threshold: 256, scenario: SCENARIO });

    // the device's telemetry breaches it: the page shows the alert firing, live, with its value
    const group = '[data-testid="alert-group"][data-rule="e2e_memory_headroom"]';
    const text = await untilText(page, group, /\(1 firing/, 60_000);
    expect(text).toContain(deviceId);
    expect(text).toContain(String(DRAM_MB - RSS_MB));

    // a silence from the form holds it; expiring it from the table ends the silence
    await page.fill('[data-testid="silence-field-matchers"]', 'alertname=e2e_memory_headroom');
    await page.fill('[data-testid="silence-field-comment"]', 'e2e: known low memory');
    await page.click('[data-testid="silence-save"]');
    await untilText(page, '[data-testid="silence-table"]', /e2e: known low memory/);
    await untilText(page, `${group} [data-testid="alert-row"]`, /yes/);
    await page.click('[data-testid="silence-expire"]');
    await page.waitForSelector('[data-testid="silence-table"]', { state: 'detached' });

    // disabling the rule from the table: the alert ends
    await page.click('[data-testid="rule-toggle-e2e_memory_headroom"]');
    await untilText(page, row, /disabled/);
    await page.waitForSelector(group, { state: 'detached', timeout: 30_000 });
    await page.close();
  });

  it("energy: the Energy page and the device's page show the energy per inference and per day, labelled estimated", async () => {
    const page = await signedIn();
    await page.goto(`${web}/energy`);
    const row = await untilText(page, '[data-testid="energy-row"]', /INT8.*mJ.*kWh\/day.*estimated/);
    // 2 W over windows of up to a second with 100 inferences each: at most 20 mJ per inference
    const mj = (text: string) => Number(/([\d.]+) mJ/.exec(text)?.[1]);
    expect(mj(row)).toBeGreaterThan(10);
    expect(mj(row)).toBeLessThanOrEqual(20.5);
    await page.goto(`${web}/devices/${deviceId}`);
    const total = await untilText(page, '[data-testid="device-energy-total"]', /per inference/);
    expect(mj(total)).toBeGreaterThan(10);
    expect(mj(total)).toBeLessThanOrEqual(20.5);
    expect(total).toMatch(/kWh\/day/);
    expect(total).toMatch(/estimated \(0 sensor, \d+ windows from the profile estimate\)/);
    await page.close();
  });

  it('remediation page: a mode change is saved; a refused limit names its field and changes nothing', async () => {
    if (!cp) throw new Error('not started');
    const page = await signedIn();
    await page.goto(`${web}/remediation`);
    await page.click(`[data-testid="remediation-edit-${SCENARIO}"]`);
    await page.selectOption('[data-testid="remediation-field-mode"]', 'suggest');
    await page.fill('[data-testid="remediation-field-rateFactor"]', '2');
    await page.click('[data-testid="remediation-save"]');
    expect(await untilText(page, '[data-testid="remediation-error"]', /rateFactor/)).toMatch(/rateFactor: rateFactor must be below 1/);
    const settings = () =>
      callApi<{ items: { scenario: string; mode: string; maxDevicesPerHour: number }[] }>(
        cp?.api ?? '',
        cp?.token ?? '',
        'GET',
        '/api/v1/remediation/settings',
      ).then((r) => r.items.find((s) => s.scenario === SCENARIO));
    expect((await settings())?.mode).toBe('off');
    await page.fill('[data-testid="remediation-field-rateFactor"]', '0.5');
    await page.fill('[data-testid="remediation-field-maxDevicesPerHour"]', '3');
    await page.click('[data-testid="remediation-save"]');
    await page.waitForSelector('[data-testid="remediation-saved"]');
    expect(await untilText(page, `[data-testid="remediation-settings-row"][data-scenario="${SCENARIO}"]`, /suggest/)).toMatch(/suggest.*3/);
    expect(await settings()).toMatchObject({ mode: 'suggest', maxDevicesPerHour: 3 });
    await page.close();
  });

  it("row 26 (the fold): the overview shows windows set aside with the database's reason; an admin requeues them with a reason once the cause is fixed", async () => {
    if (!cp) throw new Error('not started');
    const db = new pg.Client({ connectionString: cp.dbUrl });
    await db.connect();
    const parked = () =>
      callApi<{ windows: number }>(cp?.api ?? '', cp?.token ?? '', 'GET', '/api/v1/telemetry/rollups/parked').then((r) => r.windows);
    try {
      // the device's rollups at int4's last window count: each new window of it overflows them, so the fold sets it aside
      await db.query(`UPDATE "TelemetryDeviceRollup" SET windows = 2147483647 WHERE "deviceId" = $1`, [deviceId]);
      const page = await signedIn();
      await page.goto(web);
      expect(await untilText(page, '[data-testid="parked-telemetry-count"]', /telemetry windows? (is|are) in no rollup/)).toMatch(
        /the database refused their rollup/,
      );
      expect(await page.textContent('[data-testid="parked-telemetry-reasons"]')).toMatch(/out of range/);
      expect(await parked()).toBeGreaterThan(0);

      // the cause fixed, the admin requeues them from the overview, with a reason the audit keeps
      await db.query(`UPDATE "TelemetryDeviceRollup" SET windows = 1 WHERE "deviceId" = $1`, [deviceId]);
      await page.fill('[data-testid="parked-telemetry-reason"]', 'e2e: rollup rows repaired');
      await page.click('[data-testid="parked-telemetry-requeue"]');
      expect(await untilText(page, '[data-testid="parked-telemetry-outcome"]', /went back to the fold/)).toMatch(/^\d[\d,]* windows/);
      await waitFor(async () => (await parked()) === 0, 20_000, 'the requeued windows folded', polling());
      await page.waitForSelector('[data-testid="parked-telemetry-count"]', { state: 'detached', timeout: 20_000 });
      const audit = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "AuditEvent" WHERE action = 'telemetry.rollups_requeued' AND details::text LIKE '%rollup rows repaired%'`,
      );
      expect(audit.rows[0]?.n).toBe(1);
      await page.close();
    } finally {
      await db.end();
    }
  });
});
