/** Pure geometry for the inline-SVG charts: scales, "nice" ticks and polyline paths. */

export type Range = readonly [number, number];

/** Maps `domain` linearly onto `range`; a zero-width domain maps everything to the middle of the range. */
export function linearScale(domain: Range, range: Range): (v: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  if (d1 === d0) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** A step of 1, 2 or 5 × 10^n close to span / count. */
function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const nice = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
  return nice * mag;
}

/**
 * The y domain for a chart: starts at 0, covers every value and the reference line (e.g. a latency
 * target), and ends on a nice tick. Never empty: no data gives [0, 1].
 */
export function yDomain(values: readonly number[], reference?: number | null): { domain: Range; ticks: number[] } {
  const finite = values.filter(Number.isFinite);
  if (reference !== undefined && reference !== null && Number.isFinite(reference)) finite.push(reference);
  const max = finite.length > 0 ? Math.max(...finite) : 0;
  const top = max > 0 ? max * 1.1 : 1;
  const step = niceStep(top, 4);
  const end = Math.ceil(top / step) * step;
  const ticks: number[] = [];
  // Integer steps avoid floating-point drift in tick labels (0.30000000000000004).
  for (let i = 0; i * step <= end + step / 1e6; i += 1) ticks.push(Number((i * step).toPrecision(12)));
  return { domain: [0, end], ticks };
}

/** Evenly spaced time ticks (ms since epoch) on whole minutes across `domain`. */
export function timeTicks(domain: Range, maxTicks = 6): number[] {
  const [t0, t1] = domain;
  if (!(t1 > t0)) return [t0];
  const minute = 60_000;
  const stepMinutes = Math.max(1, Math.ceil((t1 - t0) / minute / Math.max(1, maxTicks - 1)));
  const step = stepMinutes * minute;
  const ticks: number[] = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);
  return ticks;
}

export interface XY {
  x: number;
  y: number | null;
}

/**
 * Splits a series into SVG polyline `points` strings, breaking at missing values (a gap in telemetry is
 * drawn as a gap, not as a line across it). A run of one point is returned too; the chart draws it as a dot.
 */
export function polylineSegments(points: readonly XY[], sx: (v: number) => number, sy: (v: number) => number): string[] {
  const segments: string[] = [];
  let current: string[] = [];
  for (const p of points) {
    if (p.y === null || !Number.isFinite(p.y)) {
      if (current.length > 0) segments.push(current.join(' '));
      current = [];
      continue;
    }
    current.push(`${round(sx(p.x))},${round(sy(p.y))}`);
  }
  if (current.length > 0) segments.push(current.join(' '));
  return segments;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Axis label for a tick: as many decimals as the tick step needs, no more ("0", "2.5", "0.02"). */
export function formatTick(value: number, ticks: readonly number[]): string {
  const step = ticks.length > 1 ? Math.abs((ticks[1] ?? 0) - (ticks[0] ?? 0)) : Math.abs(value);
  const decimals = step > 0 ? Math.min(6, Math.max(0, -Math.floor(Math.log10(step) + 1e-9))) : 0;
  return value.toFixed(decimals);
}
