import { createServer, type Server } from 'node:net';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Mosquitto } from './mosquitto.js';

/** Takes `port` on 127.0.0.1 with a listener that accepts connections and never answers (as another test's server might). */
async function occupy(port: number): Promise<Server> {
  const server = createServer(() => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return server;
}

const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c().catch(() => undefined);
});

describe('test Mosquitto: a port taken between freePort() and the broker binding it', () => {
  it('a first start moves to free ports and serves MQTT there, not whatever holds the old one', async () => {
    const broker = await Mosquitto.create('dynsec', undefined);
    closing.push(() => broker.close());
    const taken = broker.port;
    const squatter = await occupy(taken);
    closing.push(() => new Promise((resolve) => squatter.close(resolve)));
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
    const squatter = await occupy(port);
    closing.push(() => new Promise((resolve) => squatter.close(resolve)));
    await expect(broker.start()).rejects.toThrow(/could not bind its port/);
    expect(broker.port).toBe(port);
  }, 30_000);
});
