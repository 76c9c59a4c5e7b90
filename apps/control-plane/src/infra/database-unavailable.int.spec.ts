import { ApiTokenSecretSchema } from '@edge-fleet/shared/api';
import type { TcpProxy } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonPost, startHarnessBehindProxy, type Harness } from '../test-support/harness.js';

/**
 * Postgres refusing connections: the dashboard's tRPC calls used to answer 401 "an operator token is
 * required" (the token check failed on the database and was taken for a missing token) and any other
 * database failure inside a procedure 500, where REST answered 503 and opened the database breaker.
 */
describe('the database away is a 503 to retry, on REST and tRPC alike (RELIABILITY row 19)', () => {
  let proxy: TcpProxy;
  let h: Harness;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ h, proxy, close } = await startHarnessBehindProxy());
  }, 60_000);

  afterAll(() => close(), 30_000);

  it('a tRPC call whose token cannot be checked answers 503 unavailable, not "a token is required", and opens the breaker', async () => {
    expect((await h.api('/trpc/fleet.overview')).status).toBe(200);
    // a token never used yet: no replica has checked it, so its check needs the database
    const created = await jsonPost(h, '/api/v1/tokens', { name: 'unchecked', role: 'viewer' });
    expect(created.status).toBe(201);
    const { secret } = ApiTokenSecretSchema.parse(await created.json());
    await proxy.cut('refuse');
    try {
      // the first call meets the failure itself (the breaker is still closed): tRPC's own path
      const first = await fetch(`${h.cp.url}/trpc/fleet.overview`, {
        headers: { authorization: `Bearer ${secret}` },
        signal: AbortSignal.timeout(15_000),
      });
      const body = await first.text();
      expect(first.status, body).toBe(503);
      expect(body).toContain('SERVICE_UNAVAILABLE');
      expect(body).not.toContain('token is required');
      // it opened the breaker: REST is answered at once, with Retry-After
      const rest = await h.api('/api/v1/devices', { signal: AbortSignal.timeout(15_000) });
      expect(rest.status).toBe(503);
      expect(rest.headers.get('retry-after')).toBe('1');
      expect(await rest.text()).toContain('not reachable (since');
    } finally {
      await proxy.restore();
    }
    // back: the breaker's probe closes it
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && (status = (await h.api('/trpc/fleet.overview')).status) !== 200)
      await new Promise((r) => setTimeout(r, 200));
    expect(status).toBe(200);
  }, 60_000);
});
