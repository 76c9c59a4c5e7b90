import { Module } from '@nestjs/common';
import { ApiTokenRepository } from './api-token.repository.js';
import { ApiTokensService } from './api-tokens.service.js';
import { CredentialCache } from './credential-cache.js';
import { OperatorAuthService } from './operator-auth.service.js';
import { OperatorGuard } from './operator.guard.js';
import { SessionsController, TokensController } from './tokens.controller.js';

/** Operators, their API tokens and dashboard sessions; the guard every operator route uses. */
@Module({
  controllers: [TokensController, SessionsController],
  providers: [ApiTokenRepository, CredentialCache, OperatorAuthService, OperatorGuard, ApiTokensService],
  exports: [OperatorAuthService, OperatorGuard, ApiTokensService],
})
export class AuthModule {}
