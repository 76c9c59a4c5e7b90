import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { DesiredStateModule } from '../desired-state/desired-state.module.js';
import { RemediationController } from './remediation.controller.js';
import { RemediationRepository } from './remediation.repository.js';
import { RemediationService } from './remediation.service.js';

/**
 * Automated remediation (M14). Exports the service: the maintenance schedule runs its pass after
 * each alert evaluation, tRPC calls it; and the repository (the policy document writes settings in its transaction).
 */
@Module({
  imports: [AuthModule, DesiredStateModule],
  controllers: [RemediationController],
  providers: [RemediationService, RemediationRepository],
  exports: [RemediationService, RemediationRepository],
})
export class RemediationModule {}
