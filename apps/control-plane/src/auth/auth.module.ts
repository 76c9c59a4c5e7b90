import { Module } from '@nestjs/common';
import { ApiTokenRepository } from './api-token.repository.js';
import { OperatorAuthService } from './operator-auth.service.js';
import { OperatorGuard } from './operator.guard.js';

/** Operators and their API tokens; the guard every operator route uses. */
@Module({
  providers: [ApiTokenRepository, OperatorAuthService, OperatorGuard],
  exports: [OperatorAuthService, OperatorGuard],
})
export class AuthModule {}
