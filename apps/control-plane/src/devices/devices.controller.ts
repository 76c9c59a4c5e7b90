import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, UseGuards } from '@nestjs/common';
import { CreateEnrollmentTokenSchema, DeviceIdSchema, DeviceStatusSchema, EnrollRequestSchema, ScenarioSchema } from '@edge-fleet/shared';
import { z } from 'zod';
import { OperatorGuard, operatorOf, type OperatorRequest } from '../auth/operator.guard.js';
import { parseInput } from '../infra/validate.js';
import { TelemetryRepository } from '../telemetry/telemetry.repository.js';
import { DevicesService } from './devices.service.js';

export const ListDevicesQuerySchema = z
  .strictObject({
    /** page number (OFFSET paging, for jumping to a page) */
    page: z.coerce.number().int().min(1).max(1_000_000).optional(),
    /** keyset paging: the previous page's nextCursor; stays fast however deep the page */
    after: z.string().min(1).max(200).optional(),
    pageSize: z.coerce.number().int().min(1).max(200).default(50),
    scenario: ScenarioSchema.optional(),
    status: DeviceStatusSchema.optional(),
    search: z.string().min(1).max(128).optional(),
  })
  .refine((q) => q.page === undefined || q.after === undefined, { message: 'give either page or after, not both', path: ['after'] });

export const TelemetryQuerySchema = z.strictObject({
  sinceMinutes: z.coerce.number().int().min(1).max(10_080).default(15),
  limit: z.coerce.number().int().min(1).max(5_000).default(500),
});

@Controller('api/v1')
export class DevicesController {
  constructor(
    @Inject(DevicesService) private readonly devices: DevicesService,
    @Inject(TelemetryRepository) private readonly telemetry: TelemetryRepository,
  ) {}

  @Post('enrollment-tokens')
  @UseGuards(OperatorGuard)
  async createToken(@Body() body: unknown, @Req() req: OperatorRequest) {
    const input = parseInput(CreateEnrollmentTokenSchema, body, 'enrollment token request');
    return this.devices.createEnrollmentToken(input, `operator:${operatorOf(req).tokenId}`);
  }

  /** Device side: authenticated by the enrollment token in the body. */
  @Post('devices/enroll')
  @HttpCode(201)
  async enroll(@Body() body: unknown) {
    return this.devices.enroll(parseInput(EnrollRequestSchema, body, 'enrollment request'));
  }

  @Get('devices')
  @UseGuards(OperatorGuard)
  async list(@Query() query: unknown) {
    const q = parseInput(ListDevicesQuerySchema, query, 'device query');
    return this.devices.list({ ...q, page: q.page ?? 1 });
  }

  @Get('devices/:id')
  @UseGuards(OperatorGuard)
  async get(@Param('id') id: string) {
    return this.devices.get(parseInput(DeviceIdSchema, id, 'device id'));
  }

  @Get('devices/:id/telemetry')
  @UseGuards(OperatorGuard)
  async deviceTelemetry(@Param('id') id: string, @Query() query: unknown) {
    const device = await this.devices.get(parseInput(DeviceIdSchema, id, 'device id'));
    const q = parseInput(TelemetryQuerySchema, query, 'telemetry query');
    const points = await this.telemetry.range(device.id, new Date(Date.now() - q.sinceMinutes * 60_000), q.limit);
    return { deviceId: device.id, points };
  }
}
