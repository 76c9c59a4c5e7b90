import { Module } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import { AssignmentsModule } from '../assignments/assignments.module.js';
import { AuthModule } from '../auth/auth.module.js';
import type { Config } from '../config.js';
import { DevicesModule } from '../devices/devices.module.js';
import { CONFIG } from '../infra/tokens.js';
import { ModelRepository } from './model.repository.js';
import { ModelsController } from './models.controller.js';
import { ModelsService } from './models.service.js';
import { VariantBuildProcessor } from './variant-build.processor.js';
import { VariantBuildQueue } from './variant-build.queue.js';
import { VariantBuildService } from './variant-build.service.js';

/** Models, versions, variants and their artifacts; variant builds (through their queue). */
@Module({
  imports: [
    MulterModule.registerAsync({
      inject: [CONFIG],
      useFactory: (config: Config) => ({ limits: { fileSize: config.MAX_UPLOAD_MB * 1024 * 1024, files: 2, fields: 10 } }),
    }),
    AuthModule,
    AssignmentsModule,
    DevicesModule,
  ],
  controllers: [ModelsController],
  providers: [ModelRepository, ModelsService, VariantBuildService, VariantBuildQueue, VariantBuildProcessor],
  exports: [ModelsService, VariantBuildQueue, VariantBuildProcessor],
})
export class ModelsModule {}
