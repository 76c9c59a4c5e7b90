import { Inject, Injectable } from '@nestjs/common';
import { publishOptions, topics } from '@edge-fleet/shared';
import { AppError } from '../errors.js';
import type { Logger } from '../infra/logger.js';
import { BROKER_ACCESS, DEVICE_ENABLED_LISTENER, LOGGER, MQTT_BUS } from '../infra/tokens.js';
import { UnitOfWork } from '../infra/unit-of-work.js';
import type { BrokerAccess } from './broker-access.js';
import { DeviceRepository } from './device.repository.js';
import { DevicesService } from './devices.service.js';

/**
 * Told when a revoked device is enabled again (assignments: its desired state is republished from
 * Postgres). Injected, so devices need not import assignments.
 */
export interface DeviceEnabledListener {
  deviceEnabled(deviceId: string): Promise<void>;
}

/** What revocation needs of the broker connection (the MQTT bus provides it): clearing retained messages. */
interface RetainedClearer {
  publish(topic: string, payload: string, opts: { qos: 0 | 1 | 2; retain: boolean }): Promise<void>;
}

/**
 * Revoking a device and enabling it again. Postgres first (with the audit event, one transaction):
 * from that commit on the embedded broker, artifact downloads and enrollment-time checks refuse the
 * device. Then the broker: the device's client is disabled (Mosquitto) and its live session ended
 * at once (both brokers), and its retained messages are cleared. Both calls are idempotent: when
 * the broker step fails the answer says so and the same call completes it (the start-up
 * reconciliation does too).
 */
@Injectable()
export class DeviceRevocationService {
  constructor(
    @Inject(UnitOfWork) private readonly uow: UnitOfWork,
    @Inject(DeviceRepository) private readonly repo: DeviceRepository,
    @Inject(DevicesService) private readonly devices: DevicesService,
    @Inject(DEVICE_ENABLED_LISTENER) private readonly enabled: DeviceEnabledListener,
    @Inject(BROKER_ACCESS) private readonly broker: BrokerAccess,
    @Inject(MQTT_BUS) private readonly bus: RetainedClearer,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async revoke(deviceId: string, actor: string) {
    await this.store(deviceId, true, actor);
    await this.onBroker(deviceId, 'revoked', async () => {
      await this.broker.deviceRevoked(deviceId);
      // a zero-length retained message clears the retained one: nothing of the device's is handed out any more
      const retained = { ...publishOptions('desired'), retain: true };
      await this.bus.publish(topics.desired(deviceId), '', retained);
      await this.bus.publish(topics.status(deviceId), '', retained);
    });
    return this.devices.get(deviceId);
  }

  async enable(deviceId: string, actor: string) {
    await this.store(deviceId, false, actor);
    await this.onBroker(deviceId, 'enabled', async () => {
      await this.broker.deviceEnabled(deviceId);
      // the retained desired state cleared at revocation is back, from Postgres
      await this.enabled.deviceEnabled(deviceId);
    });
    return this.devices.get(deviceId);
  }

  private async store(deviceId: string, revoked: boolean, actor: string): Promise<void> {
    const was = await this.uow.run((tx) => this.repo.setRevoked(tx, deviceId, revoked, actor));
    if (was === null) throw new AppError('not_found', `device ${deviceId} not found`);
    if ((was === 'revoked') !== revoked) this.log.info(revoked ? 'device revoked' : 'device enabled', { deviceId, actor });
  }

  private async onBroker(deviceId: string, state: string, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      this.log.error('broker not updated', { deviceId, state, error });
      throw new AppError(
        'unavailable',
        `device ${deviceId} is ${state} in the database, but the broker could not be updated (${error}); repeat the call`,
      );
    }
  }
}
