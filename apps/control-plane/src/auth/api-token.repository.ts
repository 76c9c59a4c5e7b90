import { Inject, Injectable } from '@nestjs/common';
import { OperatorRoleSchema, type ApiTokenView, type OperatorRole } from '@edge-fleet/shared/api';
import type { Pool } from 'pg';
import { appendAudit } from '../infra/audit.repository.js';
import type { JsonValue } from '../infra/json.js';
import type { Db } from '../infra/prisma.js';
import { PG_POOL, PRISMA } from '../infra/tokens.js';
import { asTx } from '../infra/unit-of-work.js';

/** What a device is judged by for a token's scope: its scenario and labels as stored. */
export interface DevicePlace {
  scenario: string;
  labels: unknown;
}

export interface Operator {
  tokenId: string;
  name: string;
  role: OperatorRole;
  /** The scenarios the token may change (and whose devices it reads); empty: the whole fleet. */
  scenarios: string[];
  /** The labels every device it reads or acts on carries; empty: no label limit. */
  labels: Record<string, string>;
  /** The dashboard session the request came with; null for the token itself. */
  sessionId: string | null;
}

/** An operator as found for a credential, and until when the credential itself is valid (null: no expiry). */
export interface VerifiedOperator {
  operator: Operator;
  endsAt: Date | null;
}

export interface NewApiToken {
  name: string;
  tokenHash: string;
  role: OperatorRole;
  scenarios?: string[];
  labels?: Record<string, string>;
  prefix?: string;
  expiresAt?: Date | null;
}

/** A token's last use is written at most this often: a write per request would double the API's database load. */
const LAST_USED_RESOLUTION_MS = 60_000;

const ACTIVE = `t."revokedAt" IS NULL AND (t."expiresAt" IS NULL OR t."expiresAt" > now())`;

const VIEW_SELECT = {
  id: true,
  name: true,
  role: true,
  scenarios: true,
  labels: true,
  prefix: true,
  createdAt: true,
  expiresAt: true,
  rotatedAt: true,
  lastUsedAt: true,
  revokedAt: true,
} as const;

type ViewRow = {
  id: string;
  name: string;
  role: string;
  scenarios: string[];
  labels: unknown;
  prefix: string;
  createdAt: Date;
  expiresAt: Date | null;
  rotatedAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
};

type OperatorRow = {
  id: string;
  name: string;
  role: OperatorRole;
  scenarios: string[] | null;
  labels: unknown;
  lastUsedAt: Date | null;
  /** When the credential expires (a session: the earlier of its own and its token's expiry); null: never. */
  endsAt: Date | null;
};

/** Operator API tokens and the dashboard sessions exchanged for them; every change audited in its transaction. */
@Injectable()
export class ApiTokenRepository {
  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  /**
   * Runs on every operator request the CredentialCache does not answer, so it is one plain query on
   * the pg pool: through Prisma it cost about 1 ms of control-plane CPU per request (`pnpm bench:api`).
   */
  async findActive(tokenHash: string): Promise<VerifiedOperator | null> {
    const res = await this.pool.query<OperatorRow>(
      `SELECT t.id, t.name, t.role, t.scenarios, t.labels, t."lastUsedAt", t."expiresAt" AS "endsAt"
         FROM "ApiToken" t WHERE t."tokenHash" = $1 AND ${ACTIVE}`,
      [tokenHash],
    );
    return this.used(res.rows[0], null);
  }

  /** A session's operator: the session is neither revoked nor expired, nor is the token it was exchanged for. */
  async findSession(sessionHash: string): Promise<VerifiedOperator | null> {
    const res = await this.pool.query<OperatorRow & { sessionId: string }>(
      `SELECT t.id, t.name, t.role, t.scenarios, t.labels, t."lastUsedAt", s.id AS "sessionId", LEAST(s."expiresAt", t."expiresAt") AS "endsAt"
         FROM "OperatorSession" s JOIN "ApiToken" t ON t.id = s."tokenId"
        WHERE s."sessionHash" = $1 AND s."revokedAt" IS NULL AND s."expiresAt" > now() AND ${ACTIVE}`,
      [sessionHash],
    );
    const row = res.rows[0];
    return this.used(row, row?.sessionId ?? null);
  }

  private used(row: OperatorRow | undefined, sessionId: string | null): VerifiedOperator | null {
    if (!row) return null;
    if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS)
      // not awaited: a lost update only makes "last used" a minute older
      this.pool.query('UPDATE "ApiToken" SET "lastUsedAt" = now() WHERE id = $1', [row.id]).catch(() => undefined);
    const operator = {
      tokenId: row.id,
      name: row.name,
      role: row.role,
      scenarios: row.scenarios ?? [],
      labels: labelsOf(row.labels),
      sessionId,
    };
    return { operator, endsAt: row.endsAt };
  }

  /** Where a device sits, for a scoped token's check; null when there is no such device (or the id is not one). */
  async devicePlace(id: string): Promise<DevicePlace | null> {
    if (!UUID.test(id)) return null;
    const res = await this.pool.query<DevicePlace>('SELECT scenario, labels FROM "Device" WHERE id = $1::uuid', [id]);
    return res.rows[0] ?? null;
  }

  async create(t: NewApiToken, actor = 'system'): Promise<string> {
    return this.db.$transaction(async (tx) => {
      const row = await tx.apiToken.create({
        data: {
          name: t.name,
          tokenHash: t.tokenHash,
          role: t.role,
          scenarios: t.scenarios ?? [],
          labels: t.labels ?? {},
          prefix: t.prefix ?? '',
          expiresAt: t.expiresAt ?? null,
        },
        select: { id: true },
      });
      const details: JsonValue = {
        name: t.name,
        role: t.role,
        scenarios: t.scenarios ?? [],
        labels: t.labels ?? {},
        expiresAt: t.expiresAt?.toISOString() ?? null,
      };
      await appendAudit(asTx(tx), { actor, action: 'api_token.create', targetType: 'api_token', targetId: row.id, details });
      return row.id;
    });
  }

  async list(): Promise<ApiTokenView[]> {
    const rows = await this.db.apiToken.findMany({ select: VIEW_SELECT, orderBy: { createdAt: 'desc' } });
    return rows.map(view);
  }

  async get(id: string): Promise<ApiTokenView | null> {
    const row = await this.db.apiToken.findUnique({ where: { id }, select: VIEW_SELECT });
    return row ? view(row) : null;
  }

  /**
   * A new secret for an active token: the old one stops working at once, and so do the dashboard
   * sessions exchanged for it. Null when the token is not active (revoked, expired or unknown).
   */
  async rotate(id: string, tokenHash: string, prefix: string, actor: string): Promise<ApiTokenView | null> {
    return this.db.$transaction(async (tx) => {
      const now = new Date();
      const { count } = await tx.apiToken.updateMany({
        where: { id, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
        data: { tokenHash, prefix, rotatedAt: now },
      });
      if (count === 0) return null;
      const ended = await tx.operatorSession.updateMany({ where: { tokenId: id, revokedAt: null }, data: { revokedAt: now } });
      await appendAudit(asTx(tx), {
        actor,
        action: 'api_token.rotate',
        targetType: 'api_token',
        targetId: id,
        details: { sessionsEnded: ended.count },
      });
      const row = await tx.apiToken.findUniqueOrThrow({ where: { id }, select: VIEW_SELECT });
      return view(row);
    });
  }

  /** Revokes a token and its sessions (its next request is refused), audited in the same transaction; false when it was not active. */
  async revoke(id: string, actor = 'system'): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const now = new Date();
      const { count } = await tx.apiToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: now } });
      if (count === 0) return false;
      const ended = await tx.operatorSession.updateMany({ where: { tokenId: id, revokedAt: null }, data: { revokedAt: now } });
      await appendAudit(asTx(tx), {
        actor,
        action: 'api_token.revoke',
        targetType: 'api_token',
        targetId: id,
        details: { sessionsEnded: ended.count },
      });
      return true;
    });
  }

  /** A dashboard session for an active token, audited as a sign-in. */
  async createSession(tokenId: string, sessionHash: string, expiresAt: Date, address: string): Promise<string> {
    return this.db.$transaction(async (tx) => {
      const row = await tx.operatorSession.create({ data: { tokenId, sessionHash, expiresAt }, select: { id: true } });
      await appendAudit(asTx(tx), {
        actor: actorOfToken(tokenId),
        action: 'session.create',
        targetType: 'session',
        targetId: row.id,
        details: { expiresAt: expiresAt.toISOString(), address },
      });
      return row.id;
    });
  }

  /**
   * Deletes the sessions that have ended (expired or revoked) by `now`: they can never be used again,
   * and the audit keeps their sign-in and sign-out. One audit event for the pass, in its transaction,
   * when anything was deleted. Returns how many were.
   */
  async deleteEndedSessions(now: Date): Promise<number> {
    return this.db.$transaction(async (tx) => {
      const { count } = await tx.operatorSession.deleteMany({ where: { OR: [{ expiresAt: { lte: now } }, { revokedAt: { not: null } }] } });
      if (count > 0)
        await appendAudit(asTx(tx), {
          actor: 'system',
          action: 'session.purge',
          targetType: 'session',
          targetId: '*',
          details: { deleted: count },
        });
      return count;
    });
  }

  /** Ends a session (sign-out): its id is refused from then on. False when it had ended already. */
  async revokeSession(sessionId: string, actor: string): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const { count } = await tx.operatorSession.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: new Date() } });
      if (count === 0) return false;
      await appendAudit(asTx(tx), { actor, action: 'session.revoke', targetType: 'session', targetId: sessionId, details: {} });
      return true;
    });
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A stored label map: only string values count (the column is written from a validated body, but is JSON). */
function labelsOf(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function view(r: ViewRow): ApiTokenView {
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  const status = r.revokedAt ? 'revoked' : r.expiresAt && r.expiresAt.getTime() <= Date.now() ? 'expired' : 'active';
  return {
    id: r.id,
    name: r.name,
    role: OperatorRoleSchema.parse(r.role),
    scenarios: r.scenarios,
    labels: labelsOf(r.labels),
    prefix: r.prefix,
    status,
    createdAt: r.createdAt.toISOString(),
    expiresAt: iso(r.expiresAt),
    rotatedAt: iso(r.rotatedAt),
    lastUsedAt: iso(r.lastUsedAt),
    revokedAt: iso(r.revokedAt),
  };
}

/** How the audit names an operator: by token id (names are not unique and can be reused). */
export function actorOfToken(tokenId: string): string {
  return `operator:${tokenId}`;
}
