import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, launchBrowser, startDashboard, startE2eControlPlane, type E2eControlPlane, type Proc } from './processes.js';

/** The dashboard's own walls: security headers on every page, and changes only from its own pages. */
let cp: E2eControlPlane | null = null;
let dash: Proc | null = null;
let web = '';
let browser: Browser | null = null;

beforeAll(async () => {
  cp = await startE2eControlPlane('ef-e2e-security');
  const d = await startDashboard(cp.api);
  dash = d.proc;
  web = d.web;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await dash?.stop();
  await cp?.stop();
});

describe('dashboard security', () => {
  it('sends CSP with frame-ancestors none, nosniff, DENY framing and no Referer on its pages', async () => {
    for (const path of ['/login', '/']) {
      const res = await fetch(`${web}${path}`, { redirect: 'manual' });
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'self'");
      expect(csp).not.toContain('unsafe-eval');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('refuses a change whose Origin is another site, and nothing changes; its own pages still work under the CSP', async () => {
    if (!cp || !browser) throw new Error('not started');
    const cookie = `ef_operator=${cp.token}`;
    const before = await callApi<{ items: { scenario: string; latencyTargetMs: number }[] }>(cp.api, cp.token, 'GET', '/api/v1/policies');
    const target = before.items.find((p) => p.scenario === 'robotic_manipulation');
    const change = (origin: string | null) =>
      fetch(`${web}/api/trpc/policies.update`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...(origin ? { origin } : {}) },
        body: JSON.stringify({ scenario: 'robotic_manipulation', latencyTargetMs: (target?.latencyTargetMs ?? 10) + 1 }),
      });
    for (const origin of ['https://evil.example', null]) {
      const res = await change(origin);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('the Origin header does not match');
    }
    const after = await callApi<typeof before>(cp.api, cp.token, 'GET', '/api/v1/policies');
    expect(after.items.find((p) => p.scenario === 'robotic_manipulation')).toEqual(target);

    // a real browser on the dashboard's own page: sign-in and a live page work, with no CSP refusal
    const page = await browser.newPage();
    const refused: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
    });
    await page.goto(`${web}/login`);
    await page.fill('[data-testid="token-input"]', cp.token);
    await page.click('[data-testid="login-submit"]');
    await page.waitForURL((u) => !u.pathname.startsWith('/login'));
    // a live page (it polls, so the network is never idle): its rows come from tRPC through the proxy
    await page.goto(`${web}/policies`);
    await page.waitForSelector('[data-testid="policy-row-robotic_manipulation"]');
    expect(refused).toEqual([]);
    await page.close();
  });
});
