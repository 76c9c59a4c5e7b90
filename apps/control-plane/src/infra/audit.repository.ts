import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { AuditPage, AuditQuery, AuditVerification } from '@edge-fleet/shared/api';
import type { Pool } from 'pg';
import { limits, scopeCondition, scopedDeviceIds, scopedRolloutIds, type DeviceScope } from './scope-sql.js';
import { PG_POOL } from './tokens.js';
import type { JsonValue } from './json.js';
import { withTransaction } from './pg-transaction.js';
import { asBulkTx, txExecute, txQuery, type AnyTx } from './unit-of-work.js';

export interface AuditInput {
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  details?: JsonValue;
}

/** Events per statement: one JSON parameter, unpacked by Postgres. */
const BATCH = 2_000;

/** Events read per page when the chain is verified. */
const VERIFY_PAGE = 5_000;

/** An event as stored: what its hash covers, and the chain's two hashes. */
type StoredEvent = AuditRow & { prevHash: string | null; hash: string | null };

const COLUMNS = `id::text AS id, at, actor, action, "targetType", "targetId", details, "prevHash", hash`;

/**
 * Append-only audit log, the only writer of "AuditEvent": written in the same transaction as the
 * change it records, each event hash-chained to the one before it.
 */
@Injectable()
export class AuditRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** An event that goes with no change of its own (a refused login, a lockout): appended in a transaction of its own. */
  async record(e: AuditInput): Promise<void> {
    await withTransaction(this.pool, (client) => appendAudit(asBulkTx(client), e));
  }

  /** Newest first, filtered, `before` an id (keyset paging). */
  /**
   * A page of events, newest first. With a `scope`, only events whose target lies in it: a device
   * in the scope, a rollout whose target lies in it, or a scenario of a scenario scope. Other
   * targets (tokens, rules, requests, other devices) are another scope's or the whole fleet's.
   */
  async list(q: AuditQuery, scope?: DeviceScope): Promise<AuditPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (limits(scope)) {
      const param = (v: unknown) => `$${params.push(v)}`;
      where.push(`(("targetType" = 'device' AND "targetId" IN (${scopedDeviceIds(scope, param)}))
        OR ("targetType" = 'rollout' AND "targetId" IN (${scopedRolloutIds(scope, param)}))
        OR ("targetType" = 'scenario' AND ${scopeCondition(scope, { scenario: '"targetId"' }, param)}))`);
    }
    if (q.actor !== undefined) add('actor = ?', q.actor);
    if (q.action !== undefined) add('action = ?', q.action);
    if (q.targetType !== undefined) add('"targetType" = ?', q.targetType);
    if (q.targetId !== undefined) add('"targetId" = ?', q.targetId);
    if (q.from !== undefined) add('at >= ?', q.from);
    if (q.to !== undefined) add('at < ?', q.to);
    if (q.before !== undefined) add('id < ?', q.before);
    params.push(q.limit + 1);
    const rows = (
      await this.pool.query<StoredEvent>(
        `SELECT ${COLUMNS} FROM "AuditEvent" ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY "AuditEvent".id DESC LIMIT $${params.length}`,
        params,
      )
    ).rows;
    const items = rows.slice(0, q.limit).map((r) => ({ ...r, at: r.at.toISOString() }));
    return { items, nextBefore: rows.length > q.limit ? Number(items.at(-1)?.id) : null };
  }

  /**
   * Recomputes the chain in id order: each hashed event must name the previous event's hash and
   * hash to what it stores. The first event that does not is the first broken link: changed
   * (its hash differs), or after a deleted or inserted one (its prevHash differs).
   */
  async verify(): Promise<AuditVerification> {
    let beforeChain = 0;
    let checked = 0;
    let prev: StoredEvent | null = null;
    let after = '0';
    for (;;) {
      const page = (
        await this.pool.query<StoredEvent>(
          `SELECT ${COLUMNS} FROM "AuditEvent" WHERE id > $1 ORDER BY "AuditEvent".id LIMIT ${VERIFY_PAGE}`,
          [after],
        )
      ).rows;
      for (const e of page) {
        if (e.hash === null) {
          if (prev?.hash) return broken(e.id, 'the event has no hash, inside the chain');
          beforeChain += 1;
        } else {
          const expectedPrev = prev?.hash ?? null;
          if (e.prevHash !== expectedPrev)
            return broken(
              e.id,
              `it names ${e.prevHash ?? 'no'} previous hash, the event before it (${prev?.id ?? 'none'}) has ${expectedPrev ?? 'none'}: an event before it was deleted, inserted or changed`,
            );
          if (auditHash(e.prevHash, e) !== e.hash) return broken(e.id, 'its content does not match its hash: the event was changed');
          checked += 1;
        }
        prev = e;
      }
      if (page.length < VERIFY_PAGE) break;
      after = page.at(-1)?.id ?? after;
    }
    const last = prev?.hash ? { id: prev.id, hash: prev.hash } : null;
    return { ok: true, checked, beforeChain, last, firstBroken: null };

    function broken(id: string, reason: string): AuditVerification {
      return { ok: false, checked, beforeChain, last: null, firstBroken: { id, reason } };
    }
  }

  append(tx: AnyTx, e: AuditInput): Promise<void> {
    return appendAudit(tx, e);
  }

  appendMany(tx: AnyTx, events: readonly AuditInput[]): Promise<void> {
    return appendAudits(tx, events);
  }
}

/** For repositories that record an event inside a transaction they opened themselves. */
export async function appendAudit(tx: AnyTx, e: AuditInput): Promise<void> {
  await appendAudits(tx, [e]);
}

/** Serialises appends until the transaction ends: each event's hash needs the one before it. */
export const CHAIN_LOCK = 7_428_190_311;

/**
 * Appends events to the hash chain: under the chain's lock, the last hash is read, each event gets
 * the next id of the sequence, the time and its hash, and they are inserted in batches.
 */
export async function appendAudits(tx: AnyTx, events: readonly AuditInput[]): Promise<void> {
  if (events.length === 0) return;
  await txQuery(tx, 'SELECT pg_advisory_xact_lock($1)::text AS locked', [CHAIN_LOCK]);
  const [last] = await txQuery<{ hash: string | null }>(tx, 'SELECT hash FROM "AuditEvent" ORDER BY id DESC LIMIT 1');
  const ids = (
    await txQuery<{ id: string }>(
      tx,
      `SELECT nextval(pg_get_serial_sequence('"AuditEvent"', 'id'))::text AS id FROM generate_series(1, $1::int)`,
      [events.length],
    )
  )
    .map((r) => BigInt(r.id))
    // the chain follows the ids
    .sort((a, b) => (a < b ? -1 : 1));
  const at = new Date();
  let prev = last?.hash ?? null;
  const rows = events.map((e, i) => {
    const row: AuditRow = {
      id: String(ids[i]),
      at,
      actor: e.actor,
      action: e.action,
      targetType: e.targetType,
      targetId: e.targetId,
      details: e.details ?? {},
    };
    const hash = auditHash(prev, row);
    const out = { ...row, at: at.toISOString(), prevHash: prev, hash };
    prev = hash;
    return out;
  });
  for (let i = 0; i < rows.length; i += BATCH) {
    await txExecute(
      tx,
      `INSERT INTO "AuditEvent" (id, at, actor, action, "targetType", "targetId", details, "prevHash", hash)
       SELECT x.id, x.at, x.actor, x.action, x."targetType", x."targetId", COALESCE(x.details, '{}'::jsonb), x."prevHash", x.hash
         FROM jsonb_to_recordset($1::jsonb)
           AS x(id bigint, at timestamptz, actor text, action text, "targetType" text, "targetId" text, details jsonb, "prevHash" text, hash text)`,
      [JSON.stringify(rows.slice(i, i + BATCH))],
    );
  }
}

/** What an event's hash covers: every column but the hashes. */
export interface AuditRow {
  id: string;
  at: Date;
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  details: JsonValue;
}

/** SHA-256 (hex) of the previous hash and the row in a fixed text form (JSON with sorted keys). */
export function auditHash(prevHash: string | null, r: AuditRow): string {
  const text = [prevHash ?? '', r.id, r.at.toISOString(), r.actor, r.action, r.targetType, r.targetId, canonicalJson(r.details)].join(
    '\x1f',
  );
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function canonicalJson(v: JsonValue): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  // a key whose value is undefined is not stored (JSON.stringify drops it), so it is not hashed either
  const keys = Object.keys(v)
    .filter((k) => (v as Record<string, JsonValue | undefined>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, JsonValue>)[k] ?? null)}`).join(',')}}`;
}
