import type { Pool, PoolClient } from 'pg';
import { isDataError } from './pg-errors.js';

/**
 * Runs `fn` in a transaction on a client of the pg pool. While the client is checked out it
 * listens for 'error' (a dropped connection emits one besides failing its query; without a
 * listener that is an uncaught exception), and a client that failed (other than on a data error)
 * is destroyed, not pooled.
 */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (e: Error): void => {
    broken = e;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    // a refused row (a data error) leaves the connection sound once rolled back: keep it pooled, so
    // isolating poison telemetry does not open a new connection per failed attempt
    if (!isDataError(e)) broken ??= e instanceof Error ? e : new Error(String(e));
    await client.query('ROLLBACK').catch((rollbackFailed: unknown) => {
      broken ??= rollbackFailed instanceof Error ? rollbackFailed : new Error(String(rollbackFailed));
    });
    throw e;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
