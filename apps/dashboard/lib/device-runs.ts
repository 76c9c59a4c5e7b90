import type { DeviceListItem } from './api-types';

/** The parts of a device-list item that say what it runs and whether it has caught up with its assignment. */
export interface DeviceRunsFacts extends Pick<DeviceListItem, 'active' | 'assignmentVersion' | 'reason'> {
  reported: Pick<NonNullable<DeviceListItem['reported']>, 'phase' | 'appliedAssignmentVersion'> | null;
}

/** "classifier 2.0.0 int8", or null when nothing is active. */
export function runsLabel(d: DeviceRunsFacts): string | null {
  return d.active ? `${d.active.name} ${d.active.version} ${d.active.precision}` : null;
}

/** Hover text for the "Runs" cell: whether the device runs what it was assigned, and why it was assigned that. */
export function runsTitle(d: DeviceRunsFacts): string {
  const desired = `assignment v${d.assignmentVersion}`;
  let state: string;
  if (!d.reported) state = `${desired} desired; the device has not reported yet`;
  else if (d.reported.appliedAssignmentVersion === d.assignmentVersion) state = `${desired} applied`;
  else {
    const applied = d.reported.appliedAssignmentVersion === null ? 'none applied' : `v${d.reported.appliedAssignmentVersion} applied`;
    state = `${desired} desired, ${applied} (phase: ${d.reported.phase})`;
  }
  return d.reason ? `${state}. Why: ${d.reason}` : `${state}. No assignment yet.`;
}

/**
 * The agent's stale-metadata alarm in words: its desired-state manifest expired (a frozen or
 * replayed desired state), so it cannot vouch that it is up to date. Anything malformed reads as
 * "not reported" rather than as fresh.
 */
export function metadataLabel(stale: unknown, hasReport: boolean): string {
  if (!hasReport) return 'not reported';
  if (stale === null || stale === undefined) return 'fresh';
  const s = stale as { assignmentVersion?: unknown; expiresAt?: unknown };
  if (typeof s.assignmentVersion !== 'number' || typeof s.expiresAt !== 'string') return 'not reported (unreadable alarm)';
  return `STALE: the manifest of assignment v${s.assignmentVersion} expired at ${s.expiresAt}; the device keeps its model but cannot vouch that it is up to date`;
}

/** Telemetry windows the per-device quota dead-lettered (the device sent more than its window length allows). */
export function overQuotaLabel(windows: number): string {
  if (windows === 0) return 'none';
  return `${windows.toLocaleString('en-US')} ${windows === 1 ? 'window' : 'windows'} over the quota, kept as dead letters`;
}
