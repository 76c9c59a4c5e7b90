import { Inject, Injectable } from '@nestjs/common';
import type { DeviceSecret } from '@edge-fleet/shared/api';
import { AppError } from '../errors.js';
import type { Logger } from '../infra/logger.js';
import { hashSecret, newSecret } from '../infra/secrets.js';
import { BROKER_ACCESS, LOGGER } from '../infra/tokens.js';
import { UnitOfWork } from '../infra/unit-of-work.js';
import type { BrokerAccess } from './broker-access.js';
import { DeviceRepository } from './device.repository.js';

/**
 * Rotating a device's secret (a suspected leak, a device changing hands). The new secret is shown
 * once to the admin, who installs it on the device; only its hash is kept. The broker is told
 * inside the transaction, before it commits: a broker that refuses leaves the old secret in place
 * everywhere, and one that accepted a change whose commit then failed knows a password nobody
 * has, so the device is refused (fail closed) until the call is repeated. From the commit on,
 * the old secret is refused at CONNECT (both brokers) and at artifact downloads, and the session
 * it opened has ended.
 */
@Injectable()
export class DeviceSecretService {
  constructor(
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
    @Inject(DeviceRepository) private readonly repo: DeviceRepository,
    @Inject(BROKER_ACCESS) private readonly broker: BrokerAccess,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async rotate(deviceId: string, actor: string): Promise<DeviceSecret> {
    const secret = newSecret();
    const done = await this.uow.run((tx) =>
      this.repo.replaceSecret(tx, deviceId, hashSecret(secret), actor, (revoked) =>
        this.broker.deviceSecretRotated(deviceId, secret, revoked).catch((e: unknown) => {
          const error = e instanceof Error ? e.message : String(e);
          this.log.error('device secret not rotated: the broker was not updated', { deviceId, error });
          throw new AppError(
            'unavailable',
            `the MQTT broker could not be told of device ${deviceId}'s new secret (${error}); nothing changed, repeat the call`,
          );
        }),
      ),
    );
    if (!done) throw new AppError('not_found', `device ${deviceId} not found`);
    this.log.info('device secret rotated', { deviceId, actor });
    return { deviceId, deviceSecret: secret, rotatedAt: new Date().toISOString() };
  }
}
