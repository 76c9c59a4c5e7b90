import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { Operator } from './api-token.repository.js';
import { OperatorAuthService } from './operator-auth.service.js';

export type OperatorRequest = Request & { operator?: Operator };

/** Every operator route needs a valid bearer token; device credentials never pass here. */
@Injectable()
export class OperatorGuard implements CanActivate {
  constructor(@Inject(OperatorAuthService) private readonly auth: OperatorAuthService) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<OperatorRequest>();
    req.operator = await this.auth.authenticate(req.headers.authorization);
    return true;
  }
}

export function operatorOf(req: OperatorRequest): Operator {
  if (!req.operator) throw new Error('OperatorGuard did not run');
  return req.operator;
}
