import { formatTick, linearScale, polylineSegments, timeTicks, yDomain, type Range } from '@/lib/chart-scale';

export interface ChartSeries {
  label: string;
  /** A CSS class that sets the stroke colour (see globals.css). */
  className: string;
  values: readonly (number | null)[];
}

export interface LineChartProps {
  title: string;
  unit: string;
  /** Sample times, ms since epoch; one per value in every series. */
  times: readonly number[];
  timeDomain: Range;
  series: readonly ChartSeries[];
  reference?: { value: number; label: string } | null;
  /** Shown over the plot area when no series has a value in the window. */
  emptyLabel?: string;
  testId: string;
}

const W = 640;
const H = 220;
const PAD = { left: 56, right: 16, top: 12, bottom: 34 };

function clock(t: number): string {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** A time-series chart drawn as inline SVG: one polyline per series, gaps kept, lone points drawn as dots. */
export function LineChart({
  title,
  unit,
  times,
  timeDomain,
  series,
  reference,
  emptyLabel = 'No telemetry in this window',
  testId,
}: LineChartProps) {
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const { domain, ticks } = yDomain(all, reference?.value);
  const sx = linearScale(timeDomain, [PAD.left, W - PAD.right]);
  const sy = linearScale(domain, [H - PAD.bottom, PAD.top]);
  const hasData = all.length > 0;

  return (
    <figure className="chart" data-testid={testId}>
      <figcaption>
        <span className="chart-title">{title}</span>
        <span className="legend">
          {series.map((s) => (
            <span key={s.label} className={`legend-item ${s.className}`}>
              <svg width="18" height="8" aria-hidden="true">
                <line x1="0" y1="4" x2="18" y2="4" />
              </svg>
              {s.label}
            </span>
          ))}
          {reference && (
            <span className="legend-item reference">
              <svg width="18" height="8" aria-hidden="true">
                <line x1="0" y1="4" x2="18" y2="4" />
              </svg>
              {reference.label}
            </span>
          )}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}, ${unit}`} preserveAspectRatio="xMidYMid meet">
        <g className="axis">
          {ticks.map((t) => (
            <g key={`y${t}`}>
              <line className="grid" x1={PAD.left} x2={W - PAD.right} y1={sy(t)} y2={sy(t)} />
              <text x={PAD.left - 6} y={sy(t)} dy="0.32em" textAnchor="end">
                {formatTick(t, ticks)}
              </text>
            </g>
          ))}
          {timeTicks(timeDomain).map((t) => (
            <text key={`x${t}`} x={sx(t)} y={H - PAD.bottom + 16} textAnchor="middle">
              {clock(t)}
            </text>
          ))}
          <line x1={PAD.left} x2={W - PAD.right} y1={H - PAD.bottom} y2={H - PAD.bottom} />
          <line x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={H - PAD.bottom} />
          <text
            className="unit"
            x={12}
            y={(PAD.top + H - PAD.bottom) / 2}
            textAnchor="middle"
            transform={`rotate(-90 12 ${(PAD.top + H - PAD.bottom) / 2})`}
          >
            {unit}
          </text>
          <text className="unit" x={W - PAD.right} y={H - 4} textAnchor="end">
            time (local)
          </text>
        </g>
        {reference && <line className="reference" x1={PAD.left} x2={W - PAD.right} y1={sy(reference.value)} y2={sy(reference.value)} />}
        {series.map((s) => {
          const points = s.values.map((y, i) => ({ x: times[i] ?? Number.NaN, y }));
          return (
            <g key={s.label} className={`series ${s.className}`}>
              {polylineSegments(points, sx, sy).map((seg) =>
                seg.includes(' ') ? (
                  <polyline key={seg} points={seg} />
                ) : (
                  <circle key={seg} cx={seg.split(',')[0]} cy={seg.split(',')[1]} r="3" />
                ),
              )}
            </g>
          );
        })}
        {!hasData && (
          <text className="empty" x={(PAD.left + W - PAD.right) / 2} y={(PAD.top + H - PAD.bottom) / 2} textAnchor="middle">
            {emptyLabel}
          </text>
        )}
      </svg>
    </figure>
  );
}
