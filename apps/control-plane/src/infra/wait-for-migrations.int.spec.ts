import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_URL, freshDatabase } from '../test-support/harness.js';
import { Logger } from './logger.js';
import { ensureDatabase, waitForMigrations } from './services.js';

const log = new Logger('test', 'error');
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
});

describe('the worker waits for the schema instead of migrating', () => {
  it('goes on at once on a migrated database', async () => {
    const db = await freshDatabase('ef_test_wait');
    drops.push(db.drop);
    const t0 = Date.now();
    await waitForMigrations(db.url, 5_000, log);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('waits on an empty database, then refuses with a message that says who migrates', async () => {
    const name = `ef_test_wait_empty_${randomBytes(4).toString('hex')}`;
    const u = new URL(ADMIN_URL);
    u.pathname = `/${name}`;
    await ensureDatabase(u.toString());
    drops.push(async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    });
    const t0 = Date.now();
    await expect(waitForMigrations(u.toString(), 1_500, log)).rejects.toThrow(
      /not migrated for this worker.*start the api \(or main\) first/,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500);
  });
});
