import { ApiTokenSecretSchema } from '@edge-fleet/shared/api';
import pg, { type Pool } from 'pg';
import { describe, expect, it } from 'vitest';
import { freshDatabase, jsonPost, startHarness } from '../test-support/harness.js';
import { PG_POOL } from './tokens.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A stopping control plane (SIGTERM) waited for every request and every query of its pool, however
 * long: a request waiting on a lock, or a database that stopped answering, kept the process up (and
 * a test's afterAll timed out in CI at 30 s, RELIABILITY row 19's file).
 */
describe('shutdown', () => {
  it('a stop ends within its grace while a request waits on a lock and a query still runs: the request’s connection is closed, the query left to end with the process', async () => {
    const db = await freshDatabase();
    const h = await startHarness({}, { dbUrl: db.url });
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    let stopped = false;
    let stop: Promise<unknown> | null = null;
    try {
      // a token never used yet: no replica has checked it, so its check reads ApiToken
      const created = await jsonPost(h, '/api/v1/tokens', { name: 'waits', role: 'viewer' });
      expect(created.status).toBe(201);
      const { secret } = ApiTokenSecretSchema.parse(await created.json());
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE "ApiToken" IN ACCESS EXCLUSIVE MODE');
      const request = fetch(`${h.cp.url}/api/v1/devices`, { headers: { authorization: `Bearer ${secret}` } }).then(
        (r) => `answered ${r.status}`,
        () => 'connection closed',
      );
      const query = h.cp.app
        .get<Pool>(PG_POOL)
        .query('SELECT pg_sleep(600)')
        .then(
          () => 'finished',
          () => 'ended',
        );
      // both reach Postgres and wait there
      for (let i = 0; i < 100; i++) {
        const r = await locker.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND (wait_event_type = 'Lock' OR query LIKE 'SELECT pg_sleep%')`,
        );
        if ((r.rows[0]?.n ?? 0) >= 2) break;
        await sleep(100);
      }
      stop = h.cp.stop().then(() => (stopped = true));
      // the jobs' grace, then the requests' and the pool's: well within a minute; without the bound, never
      await Promise.race([stop, sleep(45_000)]);
      expect(stopped).toBe(true);
      expect(await request).toBe('connection closed');
      await locker.query('ROLLBACK');
      // the query outlived the stop; cancelled, it ends
      await locker.query(
        `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()`,
      );
      expect(await query).toBe('ended');
    } finally {
      // whatever still waits ends with the lock and the cancelled query
      await locker
        .query(`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()`)
        .catch(() => undefined);
      await locker.end().catch(() => undefined);
      await (stop ?? h.cp.stop()).catch(() => undefined);
      await db.drop().catch(() => undefined);
    }
  }, 90_000);
});
