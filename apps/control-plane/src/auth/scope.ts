import { SetMetadata } from '@nestjs/common';
import { AppError } from '../errors.js';
import type { Operator } from './api-token.repository.js';

export const SCENARIO_SUBJECT_KEY = 'edge-fleet:scenario-subject';

/**
 * Where a route's subject scenario is in the request (`params.scenario`, `body.target.scenario`):
 * a scenario-scoped token passes the route only for a scenario in its scope. A change on a route
 * without one changes the fleet beyond any scenario and is refused to a scoped token.
 */
export const ScenarioSubject = (where: string): MethodDecorator => SetMetadata(SCENARIO_SUBJECT_KEY, where);

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
 * Throws `forbidden` when a scenario-scoped token asks for a change outside its scope: on a route
 * whose subject scenario (`subject`; `undefined` when the route declares none) is not one of its
 * own, or a change with no scenario subject at all. Reads without a subject and unscoped tokens pass.
 */
export function requireScope(op: Operator, isChange: boolean, subject: { declared: boolean; scenario: unknown }): void {
  if (op.scenarios.length === 0) return;
  const scope = op.scenarios.join(', ');
  if (!subject.declared) {
    if (!isChange) return;
    throw new AppError('forbidden', `the token "${op.name}" is scoped to ${scope}: it may not change what is not one of those scenarios`);
  }
  if (typeof subject.scenario === 'string' && op.scenarios.includes(subject.scenario)) return;
  const asked = typeof subject.scenario === 'string' ? subject.scenario : 'no scenario';
  throw new AppError('forbidden', `the token "${op.name}" is scoped to ${scope}; this request is for ${asked}`);
}
