import { powerSourceLabel } from '@/lib/format';
import { chartSources } from '@/lib/telemetry-source';
import type { TelemetryPoint } from '@/lib/trpc';
import { LineChart } from './line-chart';

export const CHART_WINDOW_MINUTES = 15;

interface Props {
  points: readonly TelemetryPoint[];
  now: number;
  target: { percentile: string; ms: number } | null;
}

/** Distinct power sources in the window, in order of appearance: a source change must not go unnoticed. */
function powerSources(points: readonly TelemetryPoint[]): string {
  const sources = [...new Set(points.map((p) => p.powerSource))];
  return sources.length === 0 ? 'no data' : sources.map(powerSourceLabel).join(' / ');
}

export function DeviceCharts({ points, now, target }: Props) {
  const times = points.map((p) => Date.parse(p.windowEnd));
  const domain = [now - CHART_WINDOW_MINUTES * 60_000, now] as const;
  return (
    <div className="charts">
      <LineChart
        testId="latency-chart"
        // traffic latency is the run alone (queue wait is apart); a probe's is what nobody asked for
        title={`Inference latency — ${chartSources(points)}`}
        unit="ms"
        times={times}
        timeDomain={domain}
        series={[
          { label: 'p50', className: 's-p50', values: points.map((p) => p.p50) },
          { label: 'p95', className: 's-p95', values: points.map((p) => p.p95) },
          { label: 'p99', className: 's-p99', values: points.map((p) => p.p99) },
        ]}
        reference={target ? { value: target.ms, label: `target ${target.percentile} < ${target.ms} ms` } : null}
        emptyLabel="No inferences in this window"
      />
      <LineChart
        testId="power-chart"
        title={`Power — ${powerSources(points)}`}
        unit="W"
        times={times}
        timeDomain={domain}
        series={[{ label: 'power', className: 's-power', values: points.map((p) => p.powerW) }]}
      />
      <LineChart
        testId="error-chart"
        title="Error rate"
        unit="%"
        times={times}
        timeDomain={domain}
        // A window without inferences has no error rate; plotting 0 % there would claim a health it never measured.
        series={[
          { label: 'errors / inferences', className: 's-error', values: points.map((p) => (p.inferences > 0 ? p.errorRate * 100 : null)) },
        ]}
        emptyLabel="No inferences in this window"
      />
    </div>
  );
}
