import { hardwarePreset } from '@edge-fleet/shared';
import { waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, enrollWindowedDevice, polling, signIn, startDashboardStack, type DashboardStack } from './processes.js';

/** The dashboard's own walls: security headers on every page, and changes only from its own pages. */
let stack: DashboardStack | null = null;

function started(): DashboardStack {
  if (!stack) throw new Error('not started');
  return stack;
}

beforeAll(async () => {
  stack = await startDashboardStack('ef-e2e-security');
});

afterAll(async () => {
  await stack?.stop();
});

/** A window of a device that runs no model: no inferences, an estimated 1.5 W with `detail` as its basis. */
function idleWindow(detail: string) {
  return {
    modelVersionId: null,
    variantId: null,
    precision: null,
    inferences: 0,
    errors: 0,
    latencyMs: null,
    power: { watts: 1.5, source: 'estimate', detail },
    memory: { rssMb: 50, heapUsedMb: 10 },
  };
}

describe('dashboard security', () => {
  it('sends CSP with frame-ancestors none, nosniff, DENY framing and no Referer on its pages', async () => {
    const { web } = started();
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
    const { cp, browser, web } = started();
    // a signed-in browser's cookie: a session the control plane issued for the token
    const { session } = await callApi<{ session: string }>(cp.api, cp.token, 'POST', '/api/v1/sessions');
    const cookie = `ef_session=${session}`;
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
    await signIn(page, web, cp.token);
    // a live page (it polls, so the network is never idle): its rows come from tRPC through the proxy
    await page.goto(`${web}/policies`);
    await page.waitForSelector('[data-testid="policy-row-robotic_manipulation"]');
    expect(refused).toEqual([]);
    await page.close();
  });

  it('row 15: shows the strings a device sends (name, hardware, update message, power basis) as text, never as markup', async () => {
    const { cp, browser, web } = started();
    // Each string would run script if it reached the page as HTML; each sets its own marker.
    const hostile = {
      name: `<img src=x onerror="window.__xss='name'">`,
      hardware: `<svg onload="window.__xss='hardware'">`,
      message: `</td><script>window.__xss='message'</script><img src=x onerror="window.__xss='message-img'">`,
      detail: `"><img src=x onerror="window.__xss='detail'">`,
    };
    const { deviceId, device } = await enrollWindowedDevice(cp, {
      scenario: 'robotic_manipulation',
      name: hostile.name,
      agentVersion: 'e2e-hostile',
      hardwareProfile: { ...hardwarePreset('edge-npu-trading'), name: hostile.hardware },
      window: () => idleWindow(hostile.detail),
    });
    // reported on connect, as an agent reports the outcome of its last update after a restart
    device.lastUpdate = {
      assignmentVersion: 0,
      outcome: 'failed',
      reasonCode: 'load_failed',
      message: hostile.message,
      at: new Date().toISOString(),
    };
    device.start();
    device.startTelemetry(200);
    try {
      await waitFor(() => device.connected, 20_000, 'device connected', polling());
      const page = await browser.newPage();
      await signIn(page, web, cp.token);
      await page.goto(`${web}/devices/${deviceId}`);
      const text = async (testId: string) => (await page.textContent(`[data-testid="${testId}"]`)) ?? '';
      // positive controls: every hostile string arrived and is on the page, character for character
      await page
        .waitForFunction((m) => document.body.innerText.includes(m), hostile.message, { timeout: 30_000 })
        .catch(async (e: unknown) => {
          throw new Error(`${String(e)}\n--- page text ---\n${await page.innerText('body')}`);
        });
      await page.waitForFunction(
        (d) => document.querySelector('[data-testid="latest-power"]')?.getAttribute('title') === d,
        hostile.detail,
        { timeout: 30_000 },
      );
      expect(await text('device-name')).toBe(hostile.name);
      expect(await text('state-table')).toContain(hostile.message);
      expect(await page.textContent('body')).toContain(hostile.hardware);
      // and none of it became markup or ran
      expect(await page.evaluate(() => (window as unknown as { __xss?: string }).__xss)).toBeUndefined();
      expect(await page.locator('img[src="x"], svg[onload], script:has-text("__xss")').count()).toBe(0);

      // the fleet list shows the name too
      await page.goto(`${web}/devices?search=${encodeURIComponent('<img')}`);
      await page.waitForFunction((n) => document.body.innerText.includes(n), hostile.name, { timeout: 30_000 });
      expect(await page.evaluate(() => (window as unknown as { __xss?: string }).__xss)).toBeUndefined();
      expect(await page.locator('img[src="x"]').count()).toBe(0);
      await page.close();
    } finally {
      await device.stop();
    }
  });
});

describe('device secret rotation on the device page', () => {
  it('an admin rotates a device secret: asked first, the new secret shown once with a copy button, the old one refused; a viewer has no control', async () => {
    const { cp, browser, web } = started();
    const {
      deviceId,
      deviceSecret: old,
      device,
    } = await enrollWindowedDevice(cp, {
      scenario: 'robotic_manipulation',
      name: 'e2e-rotate',
      agentVersion: 'e2e-rotate',
      hardwareProfile: hardwarePreset('edge-npu-trading'),
      window: () => idleWindow('profile estimate'),
    });
    // an artifact download with the device's Basic credential: 401 when the credential is refused
    // (no such artifact: any other answer means the secret was accepted)
    const download = async (secret: string) =>
      (
        await fetch(`${cp.api}/api/v1/artifacts/${'a'.repeat(64)}`, {
          headers: { authorization: `Basic ${Buffer.from(`${deviceId}:${secret}`).toString('base64')}` },
        })
      ).status;
    expect(await download(old)).not.toBe(401);
    device.start();
    try {
      await waitFor(() => device.connected, 20_000, 'device connected', polling());

      // a viewer sees the device, and neither rotation nor revocation
      const { secret: viewerToken } = await callApi<{ secret: string }>(cp.api, cp.token, 'POST', '/api/v1/tokens', {
        name: 'e2e viewer',
        role: 'viewer',
      });
      const viewing = await browser.newContext();
      const viewer = await viewing.newPage();
      await signIn(viewer, web, viewerToken);
      await viewer.goto(`${web}/devices/${deviceId}`);
      await viewer.waitForSelector('[data-testid="device-name"]');
      // the role is known (the controls wait for it)
      await viewer.waitForFunction(() => document.querySelector('[data-testid="nav-who"]')?.textContent?.includes('viewer') === true);
      expect(await viewer.locator('[data-testid="device-rotate-secret"], [data-testid="device-revoke"]').count()).toBe(0);
      await viewing.close();

      // the admin: asked first, with what happens to the device
      const admin = await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
      const page = await admin.newPage();
      await signIn(page, web, cp.token);
      await page.goto(`${web}/devices/${deviceId}`);
      await page.click('[data-testid="device-rotate-secret"]');
      const question = (await page.textContent('[data-testid="device-rotate-confirm"]')) ?? '';
      expect(question).toContain('live session ends at once');
      expect(question).toContain('out of band');
      expect(await download(old)).not.toBe(401);
      await page.click('[data-testid="device-rotate-yes"]');
      await page.waitForSelector('[data-testid="device-secret-value"]');
      const fresh = ((await page.textContent('[data-testid="device-secret-value"]')) ?? '').trim();
      expect(fresh.length).toBeGreaterThanOrEqual(32);
      expect(fresh).not.toBe(old);
      expect(await page.textContent('[data-testid="device-secret"]')).toContain('not shown again');

      // from now on the old secret is refused and the new one accepted; the live session ended
      expect(await download(old)).toBe(401);
      expect(await download(fresh)).not.toBe(401);
      await waitFor(() => !device.connected, 20_000, 'the session on the old secret ended', polling());
      // (its reconnects with the old secret would go on counting as failures)
      await device.stop();

      await page.click('[data-testid="device-secret-copy"]');
      expect(await page.textContent('[data-testid="device-secret-copied"]')).toContain('Copied');
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(fresh);

      // shown once: "Done" drops it, and the page never gets it again
      await page.click('[data-testid="device-secret-done"]');
      // React renders after the click returns: wait for the secret to leave (a timeout if it stays)
      await page.locator('[data-testid="device-secret-value"]').waitFor({ state: 'detached', timeout: 10_000 });
      expect(await page.locator('[data-testid="device-secret-value"]').count()).toBe(0);
      await page.reload();
      await page.waitForSelector('[data-testid="device-rotate-secret"]');
      expect(await page.content()).not.toContain(fresh);
      await admin.close();
    } finally {
      await device.stop();
    }
  });
});
