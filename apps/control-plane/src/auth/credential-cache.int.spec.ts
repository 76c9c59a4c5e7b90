import { ApiTokenSecretSchema, OperatorSessionSchema } from '@edge-fleet/shared/api';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeNotices, type NoticeCause } from '../infra/change-notices.js';
import { jsonPost, startHarness, TEST_REDIS_URL, waitFor, type Harness } from '../test-support/harness.js';

/**
 * Issue 15 (read path) on issue 12's guarantees: a replica trusts an operator credential it has
 * verified for OPERATOR_AUTH_CACHE_MS without asking Postgres, and yet a revocation, rotation or
 * sign-out made through any replica is refused at once by every replica (RELIABILITY row 24).
 * Two control planes of one deployment (one database, one QUEUE_PREFIX) on real Redis.
 */
let a: Harness;
let b: Harness;
let db: pg.Client;
let redis: Redis;

beforeAll(async () => {
  a = await startHarness();
  b = await startHarness({ QUEUE_PREFIX: a.config.QUEUE_PREFIX }, { dbUrl: a.dbUrl });
  db = new pg.Client({ connectionString: a.dbUrl });
  await db.connect();
  redis = new Redis(TEST_REDIS_URL);
}, 90_000);

afterAll(async () => {
  redis.disconnect();
  await db.end();
  await b.close();
  await a.close();
});

const as = (h: Harness, credential: string, path = '/trpc/fleet.overview', init: RequestInit = {}) =>
  fetch(`${h.cp.url}${path}`, { ...init, headers: { authorization: `Bearer ${credential}`, ...(init.headers ?? {}) } });

async function newToken(name: string): Promise<{ id: string; secret: string }> {
  const res = await jsonPost(a, '/api/v1/tokens', { name, role: 'viewer' });
  expect(res.status, await res.clone().text()).toBe(201);
  const { token, secret } = ApiTokenSecretSchema.parse(await res.json());
  return { id: token.id, secret };
}

/** The credential works on both replicas (so each has verified it, and may trust it for the bound). */
async function usedOnBoth(credential: string): Promise<void> {
  expect((await as(a, credential)).status).toBe(200);
  expect((await as(b, credential)).status).toBe(200);
}

describe('operator credentials verified by a replica', () => {
  it('row 24: a token revoked through one replica is refused at once by the other, which had just verified it', async () => {
    const t = await newToken('revoked on a');
    await usedOnBoth(t.secret);
    expect((await a.api(`/api/v1/tokens/${t.id}/revoke`, { method: 'POST' })).status).toBe(200);
    expect((await as(b, t.secret)).status).toBe(401);
    expect((await as(a, t.secret)).status).toBe(401);
  });

  it('row 24: a token rotated through one replica: the old secret and its sessions are refused at once by the other', async () => {
    const t = await newToken('rotated on b');
    const signIn = await as(a, t.secret, '/api/v1/sessions', { method: 'POST' });
    expect(signIn.status).toBe(201);
    const { session } = OperatorSessionSchema.parse(await signIn.json());
    await usedOnBoth(t.secret);
    await usedOnBoth(session);
    expect((await b.api(`/api/v1/tokens/${t.id}/rotate`, { method: 'POST' })).status).toBe(200);
    for (const h of [a, b]) {
      expect((await as(h, t.secret)).status).toBe(401);
      expect((await as(h, session)).status).toBe(401);
    }
  });

  it('row 24: a session signed out through one replica is refused at once by the other', async () => {
    const t = await newToken('signed out');
    const res = await as(b, t.secret, '/api/v1/sessions', { method: 'POST' });
    const { session } = OperatorSessionSchema.parse(await res.json());
    await usedOnBoth(session);
    expect((await as(a, session, '/api/v1/sessions/current', { method: 'DELETE' })).status).toBe(204);
    expect((await as(b, session)).status).toBe(401);
    expect((await as(a, session)).status).toBe(401);
  });

  it('a change made behind the API (SQL by hand) is trusted no longer than OPERATOR_AUTH_CACHE_MS', async () => {
    const bound = a.config.OPERATOR_AUTH_CACHE_MS;
    expect(bound).toBeGreaterThan(0);
    const t = await newToken('revoked by hand');
    expect((await as(a, t.secret)).status).toBe(200);
    const revokedAt = Date.now();
    await db.query(`UPDATE "ApiToken" SET "revokedAt" = now() WHERE id = $1`, [t.id]);
    // verified a moment ago: trusted without a query, within the bound
    expect((await as(a, t.secret)).status).toBe(200);
    await waitFor(async () => (await as(a, t.secret)).status === 401, bound + 2_000, 'the token refused', { intervalMs: 50 });
    expect(Date.now() - revokedAt).toBeLessThan(bound + 1_000);
  });

  it('a replica whose notices subscription is cut forgets every credential it verified, and trusts again once subscribed', async () => {
    const notices = b.cp.app.get(ChangeNotices);
    expect(notices.live).toBe(true);
    const causes: NoticeCause[] = [];
    const stop = notices.on('operator-credentials', (cause) => causes.push(cause));
    try {
      const t = await newToken('notices cut');
      await usedOnBoth(t.secret);
      // revoked behind the API's back, so only the lost subscription can make b forget it within the bound
      await db.query(`UPDATE "ApiToken" SET "revokedAt" = now() WHERE id = $1`, [t.id]);
      const name = `${b.config.QUEUE_PREFIX}-notices`;
      const clients = String(await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
      const ids = clients
        .split('\n')
        .filter((line) => line.includes(` name=${name} `))
        .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1]);
      expect(ids.length).toBeGreaterThan(0);
      // both replicas' connections bear the deployment's name: killing them is what a Redis restart does
      for (const id of ids) await redis.call('CLIENT', 'KILL', 'ID', String(id));
      await waitFor(() => causes.includes('subscription-lost'), 5_000, 'the subscription lost', { intervalMs: 5 });
      expect((await as(b, t.secret)).status).toBe(401);
      await waitFor(() => causes.includes('subscription-back') && notices.live, 10_000, 'the subscription back', { intervalMs: 20 });
      const u = await newToken('after the cut');
      await usedOnBoth(u.secret);
    } finally {
      stop();
    }
  });
});
