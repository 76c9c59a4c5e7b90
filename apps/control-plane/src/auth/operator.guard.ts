import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AppError } from '../errors.js';
import type { Operator } from './api-token.repository.js';
import { actorOf, OperatorAuthService } from './operator-auth.service.js';
import { defaultRole, requireRole, ROLE_KEY, type Role } from './roles.js';
import {
  DEVICE_SUBJECT_KEY,
  FLEET_WIDE_KEY,
  isScoped,
  pick,
  refuseFleetWide,
  requireDeviceScope,
  requireScope,
  SCENARIO_SUBJECT_KEY,
} from './scope.js';

export type OperatorRequest = Request & { operator?: Operator };

/**
 * Every operator route needs a valid bearer token or session (device credentials never pass here)
 * whose role passes the route's (`@NeedsRole` on the handler or its controller, else its method's
 * default), and, for a scoped token, a subject device in its scope (`@DeviceSubject`) or else a
 * subject scenario in its scope (`@ScenarioSubject`).
 * A refusal for role or scope is audited.
 */
@Injectable()
export class OperatorGuard implements CanActivate {
  constructor(
    @Inject(OperatorAuthService) private readonly auth: OperatorAuthService,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<OperatorRequest>();
    const operator = await this.auth.authenticate(req.headers.authorization);
    const targets = [ctx.getHandler(), ctx.getClass()];
    const needed = this.reflector.getAllAndOverride<Role | undefined>(ROLE_KEY, targets) ?? defaultRole(req.method);
    const subject = this.reflector.get<string | undefined>(SCENARIO_SUBJECT_KEY, ctx.getHandler());
    const device = this.reflector.get<string | undefined>(DEVICE_SUBJECT_KEY, ctx.getHandler());
    const fleetWide = this.reflector.getAllAndOverride<boolean | undefined>(FLEET_WIDE_KEY, targets) === true;
    const where = { params: req.params, body: req.body as unknown };
    try {
      requireRole(operator, needed);
      if (fleetWide) refuseFleetWide(operator);
      if (device !== undefined) {
        const id = pick(where, device);
        if (isScoped(operator)) requireDeviceScope(operator, id, typeof id === 'string' ? await this.auth.devicePlace(id) : null);
      } else {
        // a route open to viewers (or auditors) changes nothing
        requireScope(operator, needed === 'operator' || needed === 'admin', {
          declared: subject !== undefined,
          scenario: subject === undefined ? undefined : pick(where, subject),
        });
      }
    } catch (e) {
      if (e instanceof AppError) await this.auth.denied(operator, `${req.method} ${req.originalUrl.split('?')[0] ?? ''}`, e.message);
      throw e;
    }
    req.operator = operator;
    return true;
  }
}

export function operatorOf(req: OperatorRequest): Operator {
  if (!req.operator) throw new Error('OperatorGuard did not run');
  return req.operator;
}

/** How the audit names the operator of a request the guard let through (actorOf). */
export function actorOfRequest(req: OperatorRequest): string {
  return actorOf(operatorOf(req));
}
