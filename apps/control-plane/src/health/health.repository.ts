import { Inject, Injectable } from '@nestjs/common';
import type { Db } from '../infra/prisma.js';
import { PRISMA } from '../infra/tokens.js';

/** What readiness asks of Postgres. */
@Injectable()
export class HealthRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  /** Resolves when Postgres answers a query through the same client the API uses. */
  async ping(): Promise<void> {
    await this.db.$queryRawUnsafe('SELECT 1');
  }
}
