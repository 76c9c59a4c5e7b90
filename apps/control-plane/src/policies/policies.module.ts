import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { PoliciesController } from './policies.controller.js';
import { PolicyRepository } from './policy.repository.js';

@Module({
  imports: [AuthModule],
  controllers: [PoliciesController],
  providers: [PolicyRepository],
  exports: [PolicyRepository],
})
export class PoliciesModule {}
