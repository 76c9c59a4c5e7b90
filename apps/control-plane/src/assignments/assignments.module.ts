import { Module } from '@nestjs/common';
import { PoliciesModule } from '../policies/policies.module.js';
import { AssignmentRepository } from './assignment.repository.js';
import { AssignmentsService } from './assignments.service.js';
import { DesiredStateProcessor } from './desired-state.processor.js';
import { DesiredStateQueue } from './desired-state.queue.js';

/** Assignments and desired state: deciding, storing, signing and publishing (through its queue). */
@Module({
  imports: [PoliciesModule],
  providers: [AssignmentRepository, AssignmentsService, DesiredStateQueue, DesiredStateProcessor],
  exports: [AssignmentsService, AssignmentRepository, DesiredStateQueue, DesiredStateProcessor],
})
export class AssignmentsModule {}
