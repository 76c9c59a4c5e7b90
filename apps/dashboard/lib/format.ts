/** Display formatting shared by every page; every function returns "—" for a missing figure. */

export const DASH = '—';

function isFiniteNumber(n: number | null | undefined): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/** 0.42 → "0.42 ms", 12.345 → "12.3 ms", 1234 → "1234 ms". */
export function formatMs(ms: number | null | undefined): string {
  if (!isFiniteNumber(ms)) return DASH;
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

/** An error *rate* (0..1) as a percentage; small rates keep enough digits to be told apart from zero. */
export function formatPercent(rate: number | null | undefined): string {
  if (!isFiniteNumber(rate)) return DASH;
  const pct = rate * 100;
  if (pct === 0) return '0 %';
  if (pct < 0.01) return `${pct.toPrecision(2)} %`;
  if (pct < 10) return `${pct.toFixed(2)} %`;
  return `${pct.toFixed(1)} %`;
}

/** Power with its source always stated: "3.1 W (estimate)". */
export function formatPower(watts: number | null | undefined, source: string | null | undefined): string {
  if (!isFiniteNumber(watts)) return DASH;
  const w = watts < 10 ? watts.toFixed(1) : Math.round(watts).toString();
  return source ? `${w} W (${source})` : `${w} W`;
}

/** Describes where a power figure comes from, for chart labels. */
export function powerSourceLabel(source: string | null | undefined): string {
  switch (source) {
    case 'estimate':
      return 'estimate from hardware profile';
    case 'sensor':
      return 'sensor';
    case 'simulated':
      return 'simulated';
    case null:
    case undefined:
      return 'no data';
    default:
      return source;
  }
}

export function formatBytes(bytes: number | null | undefined): string {
  if (!isFiniteNumber(bytes)) return DASH;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'] as const;
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v.toString() : v.toFixed(1)} ${units[i] ?? 'B'}`;
}

/** Megabytes as the hardware profile states them: 8 → "8 MB", 4096 → "4 GB". */
export function formatMegabytes(mb: number | null | undefined): string {
  if (!isFiniteNumber(mb)) return DASH;
  if (mb >= 1024) return `${Number((mb / 1024).toFixed(1))} GB`;
  return `${Number(mb.toFixed(1))} MB`;
}

/** "p99 < 10 ms" */
export function formatLatencyTarget(percentile: string, targetMs: number): string {
  return `${percentile} < ${Number(targetMs.toFixed(1))} ms`;
}

/** Time since `iso` relative to `now`: "12 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" for null. */
export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return DASH;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return DASH;
  return d.toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

/** "financial_trading" → "financial trading" */
export function humanize(id: string): string {
  return id.replace(/_/g, ' ');
}
