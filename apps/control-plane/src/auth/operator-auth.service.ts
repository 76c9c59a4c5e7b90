import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { newSecret, sha256Hex } from '../infra/secrets.js';
import { CONFIG } from '../infra/tokens.js';
import { ApiTokenRepository, type Operator } from './api-token.repository.js';

export const OPERATOR_TOKEN_FILE = 'operator-token';

@Injectable()
export class OperatorAuthService {
  constructor(
    private readonly tokens: ApiTokenRepository,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** Resolves `Authorization: Bearer <token>` to an operator, or throws `unauthorized`. */
  async authenticate(header: string | undefined): Promise<Operator> {
    const m = /^Bearer ([A-Za-z0-9_-]{16,256})$/.exec(header ?? '');
    if (!m?.[1]) throw new AppError('unauthorized', 'an operator token is required: Authorization: Bearer <token>');
    const op = await this.tokens.findActive(sha256Hex(m[1]));
    if (!op) throw new AppError('unauthorized', 'operator token is not valid');
    return op;
  }

  /**
   * The bootstrap admin token: reused from the data dir when it is still valid, else created
   * and written there (mode 0600). Only its hash is stored in the database.
   */
  async ensureBootstrapToken(): Promise<string> {
    const file = path.join(this.config.dataDir, OPERATOR_TOKEN_FILE);
    const existing = await readFile(file, 'utf8').then(
      (s) => s.trim(),
      () => null,
    );
    if (existing && (await this.tokens.findActive(sha256Hex(existing)))) return existing;
    const token = `eft_op_${newSecret()}`;
    await this.tokens.create('bootstrap admin', sha256Hex(token), 'admin');
    await mkdir(this.config.dataDir, { recursive: true });
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    return token;
  }
}
