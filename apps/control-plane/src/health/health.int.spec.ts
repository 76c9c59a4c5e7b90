import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('health endpoints', () => {
  it('answers liveness uncached, for GET and HEAD, with or without a query', async () => {
    for (const path of ['/healthz', '/healthz?probe=lb-1']) {
      const res = await fetch(`${h.cp.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toEqual({ status: 'ok' });
    }
    const head = await fetch(`${h.cp.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('leaves every other request to the API: readiness, errors in the API shape, other methods', async () => {
    const ready = await fetch(`${h.cp.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { postgres: true, redis: true, mqtt: true } });
    const post = await fetch(`${h.cp.url}/healthz`, { method: 'POST' });
    expect(post.status).toBe(404);
    expect(await post.json()).toMatchObject({ error: { code: 'not_found' } });
    expect((await fetch(`${h.cp.url}/healthzz`)).status).toBe(404);
  });
});
