import { Module } from '@nestjs/common';
import { DesiredStateModule } from '../desired-state/desired-state.module.js';
import { PoliciesModule } from '../policies/policies.module.js';
import { AssignmentRepository } from './assignment.repository.js';
import { AssignmentsService } from './assignments.service.js';
import { DesiredStateProcessor } from './desired-state.processor.js';

/**
 * Assignments: which variant each device runs, decided per scenario; the desired-state queue's
 * processor (a device with no state yet gets its scenario's model when it is republished).
 */
@Module({
  imports: [PoliciesModule, DesiredStateModule],
  providers: [AssignmentRepository, AssignmentsService, DesiredStateProcessor],
  exports: [AssignmentsService, AssignmentRepository, DesiredStateProcessor],
})
export class AssignmentsModule {}
