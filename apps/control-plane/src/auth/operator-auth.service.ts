import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { OperatorSession } from '@edge-fleet/shared/api';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { AuditRepository } from '../infra/audit.repository.js';
import type { Logger } from '../infra/logger.js';
import { newSecret, sha256Hex } from '../infra/secrets.js';
import { CONFIG, LOGGER } from '../infra/tokens.js';
import { actorOfToken, ApiTokenRepository, type Operator } from './api-token.repository.js';
import { CredentialCache } from './credential-cache.js';
import type { DevicePlace } from './scope.js';

export const OPERATOR_TOKEN_FILE = 'operator-token';

/** Operator tokens start with this; dashboard session credentials with SESSION_PREFIX. */
export const TOKEN_PREFIX = 'eft_op_';
export const SESSION_PREFIX = 'eft_ses_';

/** How much of a token a list shows: the prefix and five characters of the secret (30 bits: enough to recognise, far from enough to guess). */
const SHOWN_CHARS = TOKEN_PREFIX.length + 5;

/** A new operator token: the secret (shown once), the hash stored, the prefix listed. */
export function newOperatorToken(): { secret: string; hash: string; prefix: string } {
  const secret = `${TOKEN_PREFIX}${newSecret()}`;
  return { secret, hash: sha256Hex(secret), prefix: secret.slice(0, SHOWN_CHARS) };
}

@Injectable()
export class OperatorAuthService {
  private readonly log: Logger;

  constructor(
    private readonly tokens: ApiTokenRepository,
    @Inject(CredentialCache) private readonly credentials: CredentialCache,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child('operator-auth');
  }

  /**
   * Resolves `Authorization: Bearer <credential>` to an operator, or throws `unauthorized`: an
   * operator token, or a dashboard session exchanged for one.
   */
  async authenticate(header: string | undefined): Promise<Operator> {
    const m = /^Bearer ([A-Za-z0-9_-]{16,256})$/.exec(header ?? '');
    if (!m?.[1]) throw new AppError('unauthorized', 'an operator token is required: Authorization: Bearer <token>');
    const credential = m[1];
    const hash = sha256Hex(credential);
    const known = this.credentials.get(hash);
    if (known) return known;
    const stamp = this.credentials.stamp();
    const session = credential.startsWith(SESSION_PREFIX);
    const found = session ? await this.tokens.findSession(hash) : await this.tokens.findActive(hash);
    if (!found)
      throw new AppError(
        'unauthorized',
        session
          ? 'the session has ended (signed out, expired, or its token was revoked or rotated)'
          : 'operator token is not valid (unknown, revoked or expired)',
      );
    this.credentials.keep(hash, found, stamp);
    return found.operator;
  }

  /** Where a device sits (scenario, labels), for a scoped token's check; null when there is none. */
  devicePlace(id: string): Promise<DevicePlace | null> {
    return this.tokens.devicePlace(id);
  }

  /** A dashboard session for the token `op` presented: only a token opens one, not another session. */
  async openSession(op: Operator, address: string): Promise<OperatorSession> {
    if (op.sessionId) {
      const reason = 'a session cannot open another session: sign in with the operator token';
      // audited like the guard's refusals: a stolen session trying to outlive its sign-out shows here
      await this.denied(op, 'POST /api/v1/sessions', reason);
      throw new AppError('forbidden', reason);
    }
    const session = `${SESSION_PREFIX}${newSecret()}`;
    const expiresAt = new Date(Date.now() + this.config.OPERATOR_SESSION_HOURS * 3_600_000);
    await this.tokens.createSession(op.tokenId, sha256Hex(session), expiresAt, address);
    return { session, expiresAt: expiresAt.toISOString(), name: op.name, role: op.role };
  }

  /** Sign-out: the session presented ends, server-side. */
  async closeSession(op: Operator): Promise<void> {
    if (!op.sessionId)
      throw new AppError('invalid_request', 'Authorization: this is an operator token, not a session; revoke a token instead');
    await this.tokens.revokeSession(op.sessionId, actorOf(op));
    await this.credentials.forgetAll();
  }

  /**
   * A request refused for its role or scope (403), audited: who, what, and why. A failure to audit
   * is logged and does not turn the 403 into a 500.
   */
  async denied(op: Operator, what: string, reason: string): Promise<void> {
    try {
      await this.audit.record({
        actor: actorOf(op),
        action: 'auth.denied',
        targetType: 'request',
        targetId: what.slice(0, 200),
        details: { role: op.role, scenarios: op.scenarios, labels: op.labels, reason },
      });
    } catch (e) {
      this.log.error('denial not audited', { what, error: e instanceof Error ? e.message : String(e) });
    }
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
    const token = newOperatorToken();
    await this.tokens.create({ name: 'bootstrap admin', tokenHash: token.hash, role: 'admin', prefix: token.prefix });
    await mkdir(this.config.dataDir, { recursive: true });
    await writeFile(file, `${token.secret}\n`, { mode: 0o600 });
    return token.secret;
  }
}

/** How the audit names an operator (actorOfToken). */
export function actorOf(op: Operator): string {
  return actorOfToken(op.tokenId);
}
