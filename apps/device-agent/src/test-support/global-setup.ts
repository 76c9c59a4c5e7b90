import { execFileSync } from 'node:child_process';
import { Mosquitto } from '@edge-fleet/test-utils';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Compiles the agent so tests can start the real worker thread and CLI from dist, and starts the
 * tests' broker: a private Mosquitto with dynamic security (see test-support/mqtt.probe.ts), whose
 * address and credentials reach the test workers through the environment.
 */
export async function setup(): Promise<() => Promise<void>> {
  const cwd = fileURLToPath(new URL('../../', import.meta.url));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd, stdio: 'inherit' });
  const broker = await Mosquitto.create('dynsec');
  await broker.start();
  process.env.TEST_MQTT_URL = broker.url;
  process.env.TEST_MQTT_ADMIN = JSON.stringify(broker.admin);
  process.env.TEST_MQTT_OBSERVER = JSON.stringify(await broker.observer());
  return () => broker.close();
}
