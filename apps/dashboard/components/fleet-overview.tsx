'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { formatDateTime, formatLatencyTarget, formatMs, formatPercent, humanize } from '@/lib/format';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { useTRPC, type FleetOverview as Overview } from '@/lib/trpc';
import { ParkedTelemetry } from './parked-telemetry';
import { QueryStatus, RefreshError } from './query-status';

const STATUSES = ['online', 'offline', 'pending', 'revoked'] as const;

export function FleetOverview() {
  const trpc = useTRPC();
  const overview = useQuery(trpc.fleet.overview.queryOptions(undefined, { refetchInterval: POLL_INTERVAL_MS }));
  const alerts = useQuery(trpc.alerts.list.queryOptions({ state: 'firing', limit: 1 }, { refetchInterval: POLL_INTERVAL_MS }));
  if (overview.data === undefined) return <QueryStatus error={overview.error} what="fleet overview" />;
  return <OverviewView data={overview.data} error={overview.error} firing={alerts.data?.firing ?? null} />;
}

function OverviewView({ data, error, firing }: { data: Overview; error: unknown; firing: number | null }) {
  return (
    <>
      <h1>Fleet overview</h1>
      <RefreshError error={error} />
      <ParkedTelemetry />
      <section className="stats">
        <div className="stat">
          <span className="stat-label">Devices</span>
          <span className="stat-value" data-testid="fleet-total">
            {data.total}
          </span>
        </div>
        <Link href="/alerts" className={`stat ${firing ? 'stat-offline' : ''}`}>
          <span className="stat-label">Firing alerts</span>
          <span className="stat-value" data-testid="alerts-firing">
            {firing ?? '—'}
          </span>
        </Link>
        {STATUSES.map((s) => (
          <div key={s} className={`stat stat-${s}`}>
            <span className="stat-label">{s}</span>
            <span className="stat-value" data-testid={`status-${s}`}>
              {data.byStatus[s]}
            </span>
          </div>
        ))}
      </section>
      <p className="muted" data-testid="counted-at">
        Device counts as of {formatDateTime(data.countedAt)}
      </p>
      {data.total === 0 && (
        <p className="empty-state">
          No devices have enrolled yet. Create an enrollment token and start a device agent; it will appear here within seconds.
        </p>
      )}
      <h2>Scenarios</h2>
      {data.scenarios.length === 0 ? (
        <p className="empty-state">No risk-tier policies are defined.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Scenario</th>
              <th>Tier</th>
              <th>Latency target</th>
              <th>Location</th>
              <th>Precision order</th>
              <th>Model</th>
              <th className="num">Devices</th>
              <th className="num">Online</th>
              <th className="num" title="the last 24 h, to whole hours, every device and variant (hourly rollups)">
                Inferences 24 h
              </th>
              <th className="num">Errors 24 h</th>
              <th className="num">p99 24 h</th>
            </tr>
          </thead>
          <tbody>
            {data.scenarios.map((s) => (
              <tr key={s.scenario} data-testid={`scenario-row-${s.scenario}`}>
                <td>
                  <Link href={`/devices?scenario=${encodeURIComponent(s.scenario)}`}>{humanize(s.scenario)}</Link>
                </td>
                <td>
                  <span className={`badge tier-${s.tier}`}>{s.tier}</span>
                </td>
                <td>{formatLatencyTarget(s.latencyPercentile, s.latencyTargetMs)}</td>
                <td>{s.location}</td>
                <td>{s.precisionOrder.join(' → ')}</td>
                <td>{s.model ? `${s.model.name} ${s.model.version}` : <span className="muted">no model</span>}</td>
                <td className="num">{s.total}</td>
                <td className="num">{s.online}</td>
                <td className="num" data-testid={`scenario-inferences-24h-${s.scenario}`}>
                  {s.last24h ? s.last24h.inferences.toLocaleString('en-US') : <span className="muted">none</span>}
                </td>
                <td className="num">{s.last24h ? formatPercent(s.last24h.errorRate) : ''}</td>
                <td className="num">{s.last24h ? formatMs(s.last24h.p99) : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
