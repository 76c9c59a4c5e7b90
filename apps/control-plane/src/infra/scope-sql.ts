/** What a token reaches: devices of its scenarios (none listed: any) carrying every one of its labels. */
export interface DeviceScope {
  scenarios: string[];
  labels: Record<string, string>;
}

/** Where a row sits, as SQL expressions of the query: its scenario, and its labels (none: the row is scenario-wide). */
export interface ScopePlace {
  scenario: string;
  labels?: string;
}

/**
 * The one SQL condition that a row lies inside a token's scope (`TRUE` for no scope): its scenario
 * one of the scope's (if it lists any) and its labels (`jsonb`) holding every one of the scope's,
 * `labels @> $n` so the GIN index on "Device".labels answers it. A place without labels (a
 * scenario, a policy) is outside every label scope: it covers devices without the labels. Values go
 * through `param`, which appends them to the query's parameters and answers the placeholder.
 */
export function scopeCondition(scope: DeviceScope | undefined, place: ScopePlace, param: (v: unknown) => string): string {
  const where: string[] = [];
  if (scope && scope.scenarios.length > 0) where.push(`${place.scenario} = ANY(${param(scope.scenarios)}::text[])`);
  if (scope && Object.keys(scope.labels).length > 0) {
    where.push(place.labels === undefined ? 'FALSE' : `${place.labels} @> ${param(JSON.stringify(scope.labels))}::jsonb`);
  }
  return where.length > 0 ? where.join(' AND ') : 'TRUE';
}

/** Where a "Device" row (`alias`) sits. */
export const deviceColumns = (alias: string): ScopePlace => ({ scenario: `${alias}.scenario`, labels: `${alias}.labels` });

/** Where a "Rollout" row (`alias`) sits: its target's scenario and labels (none: every device of the scenario). */
export const rolloutColumns = (alias: string): ScopePlace => ({
  scenario: `${alias}.target ->> 'scenario'`,
  labels: `coalesce(${alias}.target -> 'labels', '{}'::jsonb)`,
});

/** The ids (text) of the devices in `scope`, as a subquery for `x IN (...)`. */
export function scopedDeviceIds(scope: DeviceScope, param: (v: unknown) => string): string {
  return `SELECT sd.id::text FROM "Device" sd WHERE ${scopeCondition(scope, deviceColumns('sd'), param)}`;
}

/** The ids (text) of the rollouts whose target lies in `scope`, as a subquery for `x IN (...)`. */
export function scopedRolloutIds(scope: DeviceScope, param: (v: unknown) => string): string {
  return `SELECT sr.id::text FROM "Rollout" sr WHERE ${scopeCondition(scope, rolloutColumns('sr'), param)}`;
}

/** Whether a scope limits anything: an unscoped token's reads need no condition. */
export function limits(scope: DeviceScope | undefined): scope is DeviceScope {
  return scope !== undefined && (scope.scenarios.length > 0 || Object.keys(scope.labels).length > 0);
}

/** A query's parameter list and the `param` that appends to it (answering `$n`). */
export function sqlParams(initial: unknown[] = []): { params: unknown[]; param: (v: unknown) => string } {
  const params = [...initial];
  return { params, param: (v: unknown) => `$${params.push(v)}` };
}
