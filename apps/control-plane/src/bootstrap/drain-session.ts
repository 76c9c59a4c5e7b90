import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../app.js';
import { loadConfig } from '../config.js';
import { Logger } from '../infra/logger.js';
import { assertRedisKeepsJobs, waitForMigrations } from '../infra/services.js';

const USAGE = 'usage: node dist/drain-session.js <client-id> [--quiet-seconds 10] [--timeout-seconds 600]';

/**
 * `drain-session <client-id>`: a replica removed for good leaves its persistent session on an
 * external broker, with the device messages queued in it (Mosquitto keeps handing an absent member
 * its turn of the shared subscription) and already acknowledged to devices. This connects once under
 * that client id as an api replica (an ephemeral HTTP port, no worker), stores what the session holds
 * (each window acknowledged after its commit, as the ingest always does), then removes the session.
 * It never migrates nor starts services, like a worker. Exit code 0 once the session is gone.
 */
export async function drainSession(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'quiet-seconds': { type: 'string', default: '10' }, 'timeout-seconds': { type: 'string', default: '600' } },
  });
  const clientId = positionals[0];
  if (positionals.length !== 1 || clientId === undefined) throw new Error(`one client id expected\n${USAGE}`);
  const quietSeconds = Number(values['quiet-seconds']);
  const timeoutSeconds = Number(values['timeout-seconds']);
  if (!(quietSeconds > 0) || !(timeoutSeconds > quietSeconds))
    throw new Error(`--quiet-seconds must be > 0 and --timeout-seconds greater than it\n${USAGE}`);
  // the session to drain is this process's own: its client id, and a port nobody else needs
  const config = loadConfig({ ...process.env, MQTT_CLIENT_ID: clientId, PORT: String(await unusedPort(process.env.HOST ?? '127.0.0.1')) });
  if (config.embeddedBroker) throw new Error('MQTT_URL is not set: the embedded broker keeps no session to drain');
  const log = new Logger('drain-session', config.LOG_LEVEL);
  await assertRedisKeepsJobs(config.REDIS_URL);
  await waitForMigrations(config.DATABASE_URL, config.SCHEMA_WAIT_SECONDS * 1_000, log);
  const cp = await startControlPlane(config, config.DATABASE_URL, log, ['api']);
  try {
    log.info('draining the session', { clientId, broker: config.mqttUrl, quietSeconds });
    const { handled } = await cp.drainSession({ quietMs: quietSeconds * 1_000, timeoutMs: timeoutSeconds * 1_000 });
    log.info('session drained and removed from the broker', { clientId, messagesHandled: handled });
  } finally {
    await cp.stop();
  }
}

/** A port the system hands out as free now (the API of this short-lived process needs one nobody else uses). */
function unusedPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const addr = server.address();
      server.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port assigned'))));
    });
  });
}
