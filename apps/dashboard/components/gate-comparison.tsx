import type { RolloutGateOutcome } from '@/lib/api-types';
import { cdfPlot, formatEffect, formatInterval, formatPValue, VERDICT_LABELS, verdictClass } from '@/lib/gate-comparison';

type ClassComparison = NonNullable<RolloutGateOutcome['classes']>[number];

const W = 280;
const H = 110;
const PAD = { left: 30, bottom: 18, top: 6, right: 8 };

/** Canary vs baseline CDFs of one hardware class, as inline SVG (no charting dependency). */
function CdfChart({ c }: { c: ClassComparison }) {
  const plot = cdfPlot(c.canary.cdf, c.baseline.cdf, W - PAD.left - PAD.right, H - PAD.top - PAD.bottom);
  if (!plot) return <p className="muted">No distribution to plot.</p>;
  return (
    <svg
      width={W}
      height={H}
      viewBox={`0 0 ${W} ${H}`}
      role="img"
      aria-label={`${c.percentile} latency CDF on ${c.hardwareClass}: canary vs baseline`}
      data-testid={`cdf-${c.hardwareClass}`}
    >
      <g transform={`translate(${PAD.left} ${PAD.top})`}>
        <path d={plot.baseline} className="cdf-baseline" fill="none" />
        <path d={plot.canary} className="cdf-canary" fill="none" />
        <line x1={0} x2={W - PAD.left - PAD.right} y1={H - PAD.top - PAD.bottom} y2={H - PAD.top - PAD.bottom} className="axis" />
        {plot.ticks.map((t) => (
          <text key={t.x} x={t.x} y={H - PAD.top - PAD.bottom + 13} textAnchor="middle" className="tick">
            {t.label}
          </text>
        ))}
        <text x={-4} y={4} textAnchor="end" className="tick">
          1
        </text>
        <text x={-4} y={H - PAD.top - PAD.bottom} textAnchor="end" className="tick">
          0
        </text>
      </g>
    </svg>
  );
}

/** Per hardware class: the counts, the effect at the tier percentile, its interval, the p-value, why, and the plot. */
export function GateComparison({ classes }: { classes: readonly ClassComparison[] }) {
  return (
    <div className="gate-comparison" data-testid="gate-comparison">
      {classes.map((c) => (
        <figure key={c.hardwareClass} className="comparison">
          <figcaption>
            <strong>{c.hardwareClass}</strong>, {c.percentile}:{' '}
            <span className={`badge ${verdictClass(c.verdict)}`}>{VERDICT_LABELS[c.verdict]}</span>
            <span className="legend">
              <span className="cdf-canary-key">canary</span> vs <span className="cdf-baseline-key">baseline</span>
            </span>
          </figcaption>
          <CdfChart c={c} />
          <dl className="comparison-figures">
            <dt>Canary</dt>
            <dd>
              {c.canary.devices} device(s), {c.canary.windows} window(s), {c.canary.inferences.toLocaleString('en-US')} inferences,{' '}
              {c.percentile} {c.canary.quantileMs === null ? '—' : `${c.canary.quantileMs.toPrecision(3)} ms`}
            </dd>
            <dt>Baseline</dt>
            <dd>
              {c.baseline.devices} device(s), {c.baseline.windows} window(s), {c.baseline.inferences.toLocaleString('en-US')} inferences,{' '}
              {c.percentile} {c.baseline.quantileMs === null ? '—' : `${c.baseline.quantileMs.toPrecision(3)} ms`}
            </dd>
            <dt>Effect</dt>
            <dd data-testid="comparison-effect">{formatEffect(c.effect, c.effectMs)}</dd>
            <dt>Interval</dt>
            <dd>{formatInterval(c.interval, c.confidence)}</dd>
            <dt>p-value</dt>
            <dd>{formatPValue(c.pValue)}</dd>
            <dt>Needs</dt>
            <dd>
              {c.evidence.minInferences} inferences in {c.evidence.minWindows} windows per side; a regression counts beyond{' '}
              {formatEffect(c.thresholds.relative, c.thresholds.absoluteMs)}
            </dd>
          </dl>
          <p className="wrap">{c.why}</p>
        </figure>
      ))}
    </div>
  );
}
