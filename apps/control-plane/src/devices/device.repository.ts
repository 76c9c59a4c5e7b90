import { Inject, Injectable } from '@nestjs/common';
import { DeviceIdSchema, type DeviceStatus, type HardwareProfile, type Scenario } from '@edge-fleet/shared';
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { AppError } from '../errors.js';
import { appendAudit } from '../infra/audit.repository.js';
import { withTransaction } from '../infra/pg-transaction.js';
import { asBulkTx, asTx, txExecute, txQuery, type AnyTx } from '../infra/unit-of-work.js';
import type { Db } from '../infra/prisma.js';
import { sha256Hex } from '../infra/secrets.js';
import { PG_POOL, PRISMA } from '../infra/tokens.js';
import { deviceColumns, limits, scopeCondition, sqlParams, type DeviceScope } from '../infra/scope-sql.js';

export interface NewEnrollmentToken {
  tokenHash: string;
  scenario: Scenario;
  labels: Record<string, string>;
  maxUses: number;
  expiresAt: Date;
  createdBy: string;
}

/** What a clone detection saw (RELIABILITY row 13). */
export interface CloneEvidence {
  kind: 'takeover_storm' | 'interleaved_boots' | 'returning_boots';
  reason: string;
  /** Detections this event stands for (several coalesced into one audit event). */
  detections: number;
}

export interface NewDevice {
  id: string;
  name: string;
  secretHash: string;
  hardwareProfile: HardwareProfile;
}

export interface DeviceListQuery {
  page: number;
  /** keyset paging: the previous page's nextCursor (then `page` is not used) */
  after?: string | undefined;
  pageSize: number;
  scenario?: Scenario | undefined;
  status?: DeviceStatus | undefined;
  search?: string | undefined;
  /** A scoped token's reach: only devices of these scenarios (if any) carrying all these labels. */
  scope?: DeviceScope | undefined;
}

/** A device list page: the devices, the matching total and the cursor of the next page. */
export interface DeviceListPage {
  items: DeviceSummaryRow[];
  total: number;
  /** When `total` was counted: now, or up to TOTAL_CACHE_MS ago for totals above EXACT_TOTAL_LIMIT. */
  totalCountedAt: Date;
  /** Pass as `after` for the page that follows; null on the last page. */
  nextCursor: string | null;
}

interface DeviceTotal {
  total: number;
  at: Date;
}

/** One device as the list and the device page show it: one row of one query, no per-relation round trips. */
export interface DeviceSummaryRow {
  id: string;
  name: string;
  scenario: string;
  status: string;
  labels: unknown;
  enrolledAt: Date;
  lastSeenAt: Date | null;
  assignmentVersion: number;
  hardwareClass: string;
  accelerator: string;
  hardwareProfile: unknown;
  /** null when the device never reported */
  phase: string | null;
  activeVariantId: string | null;
  appliedAssignmentVersion: number | null;
  reportedAt: Date | null;
  lastUpdate: unknown;
  staleMetadata: unknown;
  inferenceUrl: string | null;
  placement: unknown;
  faultInjection: unknown;
}

// Prisma's DateTime columns are UTC `timestamp(3)`: read them as timestamptz so pg builds the right
// Date whatever the process's time zone; only a few fields of the report's payload are read
const SUMMARY_SQL = `
  SELECT d.id, d.name, d.scenario, d.status, d.labels, d."assignmentVersion",
         d."enrolledAt" AT TIME ZONE 'UTC' AS "enrolledAt", d."lastSeenAt" AT TIME ZONE 'UTC' AS "lastSeenAt",
         h."hardwareClass", h.accelerator, h.spec AS "hardwareProfile",
         r.phase, r."activeVariantId", r."appliedAssignmentVersion", r."reportedAt" AT TIME ZONE 'UTC' AS "reportedAt",
         r.payload -> 'lastUpdate' AS "lastUpdate", r.payload -> 'staleMetadata' AS "staleMetadata",
         r.payload ->> 'inferenceUrl' AS "inferenceUrl", r.payload -> 'placement' AS placement,
         r.payload -> 'faultInjection' AS "faultInjection"
    FROM "Device" d
    JOIN "HardwareProfile" h ON h.id = d."hardwareProfileId"
    LEFT JOIN "ReportedState" r ON r."deviceId" = d.id`;

/**
 * A named (prepared) statement: Postgres plans it once per connection instead of on every request
 * (planning the list's join took about as long as running it). One name per distinct SQL text;
 * the filters that are set pick the text, so there are a handful.
 */
function prepared(text: string, values: unknown[]): { name: string; text: string; values: unknown[] } {
  return { name: `device-list-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`, text, values };
}

/** Totals up to this many are counted exactly on every request (a capped count stops there). */
export const EXACT_TOTAL_LIMIT = 10_000;
/** Larger totals are counted in full at most this often per filter and replica. */
export const TOTAL_CACHE_MS = 5_000;

/** The list's keyset cursor: the (enrolledAt, id) of the last device of a page, opaque to clients. */
export function encodeCursor(enrolledAt: Date, id: string): string {
  return Buffer.from(`${enrolledAt.toISOString()}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { enrolledAt: Date; id: string } {
  const [at, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const enrolledAt = new Date(at ?? '');
  const device = DeviceIdSchema.safeParse(id);
  if (rest.length > 0 || !device.success || Number.isNaN(enrolledAt.getTime())) {
    throw new AppError('invalid_request', 'after: not a cursor this API gave out (pass nextCursor from the previous page)');
  }
  return { enrolledAt, id: device.data };
}

@Injectable()
export class DeviceRepository {
  /** Full counts of large filters, by filter: see total() */
  private readonly totals = new Map<string, { value?: DeviceTotal; pending?: Promise<DeviceTotal> }>();

  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  async createEnrollmentToken(t: NewEnrollmentToken): Promise<{ id: string; expiresAt: Date }> {
    return this.db.$transaction(async (tx) => {
      const row = await tx.enrollmentToken.create({ data: t, select: { id: true, expiresAt: true } });
      await appendAudit(asTx(tx), {
        actor: t.createdBy,
        action: 'enrollment_token.create',
        targetType: 'enrollment_token',
        targetId: row.id,
        details: { scenario: t.scenario, maxUses: t.maxUses, expiresAt: t.expiresAt.toISOString() },
      });
      return row;
    });
  }

  /**
   * Consumes one use of the token and creates the device, atomically. `beforeCommit` runs inside
   * the transaction once the token is accepted (the broker is told of the device): if it fails,
   * nothing is stored and the token keeps its use.
   *
   * A try that names the `requestId` of an earlier enrollment with this token is that enrollment
   * again (its answer was lost on the way): the same device gets `d.secretHash` in place of its
   * secret, no use of the token is taken, and `retried` says so; refused once that device has
   * connected (its credentials reached it), is revoked, or the try names other hardware.
   */
  async enroll(
    tokenHash: string,
    d: NewDevice & { requestId?: string | undefined },
    now: Date,
    beforeCommit: (e: { deviceId: string; retried: boolean }) => Promise<void> = () => Promise.resolve(),
  ): Promise<{ scenario: Scenario; deviceId: string; retried: boolean }> {
    return this.db.$transaction(async (tx) => {
      const token = await tx.enrollmentToken.findUnique({ where: { tokenHash } });
      if (!token) throw new AppError('unauthorized', 'enrollment token is not valid');
      if (token.revokedAt) throw new AppError('unauthorized', 'enrollment token has been revoked');
      if (token.expiresAt <= now) throw new AppError('unauthorized', 'enrollment token has expired');
      const profileId = sha256Hex(JSON.stringify(d.hardwareProfile));
      if (d.requestId !== undefined) {
        // locked: two tries of one enrollment at once take turns, and the second sees the first's secret
        const [prior] = await tx.$queryRaw<{ id: string; status: string; lastSeenAt: Date | null; hardwareProfileId: string }[]>`
          SELECT id::text AS id, status, "lastSeenAt", "hardwareProfileId" FROM "Device"
           WHERE "enrollmentTokenId" = ${token.id}::uuid AND "enrollmentRequestId" = ${d.requestId}::uuid
           FOR UPDATE`;
        if (prior) {
          const refuse = (why: string) =>
            new AppError('conflict', `enrollment ${d.requestId} made device ${prior.id} already, ${why}`, {
              deviceId: prior.id,
              requestId: d.requestId,
            });
          if (prior.status === 'revoked') throw refuse('which is revoked: it is enrolled again only with a new token and a new requestId');
          if (prior.lastSeenAt !== null)
            throw refuse(
              'which has connected since, so its credentials reached it: they are in its data directory (an admin can rotate its secret)',
            );
          if (prior.hardwareProfileId !== profileId) throw refuse('with another hardware profile: a repeated try sends the same one');
          await tx.$executeRaw`UPDATE "Device" SET "secretHash" = ${d.secretHash} WHERE id = ${prior.id}::uuid`;
          await beforeCommit({ deviceId: prior.id, retried: true });
          await appendAudit(asTx(tx), {
            actor: `enrollment_token:${token.id}`,
            action: 'device.enroll_retry',
            targetType: 'device',
            targetId: prior.id,
            details: { scenario: token.scenario, requestId: d.requestId },
          });
          return { scenario: token.scenario as Scenario, deviceId: prior.id, retried: true };
        }
      }
      const used = await tx.enrollmentToken.updateMany({
        where: { id: token.id, uses: { lt: token.maxUses } },
        data: { uses: { increment: 1 } },
      });
      if (used.count === 0) throw new AppError('unauthorized', 'enrollment token has already been used');
      // devices with the same hardware enrolling at the same moment: an upsert would race on the key
      await tx.$executeRaw`
        INSERT INTO "HardwareProfile" (id, "hardwareClass", accelerator, spec)
        VALUES (${profileId}, ${d.hardwareProfile.hardwareClass}, ${d.hardwareProfile.accelerator}, ${JSON.stringify(d.hardwareProfile)}::jsonb)
        ON CONFLICT (id) DO NOTHING`;
      // a first try racing another of the same requestId: the loser is refused, its next try is a retry
      const created = await tx.$executeRaw`
        INSERT INTO "Device" (id, name, scenario, labels, "secretHash", "hardwareProfileId", "enrollmentTokenId", "enrollmentRequestId", "enrolledAt")
        VALUES (${d.id}::uuid, ${d.name}, ${token.scenario}, ${JSON.stringify(token.labels ?? {})}::jsonb, ${d.secretHash},
                ${profileId}, ${token.id}::uuid, ${d.requestId ?? null}::uuid, ${now}::timestamptz AT TIME ZONE 'UTC')
        ON CONFLICT ("enrollmentTokenId", "enrollmentRequestId") DO NOTHING`;
      if (created === 0)
        throw new AppError('conflict', `enrollment ${d.requestId} is under way in another request: try again in a moment`, {
          requestId: d.requestId,
        });
      await beforeCommit({ deviceId: d.id, retried: false });
      // last: appending takes the audit chain's lock until the commit, so no other audited change of
      // the fleet waits behind this enrollment's broker round trip (enrollment bursts timed out on it)
      await appendAudit(asTx(tx), {
        actor: `enrollment_token:${token.id}`,
        action: 'device.enroll',
        targetType: 'device',
        targetId: d.id,
        details: { scenario: token.scenario, hardwareClass: d.hardwareProfile.hardwareClass },
      });
      return { scenario: token.scenario as Scenario, deviceId: d.id, retried: false };
    });
  }

  async list(q: DeviceListQuery): Promise<DeviceListPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (v: unknown): string => `$${params.push(v)}`;
    if (q.scenario) where.push(`d.scenario = ${param(q.scenario)}`);
    if (q.status) where.push(`d.status = ${param(q.status)}`);
    // ILIKE with the pattern's own wildcards escaped: a search for "50%" finds "50%", not everything
    if (q.search) where.push(`d.name ILIKE ${param(`%${q.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)}`);
    if (limits(q.scope)) where.push(scopeCondition(q.scope, deviceColumns('d'), param));
    const whereOf = (conditions: string[]): string => (conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '');
    const filter = whereOf(where);
    const filterParams = [...params];
    let paging: string;
    if (q.after) {
      const c = decodeCursor(q.after);
      where.push(`(d."enrolledAt", d.id) > (${param(c.enrolledAt)}::timestamptz AT TIME ZONE 'UTC', ${param(c.id)}::uuid)`);
      paging = `LIMIT ${param(q.pageSize + 1)}`;
    } else {
      paging = `LIMIT ${param(q.pageSize + 1)} OFFSET ${param((q.page - 1) * q.pageSize)}`;
    }
    const [rows, counted] = await Promise.all([
      // the page is picked from Device alone (an index-only scan on the list's index) and only its
      // rows are joined: joining first sorted every matching device's wide row, 24 ms vs 2 ms at 100k
      this.pool.query<DeviceSummaryRow>(
        prepared(
          `WITH page AS (SELECT d.id FROM "Device" d ${whereOf(where)} ORDER BY d."enrolledAt", d.id ${paging})
         ${SUMMARY_SQL} JOIN page ON page.id = d.id ORDER BY d."enrolledAt", d.id`,
          params,
        ),
      ),
      this.total(filter, filterParams),
    ]);
    // one row more than the page says whether another page follows
    const items = rows.rows.slice(0, q.pageSize);
    const last = items.at(-1);
    const nextCursor = rows.rows.length > q.pageSize && last ? encodeCursor(last.enrolledAt, last.id) : null;
    return { items, total: counted.total, totalCountedAt: counted.at, nextCursor };
  }

  /**
   * The number of devices a filter matches. Counting 100k rows on every poll of every dashboard
   * would keep Postgres busy, so a count capped at EXACT_TOTAL_LIMIT runs first: small fleets and
   * narrow filters get an exact figure every time; above the cap the full count is shared by
   * concurrent requests and reused for TOTAL_CACHE_MS, and the answer says when it was counted.
   */
  private async total(filter: string, params: unknown[]): Promise<DeviceTotal> {
    const key = `${filter}|${JSON.stringify(params)}`;
    const entry = this.totals.get(key);
    if (entry?.value && Date.now() - entry.value.at.getTime() < TOTAL_CACHE_MS) return entry.value;
    if (entry?.pending) return entry.pending;
    const capped = await this.pool.query<{ n: number }>(
      prepared(`SELECT count(*)::int AS n FROM (SELECT 1 FROM "Device" d ${filter} LIMIT ${EXACT_TOTAL_LIMIT + 1}) s`, params),
    );
    const n = capped.rows[0]?.n ?? 0;
    if (n <= EXACT_TOTAL_LIMIT) return { total: n, at: new Date() };
    const pending = this.countAll(filter, params).then(
      (value) => {
        this.totals.set(key, { value });
        return value;
      },
      (e: unknown) => {
        this.totals.delete(key);
        throw e;
      },
    );
    this.totals.set(key, { ...entry, pending });
    if (this.totals.size > 256) this.totals.delete(this.totals.keys().next().value as string);
    return pending;
  }

  private async countAll(filter: string, params: unknown[]): Promise<DeviceTotal> {
    const at = new Date();
    const res = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Device" d ${filter}`, params);
    return { total: res.rows[0]?.n ?? 0, at };
  }

  async get(id: string): Promise<DeviceSummaryRow | null> {
    const res = await this.pool.query<DeviceSummaryRow>(`${SUMMARY_SQL} WHERE d.id = $1`, [id]);
    return res.rows[0] ?? null;
  }

  /** Per CONNECT, so on the pg pool (see findActive in ApiTokenRepository). */
  async credentials(id: string): Promise<{ secretHash: string; status: string } | null> {
    const res = await this.pool.query<{ secretHash: string; status: string }>('SELECT "secretHash", status FROM "Device" WHERE id = $1', [
      id,
    ]);
    return res.rows[0] ?? null;
  }

  /** Every device's id and whether it is revoked: what the broker's access control must match. */
  async accessList(): Promise<{ id: string; revoked: boolean }[]> {
    const res = await this.pool.query<{ id: string; revoked: boolean }>(
      `SELECT id::text AS id, status = 'revoked' AS revoked FROM "Device"`,
    );
    return res.rows;
  }

  /**
   * Replaces a device's secret hash (the row locked until the commit); `beforeAudit` runs then (the
   * broker's side) and the audit event is appended last, so the audit chain's lock is not held over
   * the broker's round trip. Whether the device is revoked, or null for an unknown device.
   */
  async replaceSecret(
    tx: AnyTx,
    id: string,
    secretHash: string,
    actor: string,
    beforeAudit: (revoked: boolean) => Promise<void>,
  ): Promise<{ revoked: boolean } | null> {
    const [row] = await txQuery<{ status: string }>(tx, 'SELECT status FROM "Device" WHERE id = $1::uuid FOR UPDATE', [id]);
    if (!row) return null;
    await txExecute(tx, 'UPDATE "Device" SET "secretHash" = $2 WHERE id = $1::uuid', [id, secretHash]);
    const revoked = row.status === 'revoked';
    await beforeAudit(revoked);
    await appendAudit(tx, { actor, action: 'device.rotate_secret', targetType: 'device', targetId: id, details: { status: row.status } });
    return { revoked };
  }

  /**
   * Revokes (`revoked`) or enables a device, with its audit event, in one transaction. Returns the
   * status it had, or null for an unknown device; a device already in the asked state is left as it
   * is, unaudited. An enabled device is `offline` until it connects.
   */
  async setRevoked(tx: AnyTx, id: string, revoked: boolean, actor: string): Promise<string | null> {
    const [row] = await txQuery<{ status: string }>(tx, 'SELECT status FROM "Device" WHERE id = $1::uuid FOR UPDATE', [id]);
    if (!row) return null;
    if ((row.status === 'revoked') === revoked) return row.status;
    await txExecute(
      tx,
      revoked
        ? `UPDATE "Device" SET status = 'revoked', "revokedAt" = now() WHERE id = $1::uuid`
        : // enabled again after a revocation: a clone alarm raised before it is answered
          `UPDATE "Device" SET status = 'offline', "revokedAt" = NULL, "cloneSuspectedAt" = NULL, "cloneReason" = NULL, "cloneDetections" = 0 WHERE id = $1::uuid`,
      [id],
    );
    await appendAudit(tx, {
      actor,
      action: revoked ? 'device.revoke' : 'device.enable',
      targetType: 'device',
      targetId: id,
      details: { previousStatus: row.status },
    });
    return row.status;
  }

  /**
   * Raises (or keeps) a device's clone alarm with its audit event, in one transaction (RELIABILITY
   * row 13): the first detection sets when, each one counts and replaces the evidence. False for an
   * unknown device.
   */
  async raiseCloneAlarm(id: string, evidence: CloneEvidence): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      const tx = asBulkTx(client);
      const [row] = await txQuery<{ id: string }>(
        tx,
        `UPDATE "Device" SET "cloneSuspectedAt" = COALESCE("cloneSuspectedAt", now()), "cloneReason" = $2,
           "cloneDetections" = "cloneDetections" + $3 WHERE id = $1::uuid RETURNING id::text AS id`,
        [id, evidence.reason, evidence.detections],
      );
      if (!row) return false;
      await appendAudit(tx, {
        actor: 'system:clone-detection',
        action: 'device.clone_suspected',
        targetType: 'device',
        targetId: id,
        details: { kind: evidence.kind, reason: evidence.reason, detections: evidence.detections },
      });
      return true;
    });
  }

  /** A device's clone alarm, or null when none is raised (or the device is unknown). */
  async cloneAlarm(id: string): Promise<{ suspectedAt: Date; reason: string; detections: number } | null> {
    const res = await this.pool.query<{ suspectedAt: Date; reason: string; detections: number }>(
      `SELECT "cloneSuspectedAt" AT TIME ZONE 'UTC' AS "suspectedAt", "cloneReason" AS reason, "cloneDetections" AS detections
         FROM "Device" WHERE id = $1::uuid AND "cloneSuspectedAt" IS NOT NULL`,
      [id],
    );
    return res.rows[0] ?? null;
  }

  /** Swaps a device's stored hash, only if it is still the one that was checked. */
  async replaceSecretHash(id: string, was: string, now: string): Promise<void> {
    await this.pool.query('UPDATE "Device" SET "secretHash" = $3 WHERE id = $1 AND "secretHash" = $2', [id, was, now]);
  }

  /** Per device connection event or status message, so on the pg pool. `status` null keeps the stored one. */
  async setPresence(id: string, status: 'online' | 'offline' | null, bootId: string | null, at: Date): Promise<void> {
    await this.pool.query(
      `UPDATE "Device" SET status = COALESCE($2, status), "lastSeenAt" = $3::timestamptz AT TIME ZONE 'UTC', "bootId" = COALESCE($4, "bootId") WHERE id = $1 AND status <> 'revoked'`,
      [id, status, at, bootId],
    );
  }

  /** Many devices' connection state in one statement (a reconnect storm); a revoked device stays revoked. */
  async setPresenceMany(events: readonly { id: string; state: 'online' | 'offline'; at: Date }[]): Promise<void> {
    if (events.length === 0) return;
    await this.pool.query(
      `UPDATE "Device" d SET status = v.status, "lastSeenAt" = v.at AT TIME ZONE 'UTC'
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS v(id, status, at)
        WHERE d.id = v.id AND d.status <> 'revoked'`,
      [events.map((e) => e.id), events.map((e) => e.state), events.map((e) => e.at)],
    );
  }

  /** Devices heard from (their telemetry committed in the same transaction). */
  /**
   * Refreshes the devices' lastSeenAt, except where it is under a second old: under load a device's
   * windows come in several batches a second, and each refresh is a new row version (and its WAL)
   * of every device of the batch. A second is far below PRESENCE_STALE_SECONDS (at least 2).
   */
  async markSeen(tx: AnyTx, ids: readonly string[]): Promise<void> {
    await txExecute(
      tx,
      `UPDATE "Device" SET "lastSeenAt" = now()
        WHERE id = ANY($1::uuid[]) AND ("lastSeenAt" IS NULL OR "lastSeenAt" < now() - interval '1 second')`,
      [ids],
    );
  }

  /**
   * Takes the next assignment number of each device, inside the transaction that writes the
   * assignments; a device deleted meanwhile has none.
   */
  async nextAssignmentVersions(tx: AnyTx, ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = await txQuery<{ id: string; assignmentVersion: number }>(
      tx,
      'UPDATE "Device" SET "assignmentVersion" = "assignmentVersion" + 1 WHERE id = ANY($1::uuid[]) RETURNING id::text AS id, "assignmentVersion"',
      [ids],
    );
    return new Map(rows.map((r) => [r.id, r.assignmentVersion]));
  }

  /** Marks offline every online device last seen before `before`; returns how many. */
  async markStaleOffline(before: Date): Promise<number> {
    const res = await this.pool.query(
      `UPDATE "Device" SET status = 'offline'
        WHERE status = 'online' AND ("lastSeenAt" IS NULL OR "lastSeenAt" < $1::timestamptz AT TIME ZONE 'UTC')`,
      [before],
    );
    return res.rowCount ?? 0;
  }

  /** Devices per scenario and status, of `scope` only (none: the fleet); the overview's per-status totals are their sums. */
  async countsByScenario(scope?: DeviceScope): Promise<{ scenario: string; status: string; count: number }[]> {
    const q = sqlParams();
    const r = await this.pool.query<{ scenario: string; status: string; count: number }>(
      `SELECT d.scenario, d.status, count(*)::int AS count FROM "Device" d WHERE ${scopeCondition(scope, deviceColumns('d'), q.param)} GROUP BY d.scenario, d.status`,
      q.params,
    );
    return r.rows;
  }
}
