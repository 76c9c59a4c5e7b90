import type pg from 'pg';

/**
 * History checkers (RELIABILITY.md, harness pieces): read what a chaos test's run left behind and
 * report what must never happen, whatever the faults: acknowledged telemetry lost or stored twice,
 * a rollout moving in a way its state machine does not allow, a device running a model that is
 * neither the one it had nor the target. Each returns violations (empty when the history is sound),
 * so a test asserts `toEqual([])` and a failure names every violation at once.
 */
export interface Violation {
  kind: 'lost_telemetry' | 'duplicate_telemetry' | 'illegal_transition' | 'unexpected_model';
  detail: string;
}

export interface SentTelemetry {
  deviceId: string;
  bootId: string;
  /** Sequence numbers the broker acknowledged (the device may drop none of them). */
  acknowledged: readonly number[];
}

/** Lost (acknowledged, not stored) and duplicated (stored more than once) windows, from stored (device, boot, seq) rows. */
export function telemetryViolations(
  sent: readonly SentTelemetry[],
  stored: readonly { deviceId: string; bootId: string; seq: number }[],
): Violation[] {
  const count = new Map<string, number>();
  for (const r of stored) {
    const key = `${r.deviceId}/${r.bootId}/${r.seq}`;
    count.set(key, (count.get(key) ?? 0) + 1);
  }
  const out: Violation[] = [];
  for (const s of sent) {
    const lost = s.acknowledged.filter((seq) => !count.has(`${s.deviceId}/${s.bootId}/${seq}`));
    if (lost.length > 0)
      out.push({ kind: 'lost_telemetry', detail: `device ${s.deviceId} boot ${s.bootId}: seq ${ranges(lost)} acknowledged, not stored` });
  }
  for (const [key, n] of count) if (n > 1) out.push({ kind: 'duplicate_telemetry', detail: `${key} stored ${n} times` });
  return out;
}

export interface RolloutEvent {
  id: string | number;
  action: string;
  details: Record<string, unknown> | null;
}

const TERMINAL = new Set(['completed', 'rolled_back', 'aborted']);

/**
 * Illegal moves in one rollout's audit trail (oldest first): a wave started twice, out of order or
 * before the wave ahead of it passed; a wave judged before it started or after it passed; a status
 * change whose `from` is not the status the trail left it in; anything after a terminal status.
 */
export function rolloutViolations(events: readonly RolloutEvent[]): Violation[] {
  const out: Violation[] = [];
  const bad = (e: RolloutEvent, why: string): void => {
    out.push({ kind: 'illegal_transition', detail: `event ${String(e.id)} ${e.action}: ${why}` });
  };
  const started = new Set<number>();
  const passed = new Set<number>();
  let status: string | null = null;
  if (events[0] && events[0].action !== 'rollout.created') bad(events[0], 'the trail does not start with rollout.created');
  for (const e of events) {
    if (status !== null && TERMINAL.has(status)) bad(e, `after the terminal status ${status}`);
    const wave = typeof e.details?.wave === 'number' ? e.details.wave : null;
    switch (e.action) {
      case 'rollout.wave_started':
        if (wave === null) bad(e, 'no wave index');
        else if (started.has(wave)) bad(e, `wave ${wave} started twice`);
        else if (wave > 0 && !passed.has(wave - 1)) bad(e, `wave ${wave} started before wave ${wave - 1} passed`);
        if (wave !== null) started.add(wave);
        break;
      case 'rollout.wave_passed':
      case 'rollout.wave_failed':
      case 'rollout.wave_insufficient_evidence':
        if (wave === null) bad(e, 'no wave index');
        else if (!started.has(wave)) bad(e, `wave ${wave} judged before it started`);
        else if (passed.has(wave)) bad(e, `wave ${wave} judged again after it passed`);
        if (wave !== null && e.action === 'rollout.wave_passed') passed.add(wave);
        break;
      case 'rollout.status': {
        const from = typeof e.details?.from === 'string' ? e.details.from : null;
        const to = typeof e.details?.to === 'string' ? e.details.to : null;
        if (to === null) bad(e, 'no target status');
        else if (status !== null && from !== status) bad(e, `from ${String(from)}, but the trail left the rollout ${status}`);
        if (to === 'completed' && [...started].some((w) => !passed.has(w))) bad(e, 'completed with a started wave that never passed');
        status = to;
        break;
      }
    }
  }
  return out;
}

/** Devices whose active model is none of `allowed` (the model they had and the target). */
export function modelViolations(
  devices: readonly { id: string; activeVariantId: string | null }[],
  allowed: readonly string[],
): Violation[] {
  return devices
    .filter((d) => d.activeVariantId === null || !allowed.includes(d.activeVariantId))
    .map((d) => ({
      kind: 'unexpected_model',
      detail: `device ${d.id} runs ${String(d.activeVariantId)}, allowed ${allowed.join(' or ')}`,
    }));
}

/** The stored windows of `sent`'s devices and boots, and the telemetry violations they show. */
export async function checkTelemetry(db: pg.Client, sent: readonly SentTelemetry[]): Promise<Violation[]> {
  const rows = await db.query<{ deviceId: string; bootId: string; seq: number }>(
    `SELECT "deviceId"::text AS "deviceId", "bootId"::text AS "bootId", seq::int AS seq FROM "TelemetryWindow" WHERE "deviceId" = ANY($1::uuid[])`,
    [sent.map((s) => s.deviceId)],
  );
  const boots = new Set(sent.map((s) => `${s.deviceId}/${s.bootId}`));
  return telemetryViolations(
    sent,
    rows.rows.filter((r) => boots.has(`${r.deviceId}/${r.bootId}`)),
  );
}

/** One rollout's audit trail, oldest first, and the illegal moves in it. */
export async function checkRollout(db: pg.Client, rolloutId: string): Promise<Violation[]> {
  const rows = await db.query<RolloutEvent>(
    `SELECT id::text AS id, action, details FROM "AuditEvent" WHERE "targetType" = 'rollout' AND "targetId" = $1 ORDER BY "AuditEvent".id`,
    [rolloutId],
  );
  return rolloutViolations(rows.rows);
}

function ranges(seqs: readonly number[]): string {
  const sorted = [...seqs].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] ?? 0) + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${String(sorted[i])}..${String(sorted[j])}`);
    i = j + 1;
  }
  return parts.join(', ');
}
