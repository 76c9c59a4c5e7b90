import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;

/** Prisma over the pg driver adapter (no native query engine is available on our machines). */
export function createPrisma(databaseUrl: string): PrismaClient {
  // 20 connections: a transaction holding a row lock may still need one for a read outside it
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: 20, connectionTimeoutMillis: 5_000 }) });
}
