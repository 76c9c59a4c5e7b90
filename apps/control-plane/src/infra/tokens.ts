import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Config } from '../config.js';
import type { BrokerAccess } from '../devices/broker-access.js';
import type { MessageBus } from '../mqtt/mqtt-bus.js';
import type { SigningService } from '../signing/signing.service.js';
import type { DeviceTrust } from '../tls/tls-material.js';
import type { Logger } from './logger.js';
import type { Db } from './prisma.js';

/**
 * An injection token that names the type of what it injects: providers are made only through
 * `provideValue`, which refuses a value of another type (a plain Symbol would take anything).
 */
export type Token<T> = symbol & { readonly __injects: T };

function token<T>(name: string): Token<T> {
  return Symbol(name) as Token<T>;
}

/** Injection tokens: every dependency is injected explicitly (no reliance on emitted metadata). */
export const CONFIG = token<Config>('CONFIG');
export const PRISMA = token<Db>('PRISMA');
export const PG_POOL = token<Pool>('PG_POOL');
export const LOGGER = token<Logger>('LOGGER');
export const MQTT_BUS = token<MessageBus>('MQTT_BUS');
export const REDIS = token<Redis>('REDIS');
export const BROKER_ACCESS = token<BrokerAccess>('BROKER_ACCESS');
export const SIGNING = token<SigningService>('SIGNING');
export const DEVICE_TRUST = token<DeviceTrust>('DEVICE_TRUST');

export function provideValue<T>(provide: Token<T>, useValue: NoInfer<T>): { provide: Token<T>; useValue: T } {
  return { provide, useValue };
}

/** Who is told when a device enrolls (see EnrollmentListener in devices.service.ts); bound with useExisting. */
export const ENROLLMENT_LISTENER = Symbol('ENROLLMENT_LISTENER');

/** Who is told when a revoked device is enabled again (see DeviceEnabledListener in device-revocation.service.ts). */
export const DEVICE_ENABLED_LISTENER = Symbol('DEVICE_ENABLED_LISTENER');
