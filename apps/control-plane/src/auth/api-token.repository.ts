import { Inject, Injectable } from '@nestjs/common';
import type { Db } from '../infra/prisma.js';
import { PRISMA } from '../infra/tokens.js';

export interface Operator {
  tokenId: string;
  name: string;
  role: 'admin' | 'operator' | 'viewer';
}

@Injectable()
export class ApiTokenRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  async findActive(tokenHash: string): Promise<Operator | null> {
    const row = await this.db.apiToken.findUnique({
      where: { tokenHash },
      select: { id: true, name: true, role: true, revokedAt: true },
    });
    if (!row || row.revokedAt) return null;
    return { tokenId: row.id, name: row.name, role: row.role as Operator['role'] };
  }

  async create(name: string, tokenHash: string, role: Operator['role']): Promise<string> {
    return this.db.$transaction(async (tx) => {
      const row = await tx.apiToken.create({ data: { name, tokenHash, role }, select: { id: true } });
      await tx.auditEvent.create({
        data: { actor: 'system', action: 'api_token.create', targetType: 'api_token', targetId: row.id, details: { name, role } },
      });
      return row.id;
    });
  }
}
