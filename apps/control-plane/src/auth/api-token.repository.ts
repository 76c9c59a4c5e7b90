import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { appendAudit } from '../infra/audit.repository.js';
import type { Db } from '../infra/prisma.js';
import { PG_POOL, PRISMA } from '../infra/tokens.js';
import { asTx } from '../infra/unit-of-work.js';

export interface Operator {
  tokenId: string;
  name: string;
  role: 'admin' | 'operator' | 'viewer';
}

@Injectable()
export class ApiTokenRepository {
  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  /**
   * Runs on every operator request, so it is one plain query on the pg pool: through Prisma it
   * cost about 1 ms of control-plane CPU per request (`pnpm bench:api`). Not cached, so a revoked
   * token stops working on its next request.
   */
  async findActive(tokenHash: string): Promise<Operator | null> {
    const res = await this.pool.query<{ id: string; name: string; role: Operator['role'] }>(
      'SELECT id, name, role FROM "ApiToken" WHERE "tokenHash" = $1 AND "revokedAt" IS NULL',
      [tokenHash],
    );
    const row = res.rows[0];
    return row ? { tokenId: row.id, name: row.name, role: row.role } : null;
  }

  async create(name: string, tokenHash: string, role: Operator['role']): Promise<string> {
    return this.db.$transaction(async (tx) => {
      const row = await tx.apiToken.create({ data: { name, tokenHash, role }, select: { id: true } });
      await appendAudit(asTx(tx), {
        actor: 'system',
        action: 'api_token.create',
        targetType: 'api_token',
        targetId: row.id,
        details: { name, role },
      });
      return row.id;
    });
  }

  /** Revokes a token (its next request is refused), audited in the same transaction; false when it was not active. */
  async revoke(id: string, actor = 'system'): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const { count } = await tx.apiToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
      if (count === 0) return false;
      await appendAudit(asTx(tx), { actor, action: 'api_token.revoke', targetType: 'api_token', targetId: id, details: {} });
      return true;
    });
  }
}
