import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { ADMIN_URL, freePort } from '../test-support/harness.js';
import { isDataError } from './pg-errors.js';

/** The error a real query or connection gives, for the classifier to judge. */
async function errorOf(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('Postgres errors: the row or the database (issue 10 item 1)', () => {
  it('a refused row is a data error: NUL byte, year 0000, integer overflow, NOT NULL constraint', async () => {
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    try {
      for (const [sql, args] of [
        ['SELECT $1::text', ['nul\u0000byte']],
        ['SELECT $1::timestamptz', ['0000-01-01T00:00:00Z']],
        ['SELECT $1::int4', [2 ** 40]],
      ] as const) {
        expect(isDataError(await errorOf(() => c.query(sql, [...args]))), sql).toBe(true);
      }
      await c.query('CREATE TEMP TABLE t (v int NOT NULL)');
      expect(isDataError(await errorOf(() => c.query('INSERT INTO t VALUES (NULL)')))).toBe(true);
    } finally {
      await c.end();
    }
  });

  it('an unreachable database, a dropped connection or our own SQL error is not a data error (retried, never dead-lettered)', async () => {
    const u = new URL(ADMIN_URL);
    u.port = String(await freePort());
    const refused = await errorOf(async () => {
      const c = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 2_000 });
      await c.connect();
    });
    expect(isDataError(refused)).toBe(false);
    const c = new pg.Client({ connectionString: ADMIN_URL });
    await c.connect();
    const killer = new pg.Client({ connectionString: ADMIN_URL });
    await killer.connect();
    try {
      c.on('error', () => undefined); // the terminated connection also emits one
      expect(isDataError(await errorOf(() => c.query('SELECT no_such_column FROM pg_class')))).toBe(false);
      const pid = ((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0] ?? { pid: 0 }).pid;
      await killer.query('SELECT pg_terminate_backend($1)', [pid]);
      expect(isDataError(await errorOf(() => c.query('SELECT 1')))).toBe(false);
    } finally {
      await killer.end();
      await c.end().catch(() => undefined);
    }
  });
});
