'use client';

import { GateComparison } from './gate-comparison';
import { verdictClass, verdictOf, VERDICT_LABELS, type GateVerdict } from '@/lib/gate-comparison';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { formatDateTime, formatMs, formatPercent, humanize } from '@/lib/format';
import {
  baselineRows,
  combinedPowerSource,
  describeGateSpec,
  describeTarget,
  formatChange,
  formatDeviceLatency,
  formatDuration,
  formatFailing,
  formatGateFigure,
  formatGateThreshold,
  formatPowerWithSource,
  formatRelative,
  deviceErrorRate,
  isActiveRollout,
  isMeasuredPower,
  latencyOverTarget,
  metricLabel,
  parseFigures,
  waveProgress,
  type DeviceFigures,
} from '@/lib/rollouts';
import { POLL_INTERVAL_MS } from '@/lib/live';
import {
  useTRPC,
  type RolloutDeviceState,
  type RolloutGate,
  type RolloutGateOutcome,
  type RolloutView,
  type RolloutWave,
} from '@/lib/trpc';
import { QueryStatus, RefreshError } from './query-status';
import { RolloutControls } from './rollout-controls';
import { StateCounts } from './state-counts';
import { StatusBadge } from './status-badge';

/** A device row with its figures read once. */
interface DeviceRow extends RolloutDeviceState {
  parsed: DeviceFigures | null;
}

/** The live view of one rollout: refreshes every 2 s while it can still change, then stops. */
export function RolloutDetail({ id }: { id: string }) {
  const trpc = useTRPC();
  const rollout = useQuery(
    trpc.rollouts.get.queryOptions(
      { id },
      // an ended rollout no longer changes: stop asking (an action's answer can make it live again)
      { refetchInterval: (q) => (q.state.data && !isActiveRollout(q.state.data.status) ? false : POLL_INTERVAL_MS) },
    ),
  );
  if (rollout.data === undefined) return <QueryStatus error={rollout.error} what="rollout" />;
  const view = rollout.data;
  const at = rollout.dataUpdatedAt;
  const devices: DeviceRow[] = view.deviceStates.map((d) => ({ ...d, parsed: parseFigures(d.figures) }));
  const live = isActiveRollout(view.status);

  return (
    <>
      <header className="device-header">
        <h1 data-testid="rollout-name">{view.name}</h1>
        <StatusBadge status={view.status} label={humanize(view.status)} />
        <span>{view.model}</span>
        <span>wave {waveProgress(view.currentWave, view.waves.length)}</span>
        <span className="muted" data-testid="rollout-live">
          {live ? `live: refreshes every ${POLL_INTERVAL_MS / 1000} s` : 'ended: no longer refreshing'}
        </span>
      </header>
      <RefreshError error={rollout.error} />
      <p className={`rollout-reason status-text-${view.status}`} data-testid="rollout-reason">
        {view.reason}
      </p>
      <RolloutControls view={view} />
      <PlanPanel view={view} />
      <h2>Waves</h2>
      {view.waves.map((w) => (
        <WaveSection
          key={w.index}
          wave={w}
          count={view.waves.length}
          live={live}
          current={view.currentWave === w.index && live}
          devices={devices}
          now={at}
        />
      ))}
      <DeviceTable devices={devices} total={view.devices} />
    </>
  );
}

function PlanPanel({ view }: { view: RolloutView }) {
  const plan = view.plan;
  const gates = plan.gates ?? [];
  const rows: [string, string][] = [
    ['Target', describeTarget(view.target)],
    ['Devices', String(view.devices)],
    ['On a failed wave', plan.failurePolicy === 'rollback' ? 'roll the wave back to the previous model' : 'pause for an operator'],
    ['Notify rate', `${plan.notifyRatePerSecond} devices per second`],
    ['Created', `${formatDateTime(view.createdAt)} by ${view.createdBy}`],
    ['Updated', formatDateTime(view.updatedAt)],
  ];
  return (
    <div className="panels">
      <section className="panel">
        <h2>Plan</h2>
        <table className="kv" data-testid="rollout-plan">
          <tbody>
            {rows.map(([k, v]) => (
              <tr key={k}>
                <th scope="row">{k}</th>
                <td className="wrap">{v}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="panel">
        <h2>Gates</h2>
        {gates.length === 0 ? (
          <p className="muted">No gates: every wave passes once it has soaked.</p>
        ) : (
          <ul className="gate-specs">
            {gates.map((g) => (
              <li key={g.metric}>{describeGateSpec(g)}</li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function WaveSection({
  wave,
  count,
  live,
  current,
  devices,
  now,
}: {
  wave: RolloutWave;
  count: number;
  live: boolean;
  current: boolean;
  devices: DeviceRow[];
  now: number;
}) {
  const waveDevices = devices.filter((d) => d.wave === wave.index);
  // an ended rollout leaves its wave as it was: a soak that was cut short is no longer counting down
  const stopped = !live && (wave.status === 'soaking' || wave.status === 'pending');
  return (
    <section className={current ? 'wave current' : 'wave'} data-testid={`wave-${wave.index + 1}`}>
      <header className="wave-header">
        <h3>
          Wave {wave.index + 1} of {count}
          {wave.index === 0 && <span className="muted"> (canary)</span>}
        </h3>
        <StatusBadge status={wave.status} label={stopped ? `${humanize(wave.status)} (rollout ended)` : humanize(wave.status)} />
        {wave.requireApproval && <span className="badge">needs approval</span>}
        <span>
          {wave.size} {wave.size === 1 ? 'device' : 'devices'}
        </span>
        <span>soak {formatDuration(wave.soakSeconds)}</span>
      </header>
      <dl className="wave-times">
        <div>
          <dt>Started</dt>
          <dd title={wave.startedAt ?? undefined}>{wave.startedAt ? formatDateTime(wave.startedAt) : 'not yet'}</dd>
        </div>
        <div>
          <dt>Soak until</dt>
          <dd title={wave.soakUntil ?? undefined}>
            {wave.soakUntil
              ? stopped
                ? formatDateTime(wave.soakUntil)
                : `${formatDateTime(wave.soakUntil)} (${formatRelative(wave.soakUntil, now)})`
              : '—'}
          </dd>
        </div>
        <div>
          <dt>Evaluated</dt>
          <dd title={wave.evaluatedAt ?? undefined}>{wave.evaluatedAt ? formatDateTime(wave.evaluatedAt) : 'not yet'}</dd>
        </div>
        <div>
          <dt>Devices by state</dt>
          <dd>
            <StateCounts byState={wave.byState} />
          </dd>
        </div>
      </dl>
      {wave.gate ? (
        <GateResult gate={wave.gate} waveDevices={waveDevices} devices={devices} />
      ) : (
        <p className="muted">
          {stopped ? 'Not judged: the rollout ended before the gates judged this wave.' : 'The gates judge this wave once it has soaked.'}
        </p>
      )}
    </section>
  );
}

const SUMMARY: Record<GateVerdict, string> = {
  passed: 'Passed its gates',
  failed: 'Failed its gates',
  insufficient_evidence: 'Not judged yet: too little evidence',
};
const SUMMARY_CLASS: Record<GateVerdict, string> = { passed: 'success', failed: 'error', insufficient_evidence: 'warning' };

function GateResult({ gate, waveDevices, devices }: { gate: RolloutGate; waveDevices: DeviceRow[]; devices: DeviceRow[] }) {
  const powerSource = combinedPowerSource(waveDevices.map((d) => d.parsed?.powerSource));
  const names = new Map(devices.map((d) => [d.deviceId, d.name]));
  const baseline = baselineRows(
    gate.baseline,
    waveDevices.map((d) => ({ hardwareClass: d.hardwareClass, figures: d.parsed })),
  );
  // a gate stored before baselines were kept has none
  const baselineClasses = Object.keys(gate.baseline ?? {}).sort();
  return (
    <>
      <p className={`gate-summary ${SUMMARY_CLASS[verdictOf(gate)]}`} data-testid="gate-summary">
        {SUMMARY[verdictOf(gate)]} — {gate.judged} of {gate.devices} {gate.devices === 1 ? 'device' : 'devices'} judged,{' '}
        {formatDateTime(gate.evaluatedAt)}
      </p>
      {gate.remote && (
        <p className="muted" data-testid="gate-remote-share">
          Hybrid placement: {formatPercent(gate.remote.share)} of the wave&apos;s requests ({gate.remote.remote} on {gate.remote.devices}{' '}
          {gate.remote.devices === 1 ? 'device' : 'devices'}) were forwarded to cloud nodes; the gates judge the {gate.remote.local} local
          runs.
        </p>
      )}
      <table className="gates" data-testid="gate-table">
        <thead>
          <tr>
            <th>Gate</th>
            <th>Result</th>
            <th>Wave figure</th>
            <th>Threshold</th>
            <th>Devices</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {gate.gates.map((g) => (
            <GateRow key={g.metric} g={g} powerSource={g.metric === 'power' ? powerSource : null} names={names} />
          ))}
        </tbody>
      </table>
      {baseline.length === 0 && baselineClasses.length > 0 && (
        <p className="muted" data-testid="baseline-none">
          Baseline cohorts exist only on other hardware classes ({baselineClasses.join(', ')}); none matches a device of this wave.
        </p>
      )}
      {baseline.length > 0 && (
        <table className="baseline" data-testid="baseline-table">
          <caption>Baseline cohort: devices of the same hardware class still on the previous model, over the same period</caption>
          <thead>
            <tr>
              <th>Hardware class</th>
              <th className="num">Baseline devices</th>
              <th className="num">Baseline latency</th>
              <th className="num">Baseline error rate</th>
              <th className="num">Wave devices</th>
              <th className="num">Wave latency</th>
              <th className="num">Change</th>
            </tr>
          </thead>
          <tbody>
            {baseline.map((b) => (
              <tr key={b.hardwareClass}>
                <td>{b.hardwareClass}</td>
                <td className="num">{b.baselineDevices}</td>
                <td className="num">{formatMs(b.baselineLatencyMs)}</td>
                <td className="num">{formatPercent(b.baselineErrorRate)}</td>
                <td className="num">{b.waveDevices}</td>
                <td className="num">{formatMs(b.waveLatencyMs)}</td>
                <td className="num">{formatChange(b.change)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function GateRow({ g, powerSource, names }: { g: RolloutGateOutcome; powerSource: string | null; names: Map<string, string> }) {
  return (
    <tr data-testid={`gate-${g.metric}`}>
      <th scope="row">{metricLabel(g.metric)}</th>
      <td>
        <span className={`badge ${verdictClass(verdictOf(g))}`}>{VERDICT_LABELS[verdictOf(g)]}</span>
      </td>
      <td className={g.metric === 'power' && !isMeasuredPower(powerSource) ? 'not-measured' : undefined}>
        {formatGateFigure(g.metric, g.figure, powerSource)}
      </td>
      <td>{formatGateThreshold(g.metric, g.threshold, g.maxFailingShare)}</td>
      <td>{formatFailing(g.failing, g.judged, g.maxFailingShare)}</td>
      <td className="wrap">
        {g.detail}
        {g.failingDevices.length > 0 && (
          <ul className="failing-devices" data-testid="failing-devices">
            {g.failingDevices.map((f) => (
              <li key={f.deviceId}>
                <Link href={`/devices/${f.deviceId}`}>{names.get(f.deviceId) ?? f.deviceId}</Link>: {f.why}
              </li>
            ))}
            {g.failing > g.failingDevices.length && <li className="muted">… and {g.failing - g.failingDevices.length} more</li>}
          </ul>
        )}
        {(g.waitingDevices ?? []).length > 0 && (
          <ul className="waiting-devices" data-testid="waiting-devices">
            {(g.waitingDevices ?? []).map((f) => (
              <li key={f.deviceId}>
                <Link href={`/devices/${f.deviceId}`}>{names.get(f.deviceId) ?? f.deviceId}</Link>: waits for evidence, {f.why}
              </li>
            ))}
          </ul>
        )}
        {g.classes && g.classes.length > 0 && <GateComparison classes={g.classes} />}
      </td>
    </tr>
  );
}

function DeviceTable({ devices, total }: { devices: DeviceRow[]; total: number }) {
  return (
    <>
      <h2>Devices</h2>
      {devices.length < total && (
        <p className="muted">
          Showing the first {devices.length} of {total} devices, by wave and name.
        </p>
      )}
      {devices.length === 0 ? (
        <p className="empty-state">No device is in this rollout.</p>
      ) : (
        <table data-testid="rollout-devices">
          <thead>
            <tr>
              <th>Name</th>
              <th>Hardware</th>
              <th className="num">Wave</th>
              <th>State</th>
              <th>Latency</th>
              <th className="num">Error rate</th>
              <th className="num">Power</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            {devices.map((d) => (
              <DeviceRowView key={d.deviceId} d={d} />
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function DeviceRowView({ d }: { d: DeviceRow }) {
  const f = d.parsed;
  const measured = isMeasuredPower(f?.powerSource);
  return (
    <tr data-testid="rollout-device-row">
      <td className="wrap">
        <Link href={`/devices/${d.deviceId}`}>{d.name}</Link>
        {d.late && (
          <span className="badge late" title="enrolled after its wave had started">
            late joiner
          </span>
        )}
      </td>
      <td>{d.hardwareClass}</td>
      <td className="num">{d.wave + 1}</td>
      <td>
        <StatusBadge status={d.state} label={humanize(d.state)} />
      </td>
      <td className={latencyOverTarget(f) ? 'over-target' : undefined}>
        {f ? formatDeviceLatency(f) : <span className="muted">not judged yet</span>}
      </td>
      <td className="num">{formatPercent(deviceErrorRate(f))}</td>
      <td
        className={measured ? 'num' : 'num not-measured'}
        title={typeof f?.powerW === 'number' && !measured ? 'not a sensor measurement' : undefined}
      >
        {formatPowerWithSource(f?.powerW, f?.powerSource)}
      </td>
      <td className="wrap reason">{d.reason}</td>
    </tr>
  );
}
