import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { EnergyController } from './energy.controller.js';
import { EnergyRepository } from './energy.repository.js';
import { EnergyService } from './energy.service.js';

/** Energy and cost per scenario and variant (M20), read from the stored telemetry windows. */
@Module({
  imports: [AuthModule],
  controllers: [EnergyController],
  providers: [EnergyService, EnergyRepository],
  exports: [EnergyService],
})
export class EnergyModule {}
