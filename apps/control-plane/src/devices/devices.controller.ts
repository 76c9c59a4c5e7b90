import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, UseGuards } from '@nestjs/common';
import { CreateEnrollmentTokenSchema, EnrollRequestSchema } from '@edge-fleet/shared';
import { DeviceIdParamsSchema, ListDevicesQuerySchema, TelemetryQuerySchema } from '@edge-fleet/shared/api';
import { actorOfRequest, OperatorGuard, operatorOf, type OperatorRequest } from '../auth/operator.guard.js';
import { DeviceSubject, ScenarioSubject, scopeOf } from '../auth/scope.js';
import { NeedsRole } from '../auth/roles.js';
import { parseInput } from '../infra/validate.js';
import { TelemetryQueries } from '../telemetry/telemetry.queries.js';
import { DeviceRevocationService } from './device-revocation.service.js';
import { DeviceSecretService } from './device-secret.service.js';
import { DevicesService } from './devices.service.js';

@Controller('api/v1')
export class DevicesController {
  constructor(
    @Inject(DevicesService) private readonly devices: DevicesService,
    @Inject(TelemetryQueries) private readonly telemetry: TelemetryQueries,
    @Inject(DeviceRevocationService) private readonly revocation: DeviceRevocationService,
    @Inject(DeviceSecretService) private readonly secrets: DeviceSecretService,
  ) {}

  /** Creates device credentials: an admin's act. */
  @Post('enrollment-tokens')
  @UseGuards(OperatorGuard)
  @NeedsRole('admin')
  @ScenarioSubject('body.scenario')
  async createToken(@Body() body: unknown, @Req() req: OperatorRequest) {
    const input = parseInput(CreateEnrollmentTokenSchema, body, 'enrollment token request');
    return this.devices.createEnrollmentToken(input, actorOfRequest(req));
  }

  /** Device side: authenticated by the enrollment token in the body. */
  @Post('devices/enroll')
  @HttpCode(201)
  async enroll(@Body() body: unknown) {
    return this.devices.enroll(parseInput(EnrollRequestSchema, body, 'enrollment request'));
  }

  /** A scoped token lists only the devices in its scope. */
  @Get('devices')
  @UseGuards(OperatorGuard)
  async list(@Query() query: unknown, @Req() req: OperatorRequest) {
    const q = parseInput(ListDevicesQuerySchema, query, 'device query');
    return this.devices.list({ ...q, page: q.page ?? 1, scope: scopeOf(operatorOf(req)) });
  }

  @Get('devices/:id')
  @UseGuards(OperatorGuard)
  @DeviceSubject('params.id')
  async get(@Param() params: unknown) {
    return this.devices.get(parseInput(DeviceIdParamsSchema, params, 'device id').id);
  }

  /** Refused at CONNECT from now on, its live session ended, its downloads refused, its retained messages cleared. */
  @Post('devices/:id/revoke')
  @HttpCode(200)
  @UseGuards(OperatorGuard)
  @DeviceSubject('params.id')
  async revoke(@Param() params: unknown, @Req() req: OperatorRequest) {
    const { id } = parseInput(DeviceIdParamsSchema, params, 'device id');
    return this.revocation.revoke(id, actorOfRequest(req));
  }

  @Post('devices/:id/enable')
  @HttpCode(200)
  @UseGuards(OperatorGuard)
  @DeviceSubject('params.id')
  async enable(@Param() params: unknown, @Req() req: OperatorRequest) {
    const { id } = parseInput(DeviceIdParamsSchema, params, 'device id');
    return this.revocation.enable(id, actorOfRequest(req));
  }

  /** A new device secret, shown once: device credentials are an admin's, as at enrollment. */
  @Post('devices/:id/rotate-secret')
  @HttpCode(200)
  @UseGuards(OperatorGuard)
  @NeedsRole('admin')
  @DeviceSubject('params.id')
  async rotateSecret(@Param() params: unknown, @Req() req: OperatorRequest) {
    const { id } = parseInput(DeviceIdParamsSchema, params, 'device id');
    return this.secrets.rotate(id, actorOfRequest(req));
  }

  @Get('devices/:id/telemetry')
  @UseGuards(OperatorGuard)
  @DeviceSubject('params.id')
  async deviceTelemetry(@Param() params: unknown, @Query() query: unknown) {
    const { id } = parseInput(DeviceIdParamsSchema, params, 'device id');
    return this.telemetry.deviceTelemetry(id, parseInput(TelemetryQuerySchema, query, 'telemetry query'));
  }
}
