import { Module } from '@nestjs/common';
import { PoliciesService } from './policies.service.js';
import { AuthModule } from '../auth/auth.module.js';
import { PoliciesController } from './policies.controller.js';
import { PolicyRepository } from './policy.repository.js';

@Module({
  imports: [AuthModule],
  controllers: [PoliciesController],
  providers: [PoliciesService, PolicyRepository],
  exports: [PoliciesService, PolicyRepository],
})
export class PoliciesModule {}
