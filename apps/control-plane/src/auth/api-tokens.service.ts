import { Inject, Injectable } from '@nestjs/common';
import type { ApiTokenSecret, ApiTokenView, CreateApiToken } from '@edge-fleet/shared/api';
import { AppError } from '../errors.js';
import { ApiTokenRepository } from './api-token.repository.js';
import { CredentialCache } from './credential-cache.js';
import { newOperatorToken } from './operator-auth.service.js';

/** Operator API tokens as an admin manages them: the secret is shown once (create, rotate) and only its hash is kept. */
@Injectable()
export class ApiTokensService {
  constructor(
    @Inject(ApiTokenRepository) private readonly tokens: ApiTokenRepository,
    @Inject(CredentialCache) private readonly credentials: CredentialCache,
  ) {}

  list(): Promise<ApiTokenView[]> {
    return this.tokens.list();
  }

  async create(input: CreateApiToken, actor: string): Promise<ApiTokenSecret> {
    const expiresAt = input.expiresAt === undefined ? null : new Date(input.expiresAt);
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw new AppError('invalid_request', 'expiresAt: must be in the future');
    const secret = newOperatorToken();
    const id = await this.tokens.create(
      {
        name: input.name,
        tokenHash: secret.hash,
        role: input.role,
        scenarios: input.scenarios,
        labels: input.labels,
        prefix: secret.prefix,
        expiresAt,
      },
      actor,
    );
    return { token: await this.found(id), secret: secret.secret };
  }

  /** A new secret; the old one, and every session signed in with it, stop working at once. */
  async rotate(id: string, actor: string): Promise<ApiTokenSecret> {
    const secret = newOperatorToken();
    const token = await this.tokens.rotate(id, secret.hash, secret.prefix, actor);
    if (token) {
      await this.credentials.forgetAll();
      return { token, secret: secret.secret };
    }
    const current = await this.found(id);
    throw new AppError('conflict', `token ${id} is ${current.status}: only an active token can be rotated; create a new one`);
  }

  /** Idempotent: revoking a revoked token answers it as it is. */
  async revoke(id: string, actor: string): Promise<ApiTokenView> {
    if (await this.tokens.revoke(id, actor)) await this.credentials.forgetAll();
    return this.found(id);
  }

  /** Maintenance: ended dashboard sessions are deleted (their history is in the audit). */
  purgeEndedSessions(now: Date): Promise<number> {
    return this.tokens.deleteEndedSessions(now);
  }

  private async found(id: string): Promise<ApiTokenView> {
    const token = await this.tokens.get(id);
    if (!token) throw new AppError('not_found', `no API token ${id}`);
    return token;
  }
}
