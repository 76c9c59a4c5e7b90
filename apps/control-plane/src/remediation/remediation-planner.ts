import type { Precision } from '@edge-fleet/shared';
import {
  FLOOR_METRICS,
  type AlertState,
  type RemediationKind,
  type RemediationSettings,
  type RemediationStatus,
} from '@edge-fleet/shared/api';

/** What remediation puts on a device (all null: nothing, the assignment as issued). */
export interface OverrideState {
  variantId: string | null;
  maxRateHz: number | null;
  dutyCycle: number | null;
}
export const NO_OVERRIDE: OverrideState = { variantId: null, maxRateHz: null, dutyCycle: null };

/** The alert metrics remediation acts on, in the order it acts on them (one remedy per device per pass). */
export const REMEDIABLE_METRICS = ['update_failed', 'memory_rss_mb', 'memory_headroom_mb', 'latency_ms', 'power_w'] as const;
export type RemediableMetric = (typeof REMEDIABLE_METRICS)[number];

export interface VariantInfo {
  id: string;
  precision: Precision;
  sizeBytes: number;
  usable: boolean;
  /** The worse of cosine and top-1 agreement with FP32; null for FP32 (the reference) or unmeasured. */
  agreement: number | null;
}

export interface AlertInfo {
  alertId: string;
  rule: string;
  metric: RemediableMetric;
  state: AlertState;
  /** The episode: when its condition began. */
  activeAt: Date | null;
  resolvedAt: Date | null;
  value: number | null;
  threshold: number | null;
}

export interface ActionInfo {
  id: string;
  kind: RemediationKind;
  status: RemediationStatus;
  alertId: string | null;
  episode: Date | null;
  before: OverrideState;
  after: OverrideState;
  undoes: string | null;
  createdAt: Date;
  appliedAt: Date | null;
  checkAt: Date | null;
  outcomeAt: Date | null;
}

/** Everything one device's decision reads: stored rows only, so a pass is a function of them and `now`. */
export interface DeviceSituation {
  deviceId: string;
  scenario: string;
  hardwareClass: string;
  inRollout: boolean;
  hardwarePrecisions: readonly Precision[];
  policy: { precisionOrder: readonly Precision[]; accuracyFloor: number };
  settings: RemediationSettings;
  /** The device's rate before any cap. */
  baseRateHz: number;
  /** The variant its current assignment names (null: no model), and its model version's variants. */
  current: { modelVersionId: string; variantId: string } | null;
  variants: readonly VariantInfo[];
  /** Its override now, with the model version it was made for. */
  override: (OverrideState & { modelVersionId: string; baseVariantId: string }) | null;
  /** Its alerts of remediable rules. */
  alerts: readonly AlertInfo[];
  /** Its actions, newest first (those of the last day, and any still pending or in effect). */
  actions: readonly ActionInfo[];
}

export type Decision =
  | { type: 'propose'; kind: RemediationKind; alert: AlertInfo; after: OverrideState; reason: string; escalates?: string }
  | { type: 'skip'; kind: RemediationKind; alert: AlertInfo; reason: string }
  | { type: 'helped'; action: ActionInfo; alert: AlertInfo | null }
  | { type: 'fail'; action: ActionInfo; alert: AlertInfo | null; restore: OverrideState; chain: string[]; reason: string }
  | { type: 'step_up'; undoes: ActionInfo; alert: AlertInfo | null; restore: OverrideState; reason: string }
  | { type: 'expire'; action: ActionInfo; reason: string }
  | { type: 'supersede'; actions: ActionInfo[]; reason: string };

const BITS: Record<Precision, number> = { fp32: 32, fp16: 16, int8: 8, int4: 4 };
const IN_EFFECT: readonly RemediationStatus[] = ['applied', 'helped', 'escalated'];
const REMEDIES: readonly RemediationKind[] = ['precision_step_down', 'smaller_variant', 'rate_reduction', 'low_power'];
/** A step-up that had to be taken back doubles the next hold-off, up to this many times; one more and the device stays put. */
const MAX_BACKOFF_DOUBLINGS = 3;
const DAY_MS = 86_400_000;

const sameEpisode = (a: ActionInfo, alert: AlertInfo) => a.alertId === alert.alertId && a.episode?.getTime() === alert.activeAt?.getTime();

function variantChoice(s: DeviceSituation, kind: 'precision_step_down' | 'smaller_variant'): { variant: VariantInfo } | { reason: string } {
  const cur = s.variants.find((v) => v.id === s.current?.variantId);
  if (!cur) return { reason: 'the device runs no known variant' };
  const allowed = new Set(s.policy.precisionOrder);
  const candidates = s.variants
    .filter((v) => v.usable && allowed.has(v.precision) && s.hardwarePrecisions.includes(v.precision))
    .filter((v) => (kind === 'precision_step_down' ? BITS[v.precision] < BITS[cur.precision] : v.sizeBytes < cur.sizeBytes))
    .sort((a, b) => (kind === 'precision_step_down' ? BITS[b.precision] - BITS[a.precision] : b.sizeBytes - a.sizeBytes));
  const rejected: string[] = [];
  for (const v of candidates) {
    if (v.agreement !== null && v.agreement < s.policy.accuracyFloor) {
      rejected.push(
        `${v.precision} (${v.id}): agreement with FP32 ${v.agreement.toFixed(4)} is below the accuracy floor ${s.policy.accuracyFloor}`,
      );
      continue;
    }
    return { variant: v };
  }
  const what = kind === 'precision_step_down' ? `precision below ${cur.precision}` : `variant smaller than ${cur.sizeBytes} bytes`;
  return {
    reason: rejected.length
      ? `no ${what} meets the accuracy floor: ${rejected.join('; ')}`
      : `no usable ${what} in the policy's order (${s.policy.precisionOrder.join(' → ')}) that the hardware runs`,
  };
}

function figures(a: AlertInfo): string {
  return `${a.rule}: ${a.metric} ${a.value ?? 'n/a'} ${FLOOR_METRICS.includes(a.metric) ? 'below' : 'over'} ${a.threshold ?? 'n/a'}`;
}

/** The first remedy for a firing alert, or why there is none. */
function firstRemedy(s: DeviceSituation, alert: AlertInfo, now: OverrideState): Decision {
  switch (alert.metric) {
    case 'latency_ms':
    case 'update_failed':
    case 'memory_rss_mb':
    case 'memory_headroom_mb': {
      const kind = alert.metric === 'latency_ms' ? 'precision_step_down' : 'smaller_variant';
      const c = variantChoice(s, kind);
      if ('reason' in c) return { type: 'skip', kind, alert, reason: `${figures(alert)}; ${c.reason}` };
      const cur = s.variants.find((v) => v.id === s.current?.variantId);
      return {
        type: 'propose',
        kind,
        alert,
        after: { ...now, variantId: c.variant.id },
        reason: `${figures(alert)}: ${cur?.precision ?? '?'} → ${c.variant.precision} (${c.variant.sizeBytes} bytes${
          c.variant.agreement === null ? '' : `, agreement ${c.variant.agreement.toFixed(4)} ≥ floor ${s.policy.accuracyFloor}`
        })`,
      };
    }
    case 'power_w': {
      const rate = now.maxRateHz ?? s.baseRateHz;
      const capped = Math.round(rate * s.settings.rateFactor * 100) / 100;
      return {
        type: 'propose',
        kind: 'rate_reduction',
        alert,
        after: { ...now, maxRateHz: capped },
        reason: `${figures(alert)}: inference rate ${rate} → ${capped} Hz`,
      };
    }
  }
}

/**
 * Decides the next remediation step of one device (at most one per pass), deterministically from
 * its stored situation and `now`. In order: nothing during a rollout; drop an override a new model
 * version left behind; judge a remedy whose check window has ended (helped, the next rung of the
 * power ladder, or reverted as failed); wait while a suggestion or a check is open; remedy a firing
 * alert once per episode; undo the latest remedy once every remediable alert has been clear for
 * the hold-off (doubled for each step-up of the last day that the condition came back after, and
 * no step-up after the third such: flapping input cannot make it oscillate).
 */
export function decide(s: DeviceSituation, now: Date, newRemedies: boolean): Decision | null {
  if (s.inRollout) return null;
  const inEffect = s.actions.filter((a) => IN_EFFECT.includes(a.status) && a.kind !== 'step_up' && a.kind !== 'revert');
  if (s.override && s.current?.modelVersionId !== s.override.modelVersionId)
    return {
      type: 'supersede',
      actions: inEffect,
      reason: 'the device was given another model version; its remediation no longer applies',
    };
  const alertOf = (a: ActionInfo) => s.alerts.find((x) => x.alertId === a.alertId) ?? null;
  const current: OverrideState = s.override
    ? { variantId: s.override.variantId, maxRateHz: s.override.maxRateHz, dutyCycle: s.override.dutyCycle }
    : NO_OVERRIDE;

  const due = s.actions.find((a) => a.status === 'applied' && a.checkAt !== null && a.checkAt <= now);
  if (due) {
    const alert = alertOf(due);
    const stillBad = alert !== null && alert.state === 'firing' && sameEpisode(due, alert);
    if (!stillBad) return { type: 'helped', action: due, alert };
    if (due.kind === 'rate_reduction' && alert && newRemedies) {
      return {
        type: 'propose',
        kind: 'low_power',
        alert,
        after: { ...current, dutyCycle: s.settings.dutyCycle },
        reason: `${figures(alert)}: the rate reduction did not end it within ${s.settings.checkWindowSeconds} s; low-power mode, duty cycle ${s.settings.dutyCycle}`,
        escalates: due.id,
      };
    }
    // undo the whole ladder of this episode: back to what the device ran before its first rung
    const chain = s.actions.filter(
      (a) => alert !== null && sameEpisode(a, alert) && IN_EFFECT.includes(a.status) && REMEDIES.includes(a.kind),
    );
    const first = chain.at(-1) ?? due;
    return {
      type: 'fail',
      action: due,
      alert,
      restore: first.before,
      chain: chain.map((a) => a.id),
      reason: `${alert ? figures(alert) : 'its alert'} still firing ${s.settings.checkWindowSeconds} s after the ${due.kind.replaceAll('_', ' ')}; reverted`,
    };
  }
  const pending = s.actions.find((a) => a.status === 'pending');
  if (pending) {
    const alert = alertOf(pending);
    if (pending.kind === 'step_up' && s.alerts.some((a) => a.state === 'firing' || a.state === 'pending'))
      return { type: 'expire', action: pending, reason: 'an alert of the device is active again' };
    if (pending.kind !== 'step_up' && !(alert && alert.state === 'firing' && sameEpisode(pending, alert)))
      return { type: 'expire', action: pending, reason: 'its alert is no longer firing' };
    return null;
  }
  if (s.actions.some((a) => a.status === 'applied' && a.checkAt !== null)) return null; // a check is running: one remedy at a time

  if (newRemedies && s.current) {
    for (const metric of REMEDIABLE_METRICS) {
      const alert = s.alerts.find((a) => a.metric === metric && a.state === 'firing');
      if (alert && !s.actions.some((a) => sameEpisode(a, alert))) return firstRemedy(s, alert, current);
    }
  }

  const latest = inEffect[0];
  if (!latest || s.alerts.some((a) => a.state === 'firing' || a.state === 'pending')) return null;
  const stepUps = s.actions.filter((a) => a.kind === 'step_up' && now.getTime() - a.createdAt.getTime() < DAY_MS);
  if (stepUps.some((a) => a.undoes === latest.id)) return null; // suggested or rejected already
  // a step-up the condition came back after (a remedy followed it) doubles the hold-off
  const takenBack = stepUps.filter(
    (u) => u.status === 'applied' && s.actions.some((a) => REMEDIES.includes(a.kind) && a.createdAt > u.createdAt),
  ).length;
  // past the last doubling the device stays remediated until the day's history is clear
  if (takenBack > MAX_BACKOFF_DOUBLINGS) return null;
  const holdOffMs = s.settings.holdOffSeconds * 1_000 * 2 ** takenBack;
  const alert = alertOf(latest);
  const clearSince = Math.max(alert?.resolvedAt?.getTime() ?? 0, ...s.actions.map((a) => (a.appliedAt ?? a.createdAt).getTime()));
  if (now.getTime() - clearSince < holdOffMs) return null;
  return {
    type: 'step_up',
    undoes: latest,
    alert,
    restore: latest.before,
    reason: `${alert?.rule ?? 'its alert'} clear for ${Math.round((now.getTime() - clearSince) / 1_000)} s ≥ hold-off ${holdOffMs / 1_000} s; undoing the ${latest.kind.replaceAll('_', ' ')}`,
  };
}
