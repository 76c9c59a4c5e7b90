import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { callApi, signIn as signInAt, startDashboardStack, type DashboardStack } from './processes.js';

/**
 * The dashboard's data layer (TanStack Query through tRPC): a save shows at once, a change made
 * elsewhere shows without a reload, and an expired session goes to sign-in from any live view.
 */
let stack: DashboardStack | null = null;
let api = '';
let web = '';
let token = '';
let browser: Browser | null = null;

beforeAll(async () => {
  stack = await startDashboardStack('ef-e2e-live');
  ({ api, token } = stack.cp);
  ({ web, browser } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

async function signIn(page: Page): Promise<void> {
  await signInAt(page, web, token);
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
