import { Inject, Injectable } from '@nestjs/common';
import type { AlertState } from '@edge-fleet/shared/api';
import type { Pool } from 'pg';
import { withTransaction } from '../infra/pg-transaction.js';
import { PG_POOL } from '../infra/tokens.js';
import { asBulkTx, txExecute, txQuery, type BulkTx } from '../infra/unit-of-work.js';
import { startedAfter, startedBefore, WINDOW_SPAN_MAX_MS } from '../telemetry/window-span.js';

/** One measured (rule, subject) pair of a pass, with the stored alert of the pair if any. */
export interface ObservationRow {
  ruleId: string;
  ruleName: string;
  metric: string;
  severity: string;
  forSeconds: number;
  subject: string;
  subjectKind: 'device' | 'rollout';
  scenario: string | null;
  fingerprint: string;
  value: number | null;
  threshold: number | null;
  breach: boolean;
  clear: boolean;
  windows: number;
  alertState: AlertState | null;
  activeAt: Date | null;
}

/** A pending or firing alert (the pass must see it even when its pair measured nothing). */
export interface OpenAlertRow {
  fingerprint: string;
  ruleId: string;
  forSeconds: number;
  state: AlertState;
  activeAt: Date | null;
  subject: string;
  scenario: string | null;
  /** Its rule is disabled, or its device revoked: the alert ends (a firing one resolves). */
  retired: boolean;
}

/** An alert's new state as a pass decided it. */
export interface AlertWrite {
  fingerprint: string;
  ruleId: string;
  subject: string;
  scenario: string | null;
  state: AlertState;
  value: number | null;
  threshold: number | null;
  activeAt: Date | null;
  labels: Record<string, string>;
  transition: { from: AlertState; to: AlertState; figures: Record<string, unknown> } | null;
}

/** One transition as committed, for the listeners of alert events. */
export interface CommittedTransition {
  alertId: string;
  fingerprint: string;
  ruleId: string;
  subject: string;
  from: AlertState;
  to: AlertState;
  value: number | null;
  threshold: number | null;
}

/** Passes of several worker replicas never overlap: each takes this lock for its transaction. */
const EVALUATION_LOCK = 7_428_190_513;

const WINDOW_METRICS = `('latency_ms', 'error_rate', 'power_w', 'throughput_ips', 'memory_rss_mb', 'memory_headroom_mb')`;

/**
 * One statement measures every enabled rule against every subject at `$1` (set-based: the cost is
 * a few scans, not a query per device). Window metrics aggregate the windows that ended in the
 * rule's lookback (latency: the policy's percentile, or the rule's, weighted by inferences); fleet
 * conditions read the device, reported-state and rollout rows. Only pairs that breach or have an
 * open alert come back.
 */
export const OBSERVE_SQL = `
WITH r AS (SELECT * FROM "AlertRule" WHERE enabled),
win AS (
  SELECT r.id AS "ruleId", d.id::text AS subject, 'device' AS "subjectKind", d.scenario,
    CASE r.metric WHEN 'latency_ms' THEN agg.latency WHEN 'error_rate' THEN agg.errors WHEN 'power_w' THEN agg.power
      WHEN 'throughput_ips' THEN agg.ips WHEN 'memory_rss_mb' THEN agg.rss
      -- the profile's DRAM (0: not declared, no headroom measured) minus the agent's largest RSS
      WHEN 'memory_headroom_mb' THEN (SELECT NULLIF((hp.spec ->> 'dramMb')::float8, 0) FROM "HardwareProfile" hp WHERE hp.id = d."hardwareProfileId") - agg.rss
    END AS value,
    COALESCE(r.threshold, CASE r.metric WHEN 'latency_ms' THEN p."latencyTargetMs" WHEN 'error_rate' THEN p."errorRateMax" WHEN 'power_w' THEN p."powerBudgetW" END) AS threshold,
    agg.windows, r.metric IN ('throughput_ips', 'memory_headroom_mb') AS floor, r.hysteresis
  FROM r
  JOIN "Device" d ON (r.scenario IS NULL OR d.scenario = r.scenario) AND d.status <> 'revoked'
  LEFT JOIN "Policy" p ON p.scenario = d.scenario
  -- per (rule, device) an index range scan of its windows in the lookback: the cost follows the
  -- fleet's size, not how much history the table holds
  CROSS JOIN LATERAL (
    SELECT count(*)::int AS windows,
      sum(w.inferences * x.pct) / NULLIF(sum(w.inferences) FILTER (WHERE x.pct IS NOT NULL), 0) AS latency,
      sum(w.errors)::float8 / NULLIF(sum(w.inferences), 0) AS errors,
      avg(w."powerW") AS power,
      sum(w.inferences)::float8 / NULLIF(sum(extract(epoch FROM w."windowEnd" - w."windowStart")), 0) AS ips,
      max(w."rssMb") AS rss
    FROM "TelemetryWindow" w
    CROSS JOIN LATERAL (SELECT CASE COALESCE(r.percentile, p."latencyPercentile")
      WHEN 'p50' THEN w."latencyP50Ms" WHEN 'p95' THEN w."latencyP95Ms" ELSE w."latencyP99Ms" END AS pct) x
    WHERE w."deviceId" = d.id AND w."windowEnd" > $1::timestamptz - make_interval(secs => r."lookbackSeconds") AND w."windowEnd" <= $1::timestamptz
      -- the day partitions a rule can need ($2, when planning), then this rule's (window-span.ts)
      AND w."windowStart" > $2::timestamptz AND w."windowStart" > $1::timestamptz - make_interval(secs => r."lookbackSeconds" + ${WINDOW_SPAN_MAX_MS / 1_000})
      AND w."windowStart" < $5::timestamptz
  ) agg
  WHERE r.metric IN ${WINDOW_METRICS} AND agg.windows > 0
),
fleet AS (
  SELECT r.id AS "ruleId", d.id::text AS subject, 'device' AS "subjectKind", d.scenario,
    CASE r.metric
      WHEN 'device_offline' THEN (d.status = 'offline')::int::float8
      WHEN 'update_failed' THEN (COALESCE(rs.phase = 'failed' OR rs.payload #>> '{lastUpdate,outcome}' = 'failed', false))::int::float8
      WHEN 'stale_metadata' THEN (COALESCE(jsonb_typeof(rs.payload -> 'staleMetadata') = 'object', false))::int::float8
      WHEN 'clone_suspected' THEN (d."cloneSuspectedAt" IS NOT NULL)::int::float8
      -- the last window's end: among the last two days' windows when one ended within the last day
      -- ($3, $4; no earlier start ends later), else the device's newest hourly rollup's
      WHEN 'telemetry_silent_s' THEN extract(epoch FROM $1::timestamptz - COALESCE(
        (SELECT m FROM (SELECT max(t."windowEnd") AS m FROM "TelemetryWindow" t WHERE t."deviceId" = d.id AND t."windowStart" > $3::timestamptz AND t."windowStart" < $5::timestamptz) x
          WHERE m > $4::timestamptz),
        (SELECT max(ru."lastWindowEnd") FROM "TelemetryDeviceRollup" ru WHERE ru."deviceId" = d.id AND ru."bucketSeconds" = 3600),
        d."enrolledAt" AT TIME ZONE 'UTC'))
    END AS value,
    CASE WHEN r.metric = 'telemetry_silent_s' THEN r.threshold ELSE 0.5 END AS threshold,
    0 AS windows, false AS floor, 0::float8 AS hysteresis
  FROM r
  JOIN "Device" d ON (r.scenario IS NULL OR d.scenario = r.scenario) AND d.status <> 'revoked'
   -- a device that never connected is not silent; an offline one has its own rule
   AND (r.metric <> 'telemetry_silent_s' OR d.status = 'online')
  LEFT JOIN "ReportedState" rs ON rs."deviceId" = d.id
  WHERE r.metric IN ('device_offline', 'update_failed', 'stale_metadata', 'telemetry_silent_s', 'clone_suspected')
),
rollouts AS (
  SELECT r.id AS "ruleId", ro.id::text AS subject, 'rollout' AS "subjectKind", ro.target ->> 'scenario' AS scenario,
    (ro.status IN ('paused', 'aborted', 'rolled_back'))::int::float8 AS value, 0.5::float8 AS threshold,
    0 AS windows, false AS floor, 0::float8 AS hysteresis
  FROM r JOIN "Rollout" ro ON r.scenario IS NULL OR ro.target ->> 'scenario' = r.scenario
  WHERE r.metric = 'rollout_failed'
    -- a rollout that ended long ago no longer alerts (nor stays open)
    AND (ro.status NOT IN ('completed', 'aborted', 'rolled_back') OR ro."updatedAt" > $1::timestamptz - interval '1 day')
),
obs AS (
  SELECT o.*, left(md5(o."ruleId"::text || '/' || o.subject), 16) AS fingerprint,
    o.value IS NOT NULL AND o.threshold IS NOT NULL AND CASE WHEN o.floor THEN o.value < o.threshold ELSE o.value > o.threshold END AS breach,
    o.value IS NOT NULL AND o.threshold IS NOT NULL AND CASE WHEN o.floor THEN o.value > o.threshold * (1 + o.hysteresis) ELSE o.value < o.threshold * (1 - o.hysteresis) END AS clear
  FROM (SELECT * FROM win UNION ALL SELECT * FROM fleet UNION ALL SELECT * FROM rollouts) o
)
SELECT obs."ruleId", r.name AS "ruleName", r.metric, r.severity, r."forSeconds", obs.subject, obs."subjectKind", obs.scenario,
       obs.fingerprint, obs.value, obs.threshold, obs.breach, obs.clear, obs.windows,
       a.state AS "alertState", a."activeAt"
  FROM obs JOIN r ON r.id = obs."ruleId"
  LEFT JOIN "Alert" a ON a.fingerprint = obs.fingerprint
 WHERE obs.breach OR a.state IN ('pending', 'firing')`;

/** The longest lookback a rule may have (the shared AlertRuleSchema's cap). */
export const LOOKBACK_MAX_SECONDS = 86_400;

/**
 * OBSERVE_SQL's parameters at `now`: the windowStart bounds as values (so Postgres prunes and
 * locks only the day partitions they reach when it plans: window-span.ts), for the window metrics
 * (the longest lookback back from now) and for the silence (the last two days, sure of the latest
 * when it ended within the last one), and the start no stored window reaches (the partitions ahead).
 */
export function observeParams(now: Date): [Date, Date, Date, Date, Date] {
  const recent = new Date(now.getTime() - 2 * WINDOW_SPAN_MAX_MS);
  return [
    now,
    startedAfter(new Date(now.getTime() - LOOKBACK_MAX_SECONDS * 1000)),
    recent,
    new Date(recent.getTime() + WINDOW_SPAN_MAX_MS),
    startedBefore(now),
  ];
}

@Injectable()
export class AlertEvaluationRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /**
   * Runs `fn` in one transaction holding the evaluation lock; resolves null without running it when
   * another replica's pass holds the lock (that pass covers this one's interval).
   */
  async exclusive<T>(fn: (tx: BulkTx) => Promise<T>): Promise<T | null> {
    return withTransaction(this.pool, async (client) => {
      const tx = asBulkTx(client);
      const [got] = await txQuery<{ ok: boolean }>(tx, 'SELECT pg_try_advisory_xact_lock($1) AS ok', [EVALUATION_LOCK]);
      if (!got?.ok) return null;
      // measured at 10,000 devices: JIT compiling the statement cost ~0.8 s of a ~1 s pass, every pass
      await txExecute(tx, 'SET LOCAL jit = off');
      return fn(tx);
    });
  }

  async observe(tx: BulkTx, now: Date): Promise<ObservationRow[]> {
    return txQuery<ObservationRow>(tx, OBSERVE_SQL, observeParams(now));
  }

  /** Pending and firing alerts, with whether their rule or device is gone. */
  async openAlerts(tx: BulkTx): Promise<OpenAlertRow[]> {
    return txQuery<OpenAlertRow>(
      tx,
      `SELECT a.fingerprint, a."ruleId", r."forSeconds", a.state, a."activeAt", a.subject, a.scenario,
              (NOT r.enabled OR EXISTS (SELECT 1 FROM "Device" d WHERE d.id::text = a.subject AND d.status = 'revoked')) AS retired
         FROM "Alert" a JOIN "AlertRule" r ON r.id = a."ruleId"
        WHERE a.state IN ('pending', 'firing')`,
    );
  }

  /** Upserts the alerts of a pass and appends their transitions, in two statements; returns the transitions. */
  async write(tx: BulkTx, now: Date, rows: readonly AlertWrite[]): Promise<CommittedTransition[]> {
    if (rows.length === 0) return [];
    const col = <K extends keyof AlertWrite>(k: K) => rows.map((r) => r[k]);
    const saved = await txQuery<{ id: string; fingerprint: string }>(
      tx,
      `INSERT INTO "Alert" (id, fingerprint, "ruleId", subject, scenario, state, value, threshold, "activeAt", "firedAt", "resolvedAt", "evaluatedAt", labels)
       SELECT gen_random_uuid(), f, rule, subj, scen, st, v, th, act,
              CASE WHEN st = 'firing' THEN $1::timestamptz END, CASE WHEN st = 'resolved' THEN $1::timestamptz END, $1::timestamptz, lab
         FROM unnest($2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::float8[], $9::timestamptz[], $10::jsonb[])
           AS u(f, rule, subj, scen, st, v, th, act, lab)
       ON CONFLICT (fingerprint) DO UPDATE SET
         state = EXCLUDED.state, value = COALESCE(EXCLUDED.value, "Alert".value), threshold = COALESCE(EXCLUDED.threshold, "Alert".threshold),
         "activeAt" = EXCLUDED."activeAt", "evaluatedAt" = EXCLUDED."evaluatedAt", -- a no-data write (empty labels) keeps what the alert had
         labels = CASE WHEN EXCLUDED.labels = '{}'::jsonb THEN "Alert".labels ELSE EXCLUDED.labels END,
         scenario = COALESCE(EXCLUDED.scenario, "Alert".scenario),
         "firedAt" = CASE WHEN EXCLUDED.state = 'firing' AND "Alert".state <> 'firing' THEN $1::timestamptz
                          WHEN EXCLUDED.state = 'pending' THEN NULL ELSE "Alert"."firedAt" END,
         "resolvedAt" = CASE WHEN EXCLUDED.state = 'resolved' AND "Alert".state <> 'resolved' THEN $1::timestamptz
                             WHEN EXCLUDED.state IN ('pending', 'firing') THEN NULL ELSE "Alert"."resolvedAt" END,
         -- a new episode is notified afresh
         "notifiedState" = CASE WHEN EXCLUDED.state = 'pending' OR (EXCLUDED.state = 'firing' AND "Alert".state <> 'firing' AND "Alert"."notifiedState" = 'resolved')
                                THEN NULL ELSE "Alert"."notifiedState" END
       RETURNING id, fingerprint`,
      [
        now,
        col('fingerprint'),
        col('ruleId'),
        col('subject'),
        col('scenario'),
        col('state'),
        col('value'),
        col('threshold'),
        col('activeAt'),
        rows.map((r) => JSON.stringify(r.labels)),
      ],
    );
    const ids = new Map(saved.map((s) => [s.fingerprint, s.id]));
    const moved = rows.filter((r) => r.transition);
    if (moved.length === 0) return [];
    const out: CommittedTransition[] = moved.map((r) => ({
      alertId: ids.get(r.fingerprint) ?? '',
      fingerprint: r.fingerprint,
      ruleId: r.ruleId,
      subject: r.subject,
      from: r.transition?.from ?? 'inactive',
      to: r.transition?.to ?? 'inactive',
      value: r.value,
      threshold: r.threshold,
    }));
    await txExecute(
      tx,
      `INSERT INTO "AlertTransition" ("alertId", "fromState", "toState", at, value, threshold, figures)
       SELECT a, f, t, $1::timestamptz, v, th, fig FROM unnest($2::uuid[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::jsonb[]) AS u(a, f, t, v, th, fig)`,
      [
        now,
        out.map((t) => t.alertId),
        out.map((t) => t.from),
        out.map((t) => t.to),
        out.map((t) => t.value),
        out.map((t) => t.threshold),
        moved.map((r) => JSON.stringify(r.transition?.figures ?? {})),
      ],
    );
    return out;
  }
}
