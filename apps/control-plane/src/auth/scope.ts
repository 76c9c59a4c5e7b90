import { SetMetadata } from '@nestjs/common';
import { AppError } from '../errors.js';
import type { DevicePlace, Operator } from './api-token.repository.js';
import type { DeviceScope } from '../infra/scope-sql.js';

export const SCENARIO_SUBJECT_KEY = 'edge-fleet:scenario-subject';
export const DEVICE_SUBJECT_KEY = 'edge-fleet:device-subject';
export const FLEET_WIDE_KEY = 'edge-fleet:fleet-wide';

/**
 * Where a route's subject scenario is in the request (`params.scenario`, `body.target.scenario`):
 * a scenario-scoped token passes the route only for a scenario in its scope. A change on a route
 * without one changes the fleet beyond any scenario and is refused to a scoped token.
 */
export const ScenarioSubject = (where: string): MethodDecorator => SetMetadata(SCENARIO_SUBJECT_KEY, where);

/**
 * Where a route's subject device id is (`params.id`): a scoped token (scenario or label scope) reads
 * and acts on it only when the device is in its scope; routes with a device subject need no scenario one.
 */
export const DeviceSubject = (where: string): MethodDecorator => SetMetadata(DEVICE_SUBJECT_KEY, where);

/**
 * A read whose answer covers the whole fleet and cannot be cut to a token's scope: a scoped token is
 * refused it rather than shown what lies beyond its scope. The fleet overview, alerts, the energy
 * report, remediation actions, webhook deliveries (each is one alert's) and the audit list are
 * filtered in SQL instead (scope-sql.ts). What stays refused: `audit verify`, which walks and reports
 * on the whole hash chain: each link hashes the previous event whatever its target, so a chain cut to
 * a scope cannot be verified, and the answer (the first broken link, counts) describes every event;
 * and the telemetry windows the rollup fold set aside, which are of any device and come back (or
 * not) only all together.
 */
export const FleetWideRead = (): MethodDecorator & ClassDecorator => SetMetadata(FLEET_WIDE_KEY, true);

/** The tRPC procedures that answer as a {@link FleetWideRead} route does. */
export const TRPC_FLEET_WIDE_READ: ReadonlySet<string> = new Set(['audit.verify', 'telemetry.parked']);

/** Throws `forbidden` for a scoped token asking for a {@link FleetWideRead}. */
export function refuseFleetWide(op: Operator): void {
  if (!isScoped(op)) return;
  throw new AppError(
    'forbidden',
    `the token "${op.name}" is scoped to ${describeScope(op)}: this read covers the whole fleet, which only an unscoped token may read`,
  );
}

/** The tRPC procedures whose input names one device (as their REST routes declare with @DeviceSubject). */
export const TRPC_DEVICE_SUBJECT: Readonly<Record<string, string>> = {
  'devices.get': 'id',
  'devices.telemetry': 'id',
  'devices.revoke': 'id',
  'devices.enable': 'id',
  'devices.rotateSecret': 'id',
  'energy.device': 'id',
  'remediation.device': 'id',
};

export type { DevicePlace, DeviceScope };

export function scopeOf(op: Operator): DeviceScope {
  return { scenarios: op.scenarios, labels: op.labels };
}

export function isScoped(op: Operator): boolean {
  return op.scenarios.length > 0 || Object.keys(op.labels).length > 0;
}

function describeScope(op: Operator): string {
  const labels = Object.entries(op.labels).map(([k, v]) => `${k}=${v}`);
  return [op.scenarios.join(', '), labels.length > 0 ? `labels ${labels.join(', ')}` : ''].filter((s) => s !== '').join('; ');
}

/** Whether a device is in a token's scope: one of its scenarios (if it has any) and every one of its labels. */
export function inScope(scope: DeviceScope, device: DevicePlace): boolean {
  if (scope.scenarios.length > 0 && !scope.scenarios.includes(device.scenario)) return false;
  const labels = typeof device.labels === 'object' && device.labels !== null ? (device.labels as Record<string, unknown>) : {};
  return Object.entries(scope.labels).every(([k, v]) => labels[k] === v);
}

/**
 * Throws `forbidden` when a scoped token names a device outside its scope. An unknown device gets
 * the same answer as one out of scope, so a scoped token cannot probe which devices exist.
 */
export function requireDeviceScope(op: Operator, deviceId: unknown, device: DevicePlace | null): void {
  if (!isScoped(op) || (device && inScope(scopeOf(op), device))) return;
  const id = typeof deviceId === 'string' ? deviceId.slice(0, 64) : 'no device';
  throw new AppError('forbidden', `the token "${op.name}" is scoped to ${describeScope(op)}; device ${id} is not in its scope`);
}

/** The tRPC mutations whose input names the scenario they change (as their REST routes declare with @ScenarioSubject). */
export const TRPC_SCENARIO_SUBJECT: Readonly<Record<string, string>> = {
  'policies.update': 'scenario',
  'remediation.updateSettings': 'scenario',
  'rollouts.create': 'target.scenario',
};

/** The value at a dotted path of an untrusted object, or undefined. */
export function pick(value: unknown, dotted: string): unknown {
  let v = value;
  for (const key of dotted.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/**
 * Throws `forbidden` when a scoped token asks for a change outside its scope: on a route whose
 * subject scenario (`subject`; `undefined` when the route declares none) is not one of its own, a
 * change with no scenario subject at all, or any scenario-wide change by a label-scoped token (it
 * would reach devices without its labels). Reads without a subject and unscoped tokens pass.
 */
export function requireScope(op: Operator, isChange: boolean, subject: { declared: boolean; scenario: unknown }): void {
  if (!isScoped(op)) return;
  const scope = describeScope(op);
  if (!subject.declared || Object.keys(op.labels).length > 0) {
    if (!isChange) return;
    throw new AppError('forbidden', `the token "${op.name}" is scoped to ${scope}: it may change only the devices in its scope`);
  }
  if (typeof subject.scenario === 'string' && op.scenarios.includes(subject.scenario)) return;
  const asked = typeof subject.scenario === 'string' ? subject.scenario : 'no scenario';
  throw new AppError('forbidden', `the token "${op.name}" is scoped to ${scope}; this request is for ${asked}`);
}
