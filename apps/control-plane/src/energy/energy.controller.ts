import { Controller, Get, Inject, Param, Query, Req, UseGuards } from '@nestjs/common';
import { DeviceEnergyQuerySchema, DeviceIdParamsSchema, EnergyQuerySchema } from '@edge-fleet/shared/api';
import { OperatorGuard, operatorOf, type OperatorRequest } from '../auth/operator.guard.js';
import { DeviceSubject, scopeOf } from '../auth/scope.js';
import { parseInput } from '../infra/validate.js';
import { EnergyService } from './energy.service.js';

@Controller('api/v1/energy')
@UseGuards(OperatorGuard)
export class EnergyController {
  constructor(@Inject(EnergyService) private readonly energy: EnergyService) {}

  /** A scoped token's report sums its devices only. */
  @Get()
  async report(@Query() query: unknown, @Req() req: OperatorRequest) {
    return this.energy.report(parseInput(EnergyQuerySchema, query, 'query'), scopeOf(operatorOf(req)));
  }

  @Get('devices/:id')
  @DeviceSubject('params.id')
  async device(@Param() params: unknown, @Query() query: unknown) {
    const { id } = parseInput(DeviceIdParamsSchema, params, 'device id');
    return this.energy.deviceReport(id, parseInput(DeviceEnergyQuerySchema, query, 'query').sinceHours);
  }
}
