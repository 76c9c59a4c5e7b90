import type { Pool, PoolClient } from 'pg';

/**
 * Runs `fn` in a transaction on a client of the pg pool. While the client is checked out it
 * listens for 'error' (a dropped connection emits one besides failing its query; without a
 * listener that is an uncaught exception), and a client that failed is destroyed, not pooled.
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
    broken ??= e instanceof Error ? e : new Error(String(e));
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
