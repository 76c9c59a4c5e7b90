import mqtt, { type MqttClient } from 'mqtt';

export const BROKER_URL = process.env.TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1883';

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
    const client = await mqtt.connectAsync(BROKER_URL, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
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
