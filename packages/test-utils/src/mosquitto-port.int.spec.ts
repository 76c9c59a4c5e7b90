import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { occupyPort } from './occupy-port.js';
import { Mosquitto } from './mosquitto.js';

const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c().catch(() => undefined);
});

describe('test Mosquitto: a port taken between freePort() and the broker binding it', () => {
  it('a first start moves to free ports and serves MQTT there, not whatever holds the old one', async () => {
    const broker = await Mosquitto.create('dynsec', undefined);
    closing.push(() => broker.close());
    const taken = broker.port;
    const squatter = await occupyPort(taken);
    closing.push(() => squatter.close());
    await broker.start();
    expect(broker.port).not.toBe(taken);
    // the admin's CONNECT is answered: this is the broker, not the squatter
    const client = await mqtt.connectAsync(broker.url, { ...broker.admin, reconnectPeriod: 0, connectTimeout: 5_000 });
    await client.endAsync();
  }, 30_000);

  it('a restart keeps its port: taken meanwhile, the start fails and says why', async () => {
    const broker = await Mosquitto.withPasswordFile([{ username: 'device-1', password: 'secret-device-1-0123' }]);
    closing.push(() => broker.close());
    await broker.start();
    const port = broker.port;
    await broker.kill();
    const squatter = await occupyPort(port);
    closing.push(() => squatter.close());
    await expect(broker.start()).rejects.toThrow(/could not bind its port/);
    expect(broker.port).toBe(port);
  }, 30_000);
});
