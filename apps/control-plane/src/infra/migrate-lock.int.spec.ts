import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase } from '../test-support/harness.js';
import { Logger } from './logger.js';
import { migrate } from './services.js';

/** The advisory lock key `prisma migrate deploy` takes on the database it migrates (Prisma's own constant). */
const PRISMA_MIGRATE_LOCK = 72707369;

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

describe('migrations when replicas start together', () => {
  it('a replica waits past Prisma’s 10 s lock timeout while another one holds the migration lock', async () => {
    const db = await freshDatabase('ef_migrate_lock');
    cleanups.push(db.drop);
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    cleanups.unshift(() => holder.end().catch(() => undefined));
    await holder.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK]);
    const started = Date.now();
    const releasedAfterMs = 13_000; // longer than Prisma's own wait for the lock
    const release = setTimeout(() => void holder.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK]), releasedAfterMs);
    try {
      await migrate(db.url, new Logger('test', 'warn'));
    } finally {
      clearTimeout(release);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(releasedAfterMs);
  }, 90_000);
});
