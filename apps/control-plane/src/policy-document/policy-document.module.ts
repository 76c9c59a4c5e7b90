import { Module } from '@nestjs/common';
import { AlertsModule } from '../alerts/alerts.module.js';
import { AuthModule } from '../auth/auth.module.js';
import { PoliciesModule } from '../policies/policies.module.js';
import { RemediationModule } from '../remediation/remediation.module.js';
import { PolicyDocumentController } from './policy-document.controller.js';
import { PolicyDocumentService } from './policy-document.service.js';

/** The policy YAML document across policies, alert rules and remediation settings; tRPC calls the service. */
@Module({
  imports: [AuthModule, PoliciesModule, AlertsModule, RemediationModule],
  controllers: [PolicyDocumentController],
  providers: [PolicyDocumentService],
  exports: [PolicyDocumentService],
})
export class PolicyDocumentModule {}
