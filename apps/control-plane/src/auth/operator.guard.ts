import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { Operator } from './api-token.repository.js';
import { OperatorAuthService } from './operator-auth.service.js';
import { defaultRole, requireRole, ROLE_KEY, type Role } from './roles.js';

export type OperatorRequest = Request & { operator?: Operator };

/**
 * Every operator route needs a valid bearer token (device credentials never pass here) whose role
 * is at least the route's: `@NeedsRole` on the handler or its controller, else its method's default.
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
    const needed =
      this.reflector.getAllAndOverride<Role | undefined>(ROLE_KEY, [ctx.getHandler(), ctx.getClass()]) ?? defaultRole(req.method);
    requireRole(operator, needed);
    req.operator = operator;
    return true;
  }
}

export function operatorOf(req: OperatorRequest): Operator {
  if (!req.operator) throw new Error('OperatorGuard did not run');
  return req.operator;
}
