import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, signIn, startDashboardStack, type DashboardStack } from './processes.js';

/**
 * Issue 12 (M16) in a real browser: sign-in leaves only a session id in the cookie, the tokens page
 * creates a token whose secret works once shown, and sign-out ends the session server-side, so the
 * same cookie replayed afterwards is refused.
 */
let stack: DashboardStack | null = null;

beforeAll(async () => {
  stack = await startDashboardStack('ef-e2e-sessions');
});

afterAll(async () => {
  await stack?.stop();
});

describe('operator sessions in the dashboard', () => {
  it('sign in → tokens page → create a token → sign out; the replayed session cookie is refused', async () => {
    if (!stack) throw new Error('not started');
    const { cp, browser, web } = stack;
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, web, cp.token);

    const [cookie] = (await context.cookies()).filter((c) => c.name === 'ef_session');
    expect(cookie?.value).toMatch(/^eft_ses_/);
    expect(cookie?.value).not.toContain(cp.token);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect((await context.cookies()).some((c) => c.value.includes(cp.token))).toBe(false);

    await page.click('a[href="/tokens"]');
    await page.waitForSelector('[data-testid="token-table"]');
    await page.fill('[data-testid="token-field-name"]', 'e2e script');
    await page.selectOption('[data-testid="token-field-role"]', 'viewer');
    await page.check('[data-testid="token-scope-robotic_manipulation"]');
    await page.click('[data-testid="token-create"]');
    const secret = (await page.textContent('[data-testid="token-secret-value"]'))?.trim() ?? '';
    expect(secret).toMatch(/^eft_op_/);
    const listed = await callApi<{ items: { name: string; scenarios: string[]; role: string }[] }>(
      cp.api,
      secret,
      'GET',
      '/api/v1/devices',
    );
    expect(listed.items).toBeDefined();
    await page.click('[data-testid="token-secret-done"]');
    await page.waitForSelector('[data-testid="token-row"]:has-text("e2e script")');
    expect(await page.textContent('[data-testid="token-table"]')).not.toContain(secret);

    const replay = (path: string) =>
      fetch(`${web}${path}`, { headers: { cookie: `ef_session=${cookie?.value ?? ''}` }, redirect: 'manual' });
    expect((await replay('/api/trpc/fleet.overview')).status).toBe(200);

    await page.click('[data-testid="logout"]');
    await page.waitForURL((u) => u.pathname.startsWith('/login'));
    // the cookie a thief copied before sign-out: refused by the control plane, not just forgotten by the browser
    expect((await replay('/api/trpc/fleet.overview')).status).toBe(401);
    const pageAfter = await replay('/');
    expect(pageAfter.status).toBeGreaterThanOrEqual(300);
    expect(pageAfter.status).toBeLessThan(400);
    expect(pageAfter.headers.get('location') ?? '').toContain('/login');
    const direct = await fetch(`${cp.api}/trpc/fleet.overview`, { headers: { authorization: `Bearer ${cookie?.value ?? ''}` } });
    expect(direct.status).toBe(401);
    await context.close();
  });
});
