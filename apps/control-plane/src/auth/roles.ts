import { SetMetadata } from '@nestjs/common';
import { AppError } from '../errors.js';
import type { Operator } from './api-token.repository.js';

export type Role = Operator['role'];

/** Each role may do what the roles below it may: a viewer reads, an operator changes the fleet, an admin also creates credentials. */
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function hasRole(op: Operator, needed: Role): boolean {
  return RANK[op.role] >= RANK[needed];
}

/** Throws `forbidden` naming the role needed when `op`'s role is below it. */
export function requireRole(op: Operator, needed: Role): void {
  if (!hasRole(op, needed)) throw new AppError('forbidden', forbiddenMessage(op, needed));
}

export function forbiddenMessage(op: Operator, needed: Role): string {
  return `this needs the ${needed} role; the token "${op.name}" has the ${op.role} role`;
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
