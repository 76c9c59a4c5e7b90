import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import pg from 'pg';
import { callApi, freePort, launchBrowser, startProcess, waitFor, type Proc } from './processes.js';

/**
 * The dashboard's data layer (TanStack Query through tRPC): a save shows at once, a change made
 * elsewhere shows without a reload, and an expired session goes to sign-in from any live view.
 */
const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const dbName = `ef_e2e_live_${Date.now().toString(36)}`;
const procs: Proc[] = [];
let dataDir = '';
let api = '';
let web = '';
let token = '';
let browser: Browser | null = null;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'ef-e2e-live-'));
  const u = new URL(ADMIN_URL);
  u.pathname = `/${dbName}`;
  api = `http://127.0.0.1:${await freePort()}`;
  const cp = startProcess(['apps/control-plane/dist/main.js'], {
    PORT: new URL(api).port,
    MQTT_EMBEDDED_PORT: String(await freePort()),
    DATA_DIR: path.join(dataDir, '.data'),
    DATABASE_URL: u.toString(),
    EMBEDDED_POSTGRES: 'never',
  });
  procs.push(cp);
  await waitFor(async () => (await fetch(`${api}/readyz`)).ok, 120_000, 'control plane ready', cp);
  token = (await readFile(path.join(dataDir, '.data', 'operator-token'), 'utf8')).trim();
  const dashPort = await freePort();
  const dash = startProcess(
    ['apps/dashboard/node_modules/next/dist/bin/next', 'start', 'apps/dashboard', '-p', String(dashPort), '-H', '127.0.0.1'],
    { CONTROL_PLANE_URL: api, NEXT_TELEMETRY_DISABLED: '1' },
  );
  procs.push(dash);
  web = `http://127.0.0.1:${dashPort}`;
  await waitFor(async () => (await fetch(`${web}/login`)).ok, 60_000, 'dashboard up', dash);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  for (const p of procs.reverse()) await p.stop();
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await c.end();
  await rm(dataDir, { recursive: true, force: true });
});

async function signIn(page: Page): Promise<void> {
  await page.goto(`${web}/login`);
  await page.fill('[data-testid="token-input"]', token);
  await page.click('[data-testid="login-submit"]');
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

const row = '[data-testid="policy-row-robotic_manipulation"]';
const rowText = (page: Page) => page.textContent(row).then((t) => t ?? '');

describe('dashboard live views', () => {
  it('shows a saved policy at once, picks up a change made elsewhere without a reload, and signs out an expired session', async () => {
    if (!browser) throw new Error('no browser');
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page);
    await page.goto(`${web}/policies`);
    await page.waitForSelector(row);

    // a save through the form: the answer goes into the query cache, the table shows it with the notice
    await page.click('[data-testid="policy-edit-robotic_manipulation"]');
    await page.fill('[data-testid="policy-field-memoryPlacement"]', 'e2e-saved');
    await page.click('[data-testid="policy-save"]');
    await page.waitForSelector('[data-testid="policy-saved"]');
    expect(await rowText(page)).toContain('e2e-saved');

    // a change through REST: the live view's next poll shows it, no reload
    const { items } = await callApi<{ items: Record<string, unknown>[] }>(api, token, 'GET', '/api/v1/policies');
    const { scenario: _s, model: _m, ...settings } = items.find((p) => p.scenario === 'robotic_manipulation') ?? {};
    await callApi(api, token, 'PUT', '/api/v1/policies/robotic_manipulation', { ...settings, memoryPlacement: 'e2e-from-rest' });
    await page.waitForFunction((sel) => document.querySelector(sel)?.textContent?.includes('e2e-from-rest') === true, row, {
      timeout: 15_000,
    });

    // the session cookie is gone: the next poll is refused and the page goes to sign-in by itself
    await context.clearCookies();
    await page.waitForURL(/\/login/, { timeout: 15_000 });
    await context.close();
  });
});
