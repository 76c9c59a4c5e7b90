import {
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Put,
  Req,
  Res,
  UploadedFiles,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { FileFieldsInterceptor } from '@nestjs/platform-express';
import type { Response } from 'express';
import {
  ArtifactParamsSchema,
  AssignmentPreviewInputSchema,
  AssignScenarioModelSchema,
  ModelVersionIdParamsSchema,
  ScenarioParamsSchema,
} from '@edge-fleet/shared/api';
import { AssignmentsService } from '../assignments/assignments.service.js';
import { actorOfRequest, OperatorGuard, type OperatorRequest } from '../auth/operator.guard.js';
import { ScenarioSubject } from '../auth/scope.js';
import { NeedsRole } from '../auth/roles.js';
import { OperatorAuthService } from '../auth/operator-auth.service.js';
import { DeviceAuthService } from '../devices/device-auth.service.js';
import { AppError } from '../errors.js';
import { parseInput } from '../infra/validate.js';
import { ModelRepository } from './model.repository.js';
import { ModelsService } from './models.service.js';

@Controller('api/v1')
export class ModelsController {
  constructor(
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(ModelRepository) private readonly repo: ModelRepository,
    @Inject(AssignmentsService) private readonly assignments: AssignmentsService,
    @Inject(DeviceAuthService) private readonly deviceAuth: DeviceAuthService,
    @Inject(OperatorAuthService) private readonly operatorAuth: OperatorAuthService,
  ) {}

  /**
   * Multipart: `file` (the FP32 ONNX), `name`, `version`, `inputs` (JSON InputSpec[]), and optionally
   * `calibration` (JSON `{ "<input name>": number[][] }`, one flat row-major array per sample).
   */
  @Post('models')
  @HttpCode(201)
  @UseGuards(OperatorGuard)
  @UseInterceptors(
    FileFieldsInterceptor([
      { name: 'file', maxCount: 1 },
      { name: 'calibration', maxCount: 1 },
    ]),
  )
  async upload(
    @UploadedFiles() files: { file?: Express.Multer.File[]; calibration?: Express.Multer.File[] } | undefined,
    @Body() body: Record<string, unknown>,
    @Req() req: OperatorRequest,
  ) {
    return this.models.upload(files?.file?.[0]?.buffer, body ?? {}, actorOfRequest(req), files?.calibration?.[0]?.buffer);
  }

  @Get('models')
  @UseGuards(OperatorGuard)
  async list() {
    return { items: await this.models.list() };
  }

  @Get('models/:id')
  @UseGuards(OperatorGuard)
  async get(@Param() params: unknown) {
    return this.models.get(parseInput(ModelVersionIdParamsSchema, params, 'model version id').id);
  }

  @Put('scenarios/:scenario/model')
  @ScenarioSubject('params.scenario')
  @UseGuards(OperatorGuard)
  async assign(@Param() params: unknown, @Body() body: unknown, @Req() req: OperatorRequest) {
    const { scenario } = parseInput(ScenarioParamsSchema, params, 'scenario');
    const { modelVersionId, commit } = parseInput(AssignScenarioModelSchema, body, 'assignment');
    return this.assignments.assignScenario(scenario, modelVersionId, actorOfRequest(req), commit);
  }

  /** What each device of a scenario would run with this model version, and why; changes nothing. */
  @Post('assignments/preview')
  @HttpCode(200)
  @UseGuards(OperatorGuard)
  @NeedsRole('viewer')
  async preview(@Body() body: unknown) {
    const { scenario, modelVersionId } = parseInput(AssignmentPreviewInputSchema, body, 'assignment preview');
    return this.assignments.preview(scenario, modelVersionId);
  }

  /**
   * Content-addressed artifact download for devices (Basic id:secret; only artifacts their own desired
   * states named) or operators (any); HTTP Range is supported, a range past the end answers 416.
   */
  @Get('artifacts/:sha256')
  async artifact(@Param() params: unknown, @Req() req: OperatorRequest, @Res() res: Response): Promise<void> {
    const sha = parseInput(ArtifactParamsSchema, params, 'artifact id').sha256;
    const header = req.headers.authorization;
    const device = header?.startsWith('Basic ') ? await this.deviceAuth.verifyBasicHeader(header) : undefined;
    if (device === null) throw new AppError('unauthorized', 'device credentials are not valid');
    if (device === undefined) await this.operatorAuth.authenticate(header);
    await this.models.authoriseArtifact(device === undefined ? 'operator' : { device }, sha);
    await new Promise<void>((resolve, reject) => {
      res.sendFile(
        this.models.artifactPath(sha),
        { headers: { 'Content-Type': 'application/octet-stream' }, acceptRanges: true, dotfiles: 'allow' },
        (err: (Error & { status?: number }) | undefined) => {
          if (!err) return resolve();
          // `send` has set `Content-Range: bytes */<size>` already; only the status and body are ours
          if (err.status === 416) reject(new AppError('range_not_satisfiable', `the requested range is outside artifact ${sha}`));
          else reject(err);
        },
      );
    });
  }
}
