import { SetMetadata } from '@nestjs/common';
import type { OperatorRole } from '@edge-fleet/shared/api';
import { AppError } from '../errors.js';
import type { Operator } from './api-token.repository.js';

export type Role = OperatorRole;

/**
 * Which roles pass a route that needs a role: a viewer reads, an auditor reads and reads the audit,
 * an operator changes the fleet, an admin also creates credentials and reads the audit. Not a
 * ladder: an auditor changes nothing, an operator does not read the audit.
 */
const ALLOWED: Record<Role, readonly Role[]> = {
  viewer: ['viewer', 'auditor', 'operator', 'admin'],
  auditor: ['auditor', 'admin'],
  operator: ['operator', 'admin'],
  admin: ['admin'],
};

export function hasRole(op: Operator, needed: Role): boolean {
  return ALLOWED[needed].includes(op.role);
}

/** Throws `forbidden` naming the role needed when `op`'s role does not pass. */
export function requireRole(op: Operator, needed: Role): void {
  if (!hasRole(op, needed)) throw new AppError('forbidden', forbiddenMessage(op, needed));
}

export function forbiddenMessage(op: Operator, needed: Role): string {
  const also = needed === 'auditor' ? ' (or admin)' : '';
  return `this needs the ${needed} role${also}; the token "${op.name}" has the ${op.role} role`;
}

export const ROLE_KEY = 'edge-fleet:role';

/**
 * The least role a route needs, when it is not its method's default (a read needs `viewer`, any
 * other method `operator`): `@NeedsRole('admin')` on credential-creating routes, `@NeedsRole('viewer')`
 * on a POST that changes nothing.
 */
export const NeedsRole = (role: Role): MethodDecorator & ClassDecorator => SetMetadata(ROLE_KEY, role);

/** A method's default: reads are open to every role, anything else changes something. */
export function defaultRole(method: string): Role {
  return method === 'GET' || method === 'HEAD' ? 'viewer' : 'operator';
}
