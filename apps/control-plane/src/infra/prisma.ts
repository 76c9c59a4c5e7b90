import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;

/**
 * How long a query waits for a connection of the pool before it fails: a connection attempt that
 * gets no answer (a partition) fails after this instead of hanging a request.
 */
export const CONNECTION_WAIT_MS = 5_000;

/**
 * Interactive transactions' defaults. Prisma's own (2 s to get a connection, 5 s to finish) turned a
 * burst of enrollments on a loaded machine into 500s ("Unable to start a transaction in the given
 * time", "Transaction already closed") while a plain query would still have been served: a
 * transaction waits for its connection as long as any other query (the pool's bound), and may run
 * for as long as a few statements take on a slow machine (seen: load average 10-30 on 2 cores)
 * waiting for the audit chain's lock, or for one broker round trip (10 s, DynsecClient) that
 * enrollment and secret rotation wait for before they commit. A unit of work that needs more says
 * so (`TxOptions`).
 */
export const TRANSACTION_DEFAULTS = { maxWait: CONNECTION_WAIT_MS, timeout: 15_000 } as const;

/** Prisma's pool: a transaction holding a row lock may still need a connection for a read outside it. */
export const PRISMA_CONNECTIONS = 20;

/** Prisma over the pg driver adapter (no native query engine is available on our machines). */
export function createPrisma(databaseUrl: string): PrismaClient {
  return new PrismaClient({
    adapter: new PrismaPg({ connectionString: databaseUrl, max: PRISMA_CONNECTIONS, connectionTimeoutMillis: CONNECTION_WAIT_MS }),
    transactionOptions: TRANSACTION_DEFAULTS,
  });
}
