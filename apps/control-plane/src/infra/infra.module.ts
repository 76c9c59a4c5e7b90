import { Module, type DynamicModule } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Config } from '../config.js';
import type { BrokerAccess } from '../devices/broker-access.js';
import type { MessageBus } from '../mqtt/mqtt-bus.js';
import type { SigningService } from '../signing/signing.service.js';
import type { DeviceTrust } from '../tls/tls-material.js';
import { AuditRepository } from './audit.repository.js';
import { ChangeNotices } from './change-notices.js';
import { DeadLetterRepository } from './dead-letter.repository.js';
import { JobQueues } from './jobs.js';
import type { Logger } from './logger.js';
import { Metrics } from './metrics.js';
import type { Db } from './prisma.js';
import type { RedisConnectionLog } from './redis-connection.js';
import { UnitOfWork } from './unit-of-work.js';
import { BROKER_ACCESS, CONFIG, DEVICE_TRUST, LOGGER, MQTT_BUS, PG_POOL, PRISMA, REDIS, SIGNING, provideValue } from './tokens.js';

/** The process's connections and shared objects, made by the entry point before Nest is built. */
export interface Infra {
  config: Config;
  prisma: Db;
  pgPool: Pool;
  redis: Redis;
  /** Where every Redis client of the process reports its connection state (one line per outage). */
  redisLog: RedisConnectionLog;
  /** How the control plane reaches devices; the worker's refuses to publish (see DetachedBus). */
  bus: MessageBus;
  /** Who may connect to the broker: provisioning on an external Mosquitto, nothing to do on the embedded one. */
  brokerAccess: BrokerAccess;
  logger: Logger;
  signing: SigningService;
  /** The producer side of every BullMQ queue. */
  jobs: JobQueues;
  /** Notices between replicas (a copy one keeps is changed by another: see ChangeNotices). */
  notices: ChangeNotices;
  /** The process's Prometheus registry (one per process: api, worker, or both). */
  metrics: Metrics;
  /** The CA enrollment hands devices to pin (TLS=on); none otherwise and in the worker. */
  deviceTrust: DeviceTrust;
}

/**
 * Global: every domain module injects infrastructure by typed token (or, for the job queues, by
 * class) without importing this module. Nothing connects here: the entry point hands the objects in.
 */
@Module({})
export class InfraModule {
  static forRoot(infra: Infra): DynamicModule {
    const providers = [
      provideValue(CONFIG, infra.config),
      provideValue(PRISMA, infra.prisma),
      provideValue(PG_POOL, infra.pgPool),
      provideValue(REDIS, infra.redis),
      provideValue(MQTT_BUS, infra.bus),
      provideValue(BROKER_ACCESS, infra.brokerAccess),
      provideValue(LOGGER, infra.logger),
      provideValue(SIGNING, infra.signing),
      provideValue(DEVICE_TRUST, infra.deviceTrust),
      { provide: JobQueues, useValue: infra.jobs },
      { provide: ChangeNotices, useValue: infra.notices },
      { provide: Metrics, useValue: infra.metrics },
    ];
    // the data layer's shared parts: transactions across repositories, the audit log, dead letters
    const shared = [UnitOfWork, AuditRepository, DeadLetterRepository];
    return {
      module: InfraModule,
      global: true,
      providers: [...providers, ...shared],
      exports: [...providers.map((p) => p.provide), ...shared],
    };
  }
}
