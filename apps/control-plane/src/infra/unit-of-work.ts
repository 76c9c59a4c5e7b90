import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import type { Prisma } from '../generated/prisma/client.js';
import { withTransaction } from './pg-transaction.js';
import type { Db } from './prisma.js';
import { PG_POOL, PRISMA } from './tokens.js';

declare const TX: unique symbol;

/**
 * An open transaction. Opaque outside the data layer: a service only passes it from one repository
 * method to the next, so every statement of a unit of work lands in the same transaction, and no
 * client or query builder reaches the service.
 */
export interface Tx {
  readonly [TX]: 'prisma';
}

/**
 * A transaction on the pg driver, for work whose parameters run to megabytes (a 10,000-device
 * assignment): Prisma took over a second just to hand them over. Raw SQL only.
 */
export interface BulkTx {
  readonly [TX]: 'pg';
}

/** Either kind: what a repository method written in plain SQL accepts. */
export type AnyTx = Tx | BulkTx;

type Handle = { kind: 'prisma'; client: Prisma.TransactionClient } | { kind: 'pg'; client: PoolClient };

export interface TxOptions {
  /** How long the transaction may run (default: TRANSACTION_DEFAULTS in prisma.ts). */
  timeoutMs?: number;
  /** How long to wait for a connection (default: TRANSACTION_DEFAULTS in prisma.ts). */
  maxWaitMs?: number;
}

/**
 * Opens transactions for work that spans repositories. The service says what belongs together
 * (`run(async (tx) => { await a.write(tx, …); await b.write(tx, …); })`); the repositories say how.
 */
@Injectable()
export class UnitOfWork {
  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  run<T>(fn: (tx: Tx) => Promise<T>, options: TxOptions = {}): Promise<T> {
    return this.db.$transaction((client) => fn(asTx(client)), {
      ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
      ...(options.maxWaitMs === undefined ? {} : { maxWait: options.maxWaitMs }),
    });
  }

  /** A transaction on the pg driver (see BulkTx); the repositories called with it must take `AnyTx`. */
  runBulk<T>(fn: (tx: BulkTx) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, (client) => fn(asBulkTx(client)));
  }
}

// ---------------------------------------------------------------- for repositories only

/** Wraps a Prisma transaction a repository opened itself, to hand it to another repository. */
export function asTx(client: Prisma.TransactionClient): Tx {
  const h: Handle = { kind: 'prisma', client };
  return h as unknown as Tx;
}

/** Wraps a pg client inside a transaction a repository opened itself. */
export function asBulkTx(client: PoolClient): BulkTx {
  const h: Handle = { kind: 'pg', client };
  return h as unknown as BulkTx;
}

/** The Prisma client of a transaction. */
export function prismaOf(tx: Tx): Prisma.TransactionClient {
  const h = tx as unknown as Handle;
  if (h.kind !== 'prisma') throw new Error('a Prisma statement was given a pg transaction');
  return h.client;
}

/** Runs one raw statement ($1, $2… parameters) in the transaction, whichever its kind. */
export async function txQuery<T>(tx: AnyTx, text: string, params: readonly unknown[] = []): Promise<T[]> {
  const h = tx as unknown as Handle;
  return h.kind === 'prisma' ? h.client.$queryRawUnsafe<T[]>(text, ...params) : ((await h.client.query(text, [...params])).rows as T[]);
}

/** Like txQuery for a statement whose rows are not needed; returns the number of rows it touched. */
export async function txExecute(tx: AnyTx, text: string, params: readonly unknown[] = []): Promise<number> {
  const h = tx as unknown as Handle;
  return h.kind === 'prisma' ? h.client.$executeRawUnsafe(text, ...params) : ((await h.client.query(text, [...params])).rowCount ?? 0);
}
