import { randomUUID } from 'node:crypto';
import { systemClock } from '../core/clock.js';
import { silentLogger } from '../core/logger.js';
import { DeviceMqttSession, type MqttSessionOptions } from '../mqtt/device.mqtt-session.js';

/** A device's MQTT session against a test broker: a new identity and boot, silent, no handlers, unless told. */
export function testSession(url: string, over: Partial<MqttSessionOptions> = {}): DeviceMqttSession {
  return new DeviceMqttSession({
    url,
    deviceId: randomUUID(),
    deviceSecret: 'x'.repeat(43),
    bootId: randomUUID(),
    clock: systemClock,
    logger: silentLogger,
    onMessage: () => undefined,
    onConnected: () => Promise.resolve(),
    ...over,
  });
}
