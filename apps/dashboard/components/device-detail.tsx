'use client';

import { useQuery } from '@tanstack/react-query';
import { UpdateOutcomeSchema } from '@edge-fleet/shared/schemas';
import {
  formatAgo,
  formatDateTime,
  formatLatencyTarget,
  formatMegabytes,
  formatMs,
  formatPercent,
  formatPower,
  humanize,
} from '@/lib/format';
import { metadataLabel, overQuotaLabel } from '@/lib/device-runs';
import { measuredRows } from '@/lib/measured';
import { cacheHitRate, cacheSavedMs, type ForwardedShare, forwardedShare, windowSourceLabel } from '@/lib/telemetry-source';
import { POLL_INTERVAL_MS } from '@/lib/live';
import { useTRPC, type DeviceDetail as Detail, type TelemetryPoint } from '@/lib/trpc';
import { DeviceAccess } from './device-access';
import { DeviceEnergy } from './device-energy';
import { DeviceRemediation } from './device-remediation';
import { CHART_WINDOW_MINUTES, DeviceCharts } from './device-charts';
import { QueryStatus, RefreshError } from './query-status';
import { StatusBadge } from './status-badge';

export function DeviceDetail({ id }: { id: string }) {
  const trpc = useTRPC();
  const live = { refetchInterval: POLL_INTERVAL_MS };
  const detail = useQuery(trpc.devices.get.queryOptions({ id }, live));
  const telemetry = useQuery(trpc.devices.telemetry.queryOptions({ id, sinceMinutes: CHART_WINDOW_MINUTES, limit: 1_000 }, live));
  if (detail.data === undefined || telemetry.data === undefined)
    return <QueryStatus error={detail.error ?? telemetry.error} what="device" />;
  const device = detail.data;
  const points = telemetry.data.points;
  // "now" of the charts and ages: when the figures were fetched, not when the page re-rendered
  const at = telemetry.dataUpdatedAt;
  return (
    <>
      <RefreshError error={detail.error ?? telemetry.error} />
      <DeviceHeader d={device} />
      <CloneAlarmBanner d={device} />
      <DeviceAccess id={device.id} name={device.name} revoked={device.status === 'revoked'} />
      <LatestFigures
        latest={points.at(-1) ?? null}
        cache={{ rate: cacheHitRate(points), savedMs: cacheSavedMs(points) }}
        forwarded={forwardedShare(points)}
      />
      <DeviceCharts
        points={points}
        now={at}
        target={device.policy ? { percentile: device.policy.latencyPercentile, ms: device.policy.latencyTargetMs } : null}
      />
      <div className="panels">
        <HardwarePanel d={device} />
        <PolicyPanel d={device} />
        <StatePanel d={device} now={at} />
        <MeasuredPanel d={device} now={at} />
      </div>
      <DeviceEnergy id={device.id} />
      <DeviceRemediation id={device.id} />
    </>
  );
}

function DeviceHeader({ d }: { d: Detail }) {
  return (
    <header className="device-header">
      <h1 data-testid="device-name">{d.name}</h1>
      <StatusBadge status={d.status} />
      <span>{humanize(d.scenario)}</span>
      {d.policy && <span className={`badge tier-${d.policy.tier}`}>{d.policy.tier} tier</span>}
      <code className="muted">{d.id}</code>
    </header>
  );
}

/** Two clients with this device's identity were seen (RELIABILITY row 13): what was seen and what to do. */
function CloneAlarmBanner({ d }: { d: Detail }) {
  const a = d.cloneAlarm;
  if (!a) return null;
  return (
    <p className="banner error" role="alert" data-testid="clone-alarm">
      Clone suspected since {formatDateTime(a.suspectedAt)} ({a.detections} {a.detections === 1 ? 'detection' : 'detections'}): {a.reason}.
      Revoke the device and enroll the genuine one again; enabling it again clears this alarm.
    </p>
  );
}

function LatestFigures({
  latest,
  cache,
  forwarded,
}: {
  latest: TelemetryPoint | null;
  cache: { rate: number | null; savedMs: number | null };
  forwarded: ForwardedShare | null;
}) {
  return (
    <section className="stats">
      <div className="stat">
        <span className="stat-label">Figures from (last window)</span>
        <span className="stat-value" data-testid="telemetry-source">
          {windowSourceLabel(latest)}
        </span>
      </div>
      <div className="stat">
        <span className="stat-label">Latest p99</span>
        <span className="stat-value" data-testid="latest-p99">
          {formatMs(latest?.p99)}
        </span>
      </div>
      <div className="stat">
        <span className="stat-label">Latest power</span>
        <span className="stat-value" data-testid="latest-power" title={latest?.powerDetail}>
          {formatPower(latest?.powerW, latest?.powerSource)}
        </span>
      </div>
      <div className="stat">
        <span className="stat-label">Latest error rate</span>
        <span className="stat-value" data-testid="latest-error-rate">
          {formatPercent(latest && latest.inferences > 0 ? latest.errorRate : null)}
        </span>
      </div>
      <div className="stat">
        <span className="stat-label">Inferences (last window)</span>
        <span className="stat-value">{latest ? latest.inferences : '—'}</span>
      </div>
      {latest?.source === 'traffic' && (
        <div className="stat">
          <span className="stat-label">Queue wait p99 (last window)</span>
          <span className="stat-value" data-testid="latest-queue-p99">
            {formatMs(latest.queueP99)}
          </span>
        </div>
      )}
      {forwarded !== null && (
        <div className="stat">
          <span className="stat-label">Forwarded to cloud nodes ({CHART_WINDOW_MINUTES} min)</span>
          <span
            className="stat-value"
            data-testid="forwarded-share"
            title={`${forwarded.local} local runs, ${forwarded.remote} forwarded; latency figures above are the local runs'`}
          >
            {formatPercent(forwarded.share)} ({forwarded.remoteErrors} failed)
          </span>
        </div>
      )}
      {latest !== null && (latest.remoteInferences ?? 0) > 0 && (
        <div className="stat">
          <span className="stat-label">Cloud round trip p50 / p99 (last window)</span>
          <span className="stat-value" data-testid="latest-remote-latency">
            {formatMs(latest.remoteP50)} / {formatMs(latest.remoteP99)}
          </span>
        </div>
      )}
      {cache.rate !== null && (
        <div className="stat">
          <span className="stat-label">Cache hit rate ({CHART_WINDOW_MINUTES} min)</span>
          <span className="stat-value" data-testid="cache-hit-rate">
            {formatPercent(cache.rate)}
          </span>
        </div>
      )}
      {cache.savedMs !== null && (
        <div className="stat">
          <span className="stat-label">Inference time saved by the cache ({CHART_WINDOW_MINUTES} min)</span>
          <span
            className="stat-value"
            data-testid="cache-saved"
            title="estimated by the agent from measured runs: each hit saved the run time of the run whose answer it reused"
          >
            {formatMs(cache.savedMs)} (estimated)
          </span>
        </div>
      )}
    </section>
  );
}

function HardwarePanel({ d }: { d: Detail }) {
  const hw = d.hardwareProfile;
  const rows: [string, string][] = [
    ['Profile', hw.name],
    ['Hardware class', d.hardwareClass],
    ['Accelerator', hw.accelerator],
    ['Compute', `${hw.tops} TOPS`],
    ['On-chip SRAM', formatMegabytes(hw.sramMb)],
    ['DRAM', formatMegabytes(hw.dramMb)],
    ['Power budget', `${hw.powerBudgetW} W (idle ${hw.idlePowerW} W, active ${hw.activePowerW} W)`],
    ['Precisions', hw.precisions.join(', ')],
    ['CPU cores', String(hw.cpuCores)],
  ];
  return <KeyValuePanel title="Hardware profile" rows={rows} testId="hardware-table" />;
}

function PolicyPanel({ d }: { d: Detail }) {
  const p = d.policy;
  if (!p) return <KeyValuePanel title="Policy target" rows={[['Policy', 'none for this scenario']]} />;
  const rows: [string, string][] = [
    ['Tier', p.tier],
    ['Latency target', formatLatencyTarget(p.latencyPercentile, p.latencyTargetMs)],
    ['Location', p.location],
    ['Precision order', p.precisionOrder.join(' → ')],
    ['Memory placement', p.memoryPlacement],
    ['Max error rate', formatPercent(p.errorRateMax)],
    ['Power budget', p.powerBudgetW === null ? 'hardware budget' : `${p.powerBudgetW} W`],
    ['Result cache', p.resultCache.entries > 0 ? `${p.resultCache.entries} answers for ${formatMs(p.resultCache.ttlMs)}` : 'off'],
    ['Model', p.model ? `${p.model.name} ${p.model.version}` : 'no model'],
  ];
  return <KeyValuePanel title="Policy target" rows={rows} testId="policy-table" />;
}

function StatePanel({ d, now }: { d: Detail; now: number }) {
  const r = d.reported;
  const update = UpdateOutcomeSchema.safeParse(r?.lastUpdate);
  const outcome = update.success
    ? `${update.data.outcome} (assignment v${update.data.assignmentVersion}, ${formatAgo(update.data.at, now)})` +
      (update.data.reasonCode ? ` — ${update.data.reasonCode}` : '') +
      (update.data.message ? `: ${update.data.message}` : '')
    : 'none reported';
  const rows: [string, string][] = [
    ['Desired assignment', `v${d.assignmentVersion}`],
    ['Desired model', d.desired?.model ? `${d.desired.model.name} ${d.desired.model.version} (${d.desired.model.precision})` : 'none'],
    ['Why', d.desired?.reason ?? '—'],
    ...(d.refusal
      ? ([['Refused', `${formatAgo(d.refusal.at, now)}: ${d.refusal.reason} (keeps what it runs)`]] as [string, string][])
      : []),
    ['Applied assignment', r && r.appliedAssignmentVersion !== null ? `v${r.appliedAssignmentVersion}` : '—'],
    ['Phase', r?.phase ?? 'not reported'],
    ['Active model', d.active ? `${d.active.name} ${d.active.version} (${d.active.precision})` : 'none'],
    ['Last update', outcome],
    ['Metadata', metadataLabel(r?.staleMetadata, r !== null)],
    ['Model runs', r?.placement ? `${r.placement.runsOn} — ${r.placement.basis}` : 'not reported'],
    ...(r?.faultInjection ? ([['Fault injection', faultInjectionLabel(r.faultInjection, now)]] as [string, string][]) : []),
    ...(d.hardwareProfile.location === 'cloud'
      ? ([['Serves hybrid devices at', r?.inferenceUrl ?? 'no address reported (no TCP listener)']] as [string, string][])
      : []),
    ['Reported', r ? formatAgo(r.reportedAt, now) : 'never'],
    ['Last seen', formatAgo(d.lastSeenAt, now)],
    ['Telemetry over quota', overQuotaLabel(d.telemetryOverQuota)],
    ['Enrolled', formatDateTime(d.enrolledAt)],
  ];
  return <KeyValuePanel title="Desired / reported" rows={rows} testId="state-table" />;
}

/** Fault injection on (a test or demo slows the model on purpose): the figures above are not the model's own. */
function faultInjectionLabel(f: { latencyMs: number; since: string }, now: number): string {
  const when = Date.parse(f.since) > now ? `from ${formatDateTime(f.since)}` : `started ${formatAgo(f.since, now)}`;
  return `ON: every run slowed by ${f.latencyMs} ms on purpose (${when})`;
}

/** What the device measured itself: the first bases of every latency prediction for it ("Why" states which one was used). */
function MeasuredPanel({ d, now }: { d: Detail; now: number }) {
  return <KeyValuePanel title="Measured on this device" rows={measuredRows(d.measured, now)} testId="measured-table" />;
}

function KeyValuePanel({ title, rows, testId }: { title: string; rows: [string, string][]; testId?: string }) {
  return (
    <section className="panel">
      <h2>{title}</h2>
      <table className="kv" data-testid={testId}>
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k}>
              <th scope="row">{k}</th>
              <td>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
