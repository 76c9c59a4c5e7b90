import { DEFAULT_REGRESSION_TOLERANCE } from '@edge-fleet/shared/rollout';
import { z } from 'zod';
import { ACTIVE_ROLLOUT_STATUSES } from '@edge-fleet/shared/rollout';
import { DASH, formatAgo, formatLatencyTarget, formatMs, formatPercent, humanize } from './format';

/** Display logic of the rollout pages: which controls apply, gate figures with their units, device figures. */

// ---------------------------------------------------------------- status and controls

export const ROLLOUT_ACTIONS = ['approve', 'resume', 'pause', 'abort'] as const;
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];

/** The rollout statuses each action applies to (the control plane refuses it in any other). */
const ACTION_APPLIES: Record<RolloutAction, readonly string[]> = {
  approve: ['awaiting_approval'],
  resume: ['paused'],
  pause: ['running', 'awaiting_approval'],
  abort: ['running', 'awaiting_approval', 'paused'],
};

export const ACTION_LABELS: Record<RolloutAction, string> = {
  approve: 'Approve next wave',
  resume: 'Resume',
  pause: 'Pause',
  abort: 'Abort',
};

export const ACTION_DONE: Record<RolloutAction, string> = {
  approve: 'Approved: the next wave starts.',
  resume: 'Resumed.',
  pause: 'Paused: no further wave starts until the rollout is resumed.',
  abort: 'Aborted: the devices it changed are sent back to their previous model.',
};

/** The controls to show for a rollout in this status, in display order. */
export function rolloutActions(status: string): RolloutAction[] {
  return ROLLOUT_ACTIONS.filter((a) => ACTION_APPLIES[a].includes(status));
}

/** Running, awaiting approval or paused: the rollout can still change, so its page keeps refreshing. */
export function isActiveRollout(status: string): boolean {
  return ACTIVE_ROLLOUT_STATUSES.some((s) => s === status);
}

/** The states a rollout device passes through, in the order the pages list them. */
export const DEVICE_STATES = ['pending', 'notified', 'applied', 'failed', 'skipped', 'rolled_back'] as const;

/** Devices the rollout has changed (an abort sends these back). */
const CHANGED_STATES = ['notified', 'applied', 'failed'];

/** Device counts by state added up (over the waves of a rollout). */
export function sumByState(counts: readonly Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const c of counts) for (const [state, n] of Object.entries(c)) total[state] = (total[state] ?? 0) + n;
  return total;
}

/** The question asked before an abort: what it will do, with the number of devices it sends back. */
export function abortQuestion(name: string, byState: Record<string, number>): string {
  const changed = CHANGED_STATES.reduce((n, s) => n + (byState[s] ?? 0), 0);
  const back =
    changed === 0
      ? 'No device has been changed yet'
      : `${changed} ${changed === 1 ? 'device' : 'devices'} it changed will be sent back to the model ${changed === 1 ? 'it' : 'they'} ran before`;
  return `Abort the rollout "${name}"? ${back}. This cannot be undone.`;
}

/** "2 of 3" for the wave a rollout is at (the index is zero-based). */
export function waveProgress(currentWave: number, waves: number): string {
  if (waves <= 0) return DASH;
  return `${Math.min(currentWave, waves - 1) + 1} of ${waves}`;
}

/** Non-zero device counts by state, known states in lifecycle order, any other state after them. */
export function stateCounts(byState: Record<string, number>): { state: string; count: number }[] {
  const known: readonly string[] = DEVICE_STATES;
  const others = Object.keys(byState)
    .filter((s) => !known.includes(s))
    .sort();
  return [...known, ...others].map((state) => ({ state, count: byState[state] ?? 0 })).filter((c) => c.count > 0);
}

// ---------------------------------------------------------------- times

/** 45 → "45 s", 300 → "5 min", 5400 → "1 h 30 min", 172800 → "2 d". */
export function formatDuration(seconds: number | null | undefined): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return DASH;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const rest = s % 60;
    return rest ? `${m} min ${rest} s` : `${m} min`;
  }
  if (s < 86_400) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return m ? `${h} h ${m} min` : `${h} h`;
  }
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  return h ? `${d} d ${h} h` : `${d} d`;
}

/** A moment relative to now: "in 45 s" while ahead, "12 s ago" once past. */
export function formatRelative(iso: string | null | undefined, now: number): string {
  if (!iso) return DASH;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return DASH;
  if (t > now) return `in ${formatDuration(Math.ceil((t - now) / 1000))}`;
  return formatAgo(iso, now);
}

// ---------------------------------------------------------------- gates

export const METRIC_LABELS: Record<string, string> = {
  latency: 'Latency',
  error_rate: 'Error rate',
  power: 'Power',
  update_failures: 'Update failures',
  silence: 'Silence',
  baseline_regression: 'Baseline regression',
};

export function metricLabel(metric: string): string {
  return METRIC_LABELS[metric] ?? humanize(metric);
}

function finite(n: number | null | undefined): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** 3.14 → "3.1 W", 120.4 → "120 W". */
export function formatWatts(w: number | null | undefined): string {
  if (!finite(w)) return DASH;
  return `${w < 10 ? w.toFixed(1) : Math.round(w).toString()} W`;
}

/** A share of devices (0..1) as a percentage: 0.25 → "25 %". */
export function formatShare(share: number | null | undefined): string {
  if (!finite(share)) return DASH;
  const pct = share * 100;
  if (pct === 0) return '0 %';
  // a small share keeps enough digits not to read as zero
  return `${Number(pct < 1 ? pct.toPrecision(2) : pct.toFixed(1))} %`;
}

/** A relative change: 0.12 → "+12 %", -0.05 → "−5 %". */
export function formatChange(change: number | null | undefined): string {
  if (!finite(change)) return DASH;
  const pct = Number((change * 100).toFixed(Math.abs(change) < 0.1 ? 1 : 0));
  if (pct === 0) return '±0 %';
  return pct > 0 ? `+${pct} %` : `−${Math.abs(pct)} %`;
}

/**
 * The wave's figure for a gate, in the metric's unit: latency in ms, the error rate as a percentage, power
 * in watts with where the figure comes from, update failures and silence as the share of judged devices,
 * a baseline regression as the change against the old model on the same hardware.
 */
export function formatGateFigure(metric: string, figure: number | null, powerSource: string | null = null): string {
  if (!finite(figure)) return DASH;
  switch (metric) {
    case 'latency':
      return `median ${formatMs(figure)}`;
    case 'error_rate':
      return `median ${formatPercent(figure)}`;
    case 'power':
      return `median ${formatPowerWithSource(figure, powerSource)}`;
    case 'update_failures':
      return `${formatShare(figure)} of judged devices failed the update`;
    case 'silence':
      return `${formatShare(figure)} of judged devices silent`;
    case 'baseline_regression':
      return `median ${formatChange(figure - 1)} vs baseline`;
    default:
      return String(figure);
  }
}

/**
 * What the figure is held against. Update failures and silence have no threshold of their own: the gate
 * allows a share of the judged devices to fail, so that share is the limit shown.
 */
export function formatGateThreshold(metric: string, threshold: number | null, maxFailingShare: number): string {
  switch (metric) {
    case 'update_failures':
    case 'silence':
      return `at most ${formatShare(maxFailingShare)} of judged devices`;
    default:
      break;
  }
  if (!finite(threshold)) return 'no threshold (nothing judged)';
  switch (metric) {
    case 'latency':
      return `≤ ${Number(threshold.toFixed(2))} ms`;
    case 'error_rate':
      return `≤ ${formatPercent(threshold)}`;
    case 'power':
      return `≤ ${formatWatts(threshold)}`;
    case 'baseline_regression':
      return `≤ ${formatChange(threshold)} vs baseline`;
    default:
      return `≤ ${threshold}`;
  }
}

/** "2 of 10 judged devices fail (0 % allowed)". */
export function formatFailing(failing: number, judged: number, maxFailingShare: number): string {
  if (judged === 0) return 'no device could be judged';
  return `${failing} of ${judged} judged ${judged === 1 ? 'device fails' : 'devices fail'} (${formatShare(maxFailingShare)} allowed)`;
}

/** A configured gate of the plan: "Latency: policy threshold; 0 % of devices may fail". */
export function describeGateSpec(g: { metric: string; max?: number; maxFailingShare?: number }): string {
  const share = g.maxFailingShare ?? 0;
  let limit: string;
  if (g.metric === 'update_failures' || g.metric === 'silence') limit = 'any occurrence counts';
  else if (g.max === undefined)
    limit =
      g.metric === 'baseline_regression' ? formatGateThreshold(g.metric, DEFAULT_REGRESSION_TOLERANCE, share) : 'the tier policy threshold';
  else limit = formatGateThreshold(g.metric, g.max, share);
  return `${metricLabel(g.metric)}: ${limit}; ${formatShare(share)} of devices may fail`;
}

// ---------------------------------------------------------------- power

/** Only a sensor measures power; an estimate or a simulated figure says so. */
export function isMeasuredPower(source: string | null | undefined): boolean {
  return source === 'sensor';
}

/** "3.1 W (sensor)", "3.1 W (estimate)", "3.1 W (simulated)"; a figure of unknown origin is not passed off as measured. */
export function formatPowerWithSource(w: number | null | undefined, source: string | null | undefined): string {
  if (!finite(w)) return DASH;
  return `${formatWatts(w)} (${source ? source : 'source unknown'})`;
}

/** Where a figure over several devices comes from: their one source, "mixed: estimate, sensor", or null when none is known. */
export function combinedPowerSource(sources: readonly (string | null | undefined)[]): string | null {
  const known = [...new Set(sources.filter((s): s is string => typeof s === 'string' && s !== ''))].sort();
  if (known.length === 0) return null;
  if (known.length === 1) return known[0] ?? null;
  return `mixed: ${known.join(', ')}`;
}

// ---------------------------------------------------------------- device figures

const num = z.number().nullable().catch(null);
const str = z.string().nullable().catch(null);
const FiguresSchema = z.object({
  windows: num.optional().default(null),
  inferences: num.optional().default(null),
  errors: num.optional().default(null),
  latencyMs: num.optional().default(null),
  percentile: str.optional().default(null),
  targetMs: num.optional().default(null),
  powerW: num.optional().default(null),
  powerSource: str.optional().default(null),
});
export type DeviceFigures = z.infer<typeof FiguresSchema>;

/** A device's figures as the wave's judgement stored them; null until its wave was evaluated. Bad fields become null. */
export function parseFigures(raw: unknown): DeviceFigures | null {
  if (raw === null || typeof raw !== 'object') return null;
  const parsed = FiguresSchema.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/** Errors per inference, or null when the device ran none. */
export function deviceErrorRate(f: DeviceFigures | null): number | null {
  if (!f || !finite(f.inferences) || f.inferences <= 0 || !finite(f.errors)) return null;
  return f.errors / f.inferences;
}

/** "p99 4.20 ms (target < 10 ms)". */
export function formatDeviceLatency(f: DeviceFigures | null): string {
  if (!f || !finite(f.latencyMs)) return DASH;
  const figure = `${f.percentile ?? 'latency'} ${formatMs(f.latencyMs)}`;
  return finite(f.targetMs) ? `${figure} (target ${formatLatencyTarget(f.percentile ?? 'latency', f.targetMs)})` : figure;
}

export function latencyOverTarget(f: DeviceFigures | null): boolean {
  return !!f && finite(f.latencyMs) && finite(f.targetMs) && f.latencyMs > f.targetMs;
}

// ---------------------------------------------------------------- baseline

const BaselineEntrySchema = z.object({ devices: z.number(), latencyMs: z.number().nullable(), errorRate: z.number().nullable() });

export interface BaselineRow {
  hardwareClass: string;
  baselineDevices: number;
  baselineLatencyMs: number | null;
  baselineErrorRate: number | null;
  /** The wave's devices of this class, and the median latency of those with figures. */
  waveDevices: number;
  waveLatencyMs: number | null;
  /** Wave latency against the baseline: 0.12 = 12 % slower. */
  change: number | null;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? null) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

/**
 * The baseline cohort (devices still on the old model) of each hardware class the wave has devices on,
 * beside the wave's own latency on that class. Entries that are not baseline figures are left out.
 */
export function baselineRows(
  baseline: Record<string, unknown> | null | undefined,
  waveDevices: readonly { hardwareClass: string; figures: DeviceFigures | null }[],
): BaselineRow[] {
  if (!baseline) return [];
  return Object.entries(baseline)
    .flatMap(([hardwareClass, raw]) => {
      const b = BaselineEntrySchema.safeParse(raw);
      const onClass = waveDevices.filter((d) => d.hardwareClass === hardwareClass);
      if (!b.success || onClass.length === 0) return [];
      const waveLatencyMs = median(onClass.flatMap((d) => (d.figures && finite(d.figures.latencyMs) ? [d.figures.latencyMs] : [])));
      const change =
        waveLatencyMs !== null && finite(b.data.latencyMs) && b.data.latencyMs > 0 ? waveLatencyMs / b.data.latencyMs - 1 : null;
      return [
        {
          hardwareClass,
          baselineDevices: b.data.devices,
          baselineLatencyMs: b.data.latencyMs,
          baselineErrorRate: b.data.errorRate,
          waveDevices: onClass.length,
          waveLatencyMs,
          change,
        },
      ];
    })
    .sort((a, b) => a.hardwareClass.localeCompare(b.hardwareClass));
}

// ---------------------------------------------------------------- target

/** "scenario financial trading · labels site=north, rack=3 · 12 listed devices"; every given filter must match. */
export function describeTarget(t: { scenario?: string; labels?: Record<string, string>; deviceIds?: string[] }): string {
  const parts: string[] = [];
  if (t.scenario) parts.push(`scenario ${humanize(t.scenario)}`);
  const labels = Object.entries(t.labels ?? {});
  if (labels.length) parts.push(`labels ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  if (t.deviceIds) parts.push(`${t.deviceIds.length} listed ${t.deviceIds.length === 1 ? 'device' : 'devices'}`);
  return parts.length ? parts.join(' · ') : DASH;
}
