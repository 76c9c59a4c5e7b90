import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { DesiredStateModule } from '../desired-state/desired-state.module.js';
import { SigningKeysController } from './signing-keys.controller.js';
import { SigningKeysService } from './signing-keys.service.js';

/** The signing key's status and rotation (the keys themselves are opened at start: infra's SIGNING). */
@Module({
  imports: [AuthModule, DesiredStateModule],
  controllers: [SigningKeysController],
  providers: [SigningKeysService],
})
export class SigningKeysModule {}
