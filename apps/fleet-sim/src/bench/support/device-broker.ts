import { createServer } from 'node:net';
import { freePort } from '@edge-fleet/test-utils';
import { Aedes } from 'aedes';

/**
 * An aedes broker on a free loopback port that admits only the given devices, each with its own
 * secret and its device id as client id and username, as the control plane's broker does: what the
 * raw load generators' tests connect to.
 */
export async function deviceBroker(devices: readonly { deviceId: string; deviceSecret: string }[]): Promise<{
  broker: Aedes;
  port: number;
  close: () => Promise<void>;
}> {
  const broker = await Aedes.createBroker();
  broker.authenticate = (client, username, password, done) => {
    const d = devices.find((x) => x.deviceId === client.id);
    done(null, d !== undefined && username === d.deviceId && password?.toString() === d.deviceSecret);
  };
  const port = await freePort();
  const server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    broker,
    port,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
