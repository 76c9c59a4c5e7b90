import { limits, scopedDeviceIds, scopedRolloutIds, type DeviceScope } from '../infra/scope-sql.js';

/** A timestamptz column as the API's ISO-8601 UTC text with milliseconds. */
export const iso = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The condition that an alert (`alias`) lies in `scope`: its subject a device in the scope, or a
 * rollout whose target lies in it (rollout_failed). `TRUE` for no scope.
 */
export function alertInScope(scope: DeviceScope | undefined, alias: string, param: (v: unknown) => string): string {
  if (!limits(scope)) return 'TRUE';
  return `(${alias}.subject IN (${scopedDeviceIds(scope, param)}) OR ${alias}.subject IN (${scopedRolloutIds(scope, param)}))`;
}
