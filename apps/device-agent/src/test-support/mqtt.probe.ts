import { type BrokerAdmin, provisionBrokerDevice } from '@edge-fleet/test-utils';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/**
 * The agent's tests run against a private Mosquitto with dynamic security, started by the global
 * setup (never an anonymous broker): each test device is provisioned with exactly its own ACLs, and
 * the test itself plays the control plane as an observer client allowed on every device topic.
 */
function fromSetup(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: the agent's tests run under their vitest global setup`);
  return v;
}

export const BROKER_URL = fromSetup('TEST_MQTT_URL');
const admin = JSON.parse(fromSetup('TEST_MQTT_ADMIN')) as BrokerAdmin;
const observer = JSON.parse(fromSetup('TEST_MQTT_OBSERVER')) as BrokerAdmin;

/** Connect options for a test client acting as the control plane (publishes desired states, reads everything). */
export function observerOptions(): IClientOptions {
  return { protocolVersion: 4, clean: true, reconnectPeriod: 0, username: observer.username, password: observer.password };
}

/** Lets `deviceId` connect with `secret` (its credentials as enrollment would leave them). */
export function provisionTestDevice(deviceId: string, secret: string): Promise<void> {
  return provisionBrokerDevice(BROKER_URL, admin, deviceId, secret);
}

export interface Received {
  topic: string;
  payload: unknown;
  retain: boolean;
}

/** A test-side MQTT client that records everything under a filter and waits for matches. */
export class MqttProbe {
  readonly messages: Received[] = [];
  private client: MqttClient | null = null;

  async connect(filter: string): Promise<void> {
    const client = await mqtt.connectAsync(BROKER_URL, observerOptions());
    this.client = client;
    client.on('message', (topic, payload, packet) => {
      const text = payload.toString('utf8');
      this.messages.push({ topic, payload: text.length === 0 ? null : (JSON.parse(text) as unknown), retain: packet.retain });
    });
    await client.subscribeAsync(filter, { qos: 1 });
  }

  async publish(topic: string, payload: unknown, retain: boolean): Promise<void> {
    const body = payload === null ? '' : JSON.stringify(payload);
    await this.requireClient().publishAsync(topic, body, { qos: 1, retain });
  }

  /** Resolves with the first message (recorded from `from` on) that matches; rejects after `ms`. */
  async waitFor(match: (m: Received) => boolean, ms = 20_000, from = 0): Promise<Received> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const hit = this.messages.slice(from).find(match);
      if (hit !== undefined) return hit;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no matching message within ${ms} ms; saw ${this.messages.map((m) => m.topic).join(', ')}`);
  }

  async close(): Promise<void> {
    await this.client?.endAsync();
    this.client = null;
  }

  private requireClient(): MqttClient {
    if (this.client === null) throw new Error('probe not connected');
    return this.client;
  }
}
