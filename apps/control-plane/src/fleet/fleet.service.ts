import { Inject, Injectable } from '@nestjs/common';
import type { DeviceStatus } from '@edge-fleet/shared';
import { limits, type DeviceScope } from '../infra/scope-sql.js';
import { AssignmentRepository } from '../assignments/assignment.repository.js';
import { DesiredStateRepository } from '../desired-state/desired-state.repository.js';
import { DeviceRepository, type DeviceListQuery } from '../devices/device.repository.js';
import { DevicesService } from '../devices/devices.service.js';
import { SharedRead } from '../infra/shared-read.js';
import { PolicyRepository } from '../policies/policy.repository.js';
import { TelemetryQueries } from '../telemetry/telemetry.queries.js';
import { TelemetryRepository } from '../telemetry/telemetry.repository.js';

/** Read models for the dashboard: fleet overview and the device list with live figures. */
@Injectable()
export class FleetService {
  constructor(
    @Inject(DeviceRepository) private readonly deviceRepo: DeviceRepository,
    @Inject(DevicesService) private readonly devices: DevicesService,
    @Inject(PolicyRepository) private readonly policies: PolicyRepository,
    @Inject(TelemetryRepository) private readonly telemetry: TelemetryRepository,
    @Inject(AssignmentRepository) private readonly assignments: AssignmentRepository,
    @Inject(DesiredStateRepository) private readonly desiredStates: DesiredStateRepository,
    @Inject(TelemetryQueries) private readonly telemetryQueries: TelemetryQueries,
  ) {}

  /**
   * Concurrent overview requests share one read (see SharedRead), one per scope: the key is what the
   * answer depends on. A read that took OVERVIEW_REUSE_FROM_MS or more (a large fleet: counting
   * 100,000 devices takes ~200 ms on two shared cores) also answers the requests of the next few of
   * its durations, at most OVERVIEW_REUSE_MAX_MS, and says when it counted (`countedAt`); a small
   * fleet is counted afresh for every request.
   */
  private readonly overviews = new SharedRead((key) => this.readOverview(key === UNSCOPED ? undefined : (JSON.parse(key) as DeviceScope)), {
    reuseFor: overviewReuseMs,
  });

  /**
   * Device counts and each scenario's figures. With a `scope`, the counts are of its devices only and
   * the scenarios are its own (every one, for a scope of labels alone). A scenario's last 24 h come
   * from rollups per (scenario, hardware class), which do not know a device's labels: a label scope
   * gets null there rather than figures of devices outside it. Three reads side by side (device
   * counts per scenario and status, one index-only scan, give the per-status totals too; the
   * telemetry is one aggregate of the hourly group rollups).
   */
  overview(scope?: DeviceScope) {
    return this.overviews.get(scopeKey(scope));
  }

  private async readOverview(scope: DeviceScope | undefined) {
    const countedAt = new Date().toISOString();
    const [byScenarioRows, policies, figures] = await Promise.all([
      this.deviceRepo.countsByScenario(scope),
      this.policies.list(),
      this.telemetryQueries.scenarioFigures(new Date()),
    ]);
    const byStatus: Record<DeviceStatus, number> = { pending: 0, online: 0, offline: 0, revoked: 0 };
    for (const r of byScenarioRows) if (r.status in byStatus) byStatus[r.status as DeviceStatus] += r.count;
    const labelled = limits(scope) && Object.keys(scope.labels).length > 0;
    const scenarios = policies
      .filter((p) => !scope || scope.scenarios.length === 0 || scope.scenarios.includes(p.scenario))
      .map((p) => {
        const rows = byScenarioRows.filter((r) => r.scenario === p.scenario);
        return {
          ...p,
          total: rows.reduce((a, r) => a + r.count, 0),
          online: rows.find((r) => r.status === 'online')?.count ?? 0,
          /** The scenario's telemetry of the last 24 h (whole hours), every device and variant; null: none, or a label scope. */
          last24h: labelled ? null : (figures.get(p.scenario) ?? null),
        };
      });
    /** countedAt: when these counts were read (an answer may serve requests of the next second, see `overviews`). */
    return { total: Object.values(byStatus).reduce((a, b) => a + b, 0), byStatus, scenarios, countedAt };
  }

  async deviceList(q: DeviceListQuery) {
    const page = await this.devices.list(q);
    const ids = page.items.map((d) => d.id);
    const variantIds = page.items.flatMap((d) => (d.reported?.activeVariantId ? [d.reported.activeVariantId] : []));
    const [latest, variants, reasons] = await Promise.all([
      this.telemetry.latestFor(ids),
      this.policies.variantsByIds(variantIds),
      this.desiredStates.latestReasons(ids),
    ]);
    return {
      ...page,
      items: page.items.map((d) => ({
        ...d,
        active: d.reported?.activeVariantId ? (variants.get(d.reported.activeVariantId) ?? null) : null,
        latest: latest.get(d.id) ?? null,
        /** Why the device runs what it was assigned. */
        reason: reasons.get(d.id) ?? null,
      })),
    };
  }

  async deviceDetail(id: string) {
    const d = await this.devices.get(id);
    const [policies, desired, refusal, measured] = await Promise.all([
      this.policies.list(),
      this.desiredStates.latest(id),
      this.assignments.latestRefusal(id),
      this.assignments.reportedMeasurements(id),
    ]);
    const variants = await this.policies.variantsByIds([
      ...(d.reported?.activeVariantId ? [d.reported.activeVariantId] : []),
      ...measured.measuredLatency.map((m) => m.variantId),
    ]);
    const policy = policies.find((p) => p.scenario === d.scenario) ?? null;
    return {
      ...d,
      policy,
      /** The latest assignment this device was refused (nothing fitted), if newer than its assignment. */
      refusal,
      active: d.reported?.activeVariantId ? (variants.get(d.reported.activeVariantId) ?? null) : null,
      /** What the device measured itself: assignment predicts from it before anything else. */
      measured: {
        benchmark: measured.benchmark,
        variants: measured.measuredLatency.map((m) => ({ ...m, variant: variants.get(m.variantId) ?? null })),
      },
      desired: desired
        ? {
            assignmentVersion: desired.assignmentVersion,
            issuedAt: desired.issuedAt,
            reason: desired.reason,
            model: desired.model
              ? {
                  name: desired.model.name,
                  version: desired.model.version,
                  precision: desired.model.precision,
                  sha256: desired.model.sha256,
                }
              : null,
          }
        : null,
    };
  }
}

const OVERVIEW_REUSE_FROM_MS = 20;
const OVERVIEW_REUSE_MAX_MS = 1_000;

/** How long an overview that took `tookMs` to read may answer later requests: 5 of its durations, up to a second; none under 20 ms. */
export function overviewReuseMs(tookMs: number): number {
  return tookMs < OVERVIEW_REUSE_FROM_MS ? 0 : Math.min(OVERVIEW_REUSE_MAX_MS, 5 * tookMs);
}

/** The overview read's key of an unscoped token. */
const UNSCOPED = 'fleet';

/** One key per scope, whatever the order its scenarios and labels were given in. */
function scopeKey(scope: DeviceScope | undefined): string {
  if (!limits(scope)) return UNSCOPED;
  const labels = Object.fromEntries(Object.entries(scope.labels).sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify({ scenarios: [...scope.scenarios].sort(), labels });
}
