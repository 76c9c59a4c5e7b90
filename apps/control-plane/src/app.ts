import 'reflect-metadata';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { filters, parseTopic } from '@edge-fleet/shared';
import { Redis } from 'ioredis';
import pg from 'pg';
import { AppModule, ROLE_PROCESSORS, ROLE_QUEUES, type Infra, type Role } from './app.module.js';
import { AlertsService } from './alerts/alerts.service.js';
import { AssignmentsService } from './assignments/assignments.service.js';
import { AbuseLimits } from './auth/abuse-limits.js';
import type { Operator } from './auth/api-token.repository.js';
import { ApiTokensService } from './auth/api-tokens.service.js';
import { OperatorAuthService } from './auth/operator-auth.service.js';
import { AuditService } from './audit/audit.service.js';
import type { Config } from './config.js';
import type { AppError } from './errors.js';
import { CloneAlarmService } from './devices/clone-alarm.service.js';
import { DeviceAuthService } from './devices/device-auth.service.js';
import { DeviceRepository } from './devices/device.repository.js';
import { DeviceRevocationService } from './devices/device-revocation.service.js';
import { DeviceSecretService } from './devices/device-secret.service.js';
import { FleetService } from './fleet/fleet.service.js';
import { AuditRepository } from './infra/audit.repository.js';
import { ChangeNotices } from './infra/change-notices.js';
import { DatabaseBreaker } from './infra/database-breaker.js';
import { HttpErrorFilter } from './infra/http-exception.filter.js';
import { JobQueues, JobWorkers } from './infra/jobs.js';
import { settlesWithin } from './infra/settles-within.js';
import { API_BODY_MAX, securityHeaders, trpcBatchLimit } from './infra/http-hardening.js';
import { Logger, NestLogs, requestLogging } from './infra/logger.js';
import { Metrics, serveWorkerHttp, type ProcessRole } from './infra/metrics.js';
import { databaseUnavailable, errorText } from './infra/pg-errors.js';
import { probe } from './infra/probe.js';
import { HealthRepository } from './health/health.repository.js';
import { CONNECTION_WAIT_MS, createPrisma } from './infra/prisma.js';
import { RedisConnectionLog } from './infra/redis-connection.js';
import { ModelsService } from './models/models.service.js';
import { limitUploadBody } from './models/upload-limit.middleware.js';
import type { BrokerAccess } from './devices/broker-access.js';
import { DetachedBrokerAccess, EmbeddedBrokerAccess, UnprovisionedBrokerAccess } from './mqtt/broker-access.js';
import { DetachedBus } from './mqtt/detached-bus.js';
import { DynsecBrokerAccess } from './mqtt/dynsec-broker-access.js';
import { DynsecClient } from './mqtt/dynsec-client.js';
import { DeviceMessagesHandler } from './mqtt/device-messages.handler.js';
import { EmbeddedBroker } from './mqtt/embedded-broker.js';
import { MqttBus, type MessageBus } from './mqtt/mqtt-bus.js';
import { PresenceService } from './mqtt/presence.service.js';
import { PoliciesService } from './policies/policies.service.js';
import { PolicyDocumentService } from './policy-document/policy-document.service.js';
import { RolloutRepository } from './rollouts/rollout.repository.js';
import { RolloutsService } from './rollouts/rollouts.service.js';
import { REFRESH_MS, SigningService } from './signing/signing.service.js';
import { TelemetryIngestService } from './telemetry/telemetry-ingest.service.js';
import { EnergyService } from './energy/energy.service.js';
import { RemediationService } from './remediation/remediation.service.js';
import { TelemetryQueries } from './telemetry/telemetry.queries.js';
import { TelemetryRollupFoldService } from './telemetry/telemetry-rollup-fold.service.js';
import { TelemetryRollupRepository } from './telemetry/telemetry-rollup.repository.js';
import { TelemetryRetentionService } from './telemetry/telemetry-retention.service.js';
import { trpcHandler } from './trpc/express-handler.js';
import { buildRouter } from './trpc/router.js';
import { loadTlsMaterial, type DeviceTrust, type TlsMaterial } from './tls/tls-material.js';
import { TlsReloader } from './tls/tls-reloader.js';
import { scheduleMaintenance } from './worker/maintenance.queue.js';

export interface ControlPlane {
  url: string;
  operatorToken: string;
  app: NestExpressApplication;
  ingest: TelemetryIngestService;
  /** Empties and removes this replica's session on the external broker (see MqttBus.drain). */
  drainSession(o: { quietMs: number; timeoutMs: number }): Promise<{ handled: number }>;
  stop(): Promise<void>;
}

export interface ControlPlaneWorker {
  app: INestApplicationContext;
  /** Where the worker's GET /metrics answers (WORKER_METRICS_PORT, or the port chosen for 0). */
  metricsPort: number;
  stop(): Promise<void>;
}

/** The connections every process opens, and the order they close in (after everything that uses them). */
async function openInfra(
  config: Config,
  databaseUrl: string,
  logger: Logger,
  bus: MessageBus,
  brokerAccess: BrokerAccess,
  role: ProcessRole,
  deviceTrust: DeviceTrust = { caPem: null },
): Promise<Infra & { close(): Promise<void> }> {
  const prisma = createPrisma(databaseUrl);
  // a connection attempt that gets no answer (a partition) fails instead of hanging a request
  const pgPool = new pg.Pool({ connectionString: databaseUrl, max: 10, connectionTimeoutMillis: CONNECTION_WAIT_MS });
  // an idle client dropped by the server (Postgres restarted or away) is an event, not an uncaught exception
  pgPool.on('error', (e: Error) => logger.warn('postgres pool: idle connection lost', { error: e.message }));
  const redisLog = new RedisConnectionLog(logger.child('redis'));
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: false });
  redisLog.watch('probe', redis);
  const jobs = new JobQueues({ redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX, redisLog });
  const notices = new ChangeNotices(redis, config.QUEUE_PREFIX, redisLog, logger.child('notices'));
  let signingRefresh: NodeJS.Timeout | undefined;
  let signingService: SigningService | undefined;
  const close = async (): Promise<void> => {
    clearInterval(signingRefresh);
    await signingService?.close();
    await jobs.stop();
    notices.close();
    redis.disconnect();
    // a query still running (a lock it waits on, a database that stopped answering) is not waited
    // for: the process ends, and its connection with it
    if (!(await settlesWithin(pgPool.end(), SHUTDOWN_GRACE_MS)))
      logger.warn('postgres: queries still running at shutdown were left to end with the process', { graceMs: SHUTDOWN_GRACE_MS });
    if (!(await settlesWithin(prisma.$disconnect(), SHUTDOWN_GRACE_MS)))
      logger.warn('prisma: not disconnected within the grace; left to end with the process', { graceMs: SHUTDOWN_GRACE_MS });
  };
  try {
    await jobs.start();
    await notices.start();
    const signing = await SigningService.open(config.signingKeysDir);
    signingService = signing;
    signing.startPool(config.SIGNING_WORKERS);
    // a rotation made through another replica is adopted within a second (see SigningService.refresh)
    const signingLog = logger.child('signing');
    signingRefresh = setInterval(() => {
      signing
        .refresh()
        .catch((e: unknown) => signingLog.warn('signing key not reloaded', { error: e instanceof Error ? e.message : String(e) }));
    }, REFRESH_MS);
    signingRefresh.unref();
    return {
      config,
      prisma,
      pgPool,
      redis,
      redisLog,
      bus,
      brokerAccess,
      logger,
      signing,
      jobs,
      notices,
      metrics: new Metrics(role),
      deviceTrust,
      close,
    };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}

/** The queue processors of these roles, checked to cover every job of every queue the roles serve. */
async function startProcessors(app: INestApplicationContext, infra: Infra, roles: readonly Role[]): Promise<JobWorkers> {
  const workers = new JobWorkers({
    redisUrl: infra.config.REDIS_URL,
    prefix: infra.config.QUEUE_PREFIX,
    log: infra.logger.child('jobs'),
    metrics: infra.metrics,
    redisLog: infra.redisLog,
  });
  const queues = roles.flatMap((r) => ROLE_QUEUES[r]);
  await workers.start(
    roles.flatMap((r) => ROLE_PROCESSORS[r].map((p) => app.get(p))),
    queues,
  );
  for (const q of queues) infra.metrics.watchQueue(q.name, () => infra.jobs.counts(q));
  if (roles.includes('worker')) await scheduleMaintenance(infra.jobs, infra.config);
  return workers;
}

/** The shared-subscription group of the ingest on an external broker: replicas split device messages. */
const SHARE_GROUP = 'edge-fleet';

/**
 * Who tells the broker which devices may connect: nobody on the embedded broker (it asks Postgres at
 * every CONNECT), the dynamic-security plugin on an external Mosquitto, or nobody when
 * MQTT_PROVISIONING=none (the broker's ACLs are someone else's, and the log says so).
 */
function brokerAccessFor(config: Config, broker: EmbeddedBroker | null, logger: Logger, ca: string | undefined): BrokerAccess {
  if (broker) return new EmbeddedBrokerAccess(broker);
  if (config.MQTT_PROVISIONING === 'none' || config.MQTT_USERNAME === undefined || config.MQTT_PASSWORD === undefined) {
    logger.warn(
      'external broker without provisioning (MQTT_PROVISIONING=none): the broker itself must keep each device to its own topics',
      {
        url: config.mqttUrl,
      },
    );
    return new UnprovisionedBrokerAccess();
  }
  const log = logger.child('broker-access');
  const dynsec = new DynsecClient({ url: config.mqttUrl, username: config.MQTT_USERNAME, password: config.MQTT_PASSWORD, ca, log });
  return new DynsecBrokerAccess(dynsec, config.MQTT_USERNAME, SHARE_GROUP, log);
}

/**
 * Builds and starts the control plane's api on an already-migrated database: HTTP (REST, tRPC),
 * the embedded broker or the subscription to an external one, telemetry ingest, and the publishing
 * of desired states. With `worker` (the default, what `main` and the tests run) the same process
 * also runs the worker's job processors and schedulers.
 */
export async function startControlPlane(
  config: Config,
  databaseUrl: string,
  logger = new Logger('control-plane', config.LOG_LEVEL),
  roles: readonly Role[] = ['api', 'worker'],
): Promise<ControlPlane> {
  // read (or generated) before anything listens: a bad certificate stops the start, naming the file
  const tls: TlsMaterial | null = config.tls ? await loadTlsMaterial(config.tls, logger.child('tls')) : null;
  const broker = config.embeddedBroker
    ? new EmbeddedBroker({
        host: config.MQTT_EMBEDDED_HOST,
        port: config.MQTT_EMBEDDED_PORT,
        ...(tls
          ? { tls: { port: config.MQTT_EMBEDDED_TLS_PORT, cert: tls.cert, key: tls.key, plain: config.TLS_PLAIN_MQTT === 'on' } }
          : {}),
        maxPacketBytes: config.MQTT_MAX_PACKET_KB * 1024,
        takeovers: {
          limit: config.CLONE_TAKEOVERS,
          windowMs: config.CLONE_WINDOW_SECONDS * 1_000,
          holdOffMs: config.CLONE_HOLDOFF_SECONDS * 1_000,
        },
        log: logger.child('broker'),
      })
    : null;
  // an external broker over mqtts presents a certificate of the CA devices pin (README "TLS")
  const externalCa = tls !== null && config.mqttUrl.startsWith('mqtts:') ? tls.caPem : undefined;
  // The embedded broker is served in process: no loopback MQTT client between it and the ingest.
  const bus: MessageBus = broker
    ? broker.inProcessBus([filters.reported, filters.status], logger.child('mqtt-bus'))
    : new MqttBus({
        url: config.mqttUrl,
        clientId: config.mqttClientId,
        username: config.MQTT_USERNAME,
        password: config.MQTT_PASSWORD,
        filters: [filters.telemetry, filters.reported, filters.status].map((f) => filters.shared(SHARE_GROUP, f)),
        log: logger.child('mqtt-bus'),
        pubackTimeoutMs: config.MQTT_PUBACK_TIMEOUT_MS,
        ca: externalCa,
      });
  const brokerAccess = brokerAccessFor(config, broker, logger, externalCa);
  const infra = await openInfra(config, databaseUrl, logger, bus, brokerAccess, roles.includes('worker') ? 'all' : 'api', {
    caPem: tls?.caPem ?? null,
  });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoles(infra, ['api', ...roles.filter((r) => r !== 'api')]), {
    logger: new NestLogs(logger),
    // TLS=on: the API port speaks HTTPS only (no plain listener beside it)
    ...(tls ? { httpsOptions: { cert: tls.cert, key: tls.key } } : {}),
  });
  const auth = app.get(OperatorAuthService);
  const router = buildRouter({
    fleet: app.get(FleetService),
    models: app.get(ModelsService),
    telemetry: app.get(TelemetryQueries),
    folds: app.get(TelemetryRollupFoldService),
    policies: app.get(PoliciesService),
    policyDocument: app.get(PolicyDocumentService),
    assignments: app.get(AssignmentsService),
    rollouts: app.get(RolloutsService),
    alerts: app.get(AlertsService),
    energy: app.get(EnergyService),
    remediation: app.get(RemediationService),
    revocation: app.get(DeviceRevocationService),
    deviceSecrets: app.get(DeviceSecretService),
    tokens: app.get(ApiTokensService),
    audit: app.get(AuditService),
    auth,
  });
  const databaseBreaker = new DatabaseBreaker(() => infra.pgPool.query('SELECT 1'), logger.child('database'));
  /** tRPC's side of HttpErrorFilter: the database away answers 503 and opens the breaker. */
  const databaseTrouble = (e: unknown): AppError | null => {
    const unavailable = databaseUnavailable(e);
    if (unavailable) databaseBreaker.tripped(errorText(e));
    return unavailable;
  };
  app.useGlobalFilters(new HttpErrorFilter(logger.child('http'), databaseBreaker));
  // first: every later middleware and handler runs inside the request's context (its reqId)
  app.use(requestLogging(logger));
  app.use(securityHeaders());
  app.use(databaseBreaker.middleware());
  app.use(infra.metrics.httpTimer(new Set(Object.keys(router._def.procedures))));
  app.disable('x-powered-by');
  app.set('trust proxy', config.TRUST_PROXY === 'false' ? false : config.TRUST_PROXY.split(',').map((a) => a.trim()));
  // before any parser or handler: a refused request costs one Redis round trip (RELIABILITY row 25)
  const abuse = new AbuseLimits(infra.redis, config, app.get(AuditRepository), logger.child('abuse'));
  app.use('/api/v1', abuse.middleware('rest'));
  app.use('/trpc', abuse.middleware('trpc'));
  app.useBodyParser('json', { limit: API_BODY_MAX });
  app.use('/api/v1/models', limitUploadBody(config.MAX_UPLOAD_MB * 1024 * 1024));
  app.useBodyParser('text', { limit: '256kb', type: ['application/yaml', 'text/yaml', 'text/plain'] });

  // handlers and presence writes still running at shutdown finish before the database connections close
  const inflight = new Set<Promise<void>>();
  const track = (p: Promise<void>): Promise<void> => {
    const tracked = p.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
    return tracked;
  };
  let accepting = true;
  const presence = app.get(PresenceService);
  const messages = app.get(DeviceMessagesHandler);
  const ingest = app.get(TelemetryIngestService);
  let workers: JobWorkers | null = null;
  let reloader: TlsReloader | null = null;
  const stop = async (): Promise<void> => {
    await reloader?.stop();
    // job processors first (a running job finishes), then no new device messages, then what is in flight
    await workers?.stop();
    await bus.stop();
    await brokerAccess.stop();
    await broker?.stop();
    accepting = false;
    await Promise.allSettled([...inflight]);
    await ingest.stop();
    await databaseBreaker.stop();
    await closeWithin(app, SHUTDOWN_GRACE_MS, logger);
    await infra.close();
  };
  try {
    // the day partitions exist before a window arrives (the worker's job keeps them a week ahead)
    await app.get(TelemetryRetentionService).ensureDays(new Date());
    if (broker) {
      const deviceAuth = app.get(DeviceAuthService);
      const cloneAlarm = app.get(CloneAlarmService);
      await presence.noDeviceConnectedYet();
      await broker.start({
        verifyDevice: (id, secret) => deviceAuth.verify(id, secret),
        presence: (id, state) => void track(presence.connection(id, state)),
        cloneSuspected: (id, reason) => void track(cloneAlarm.raise(id, 'takeover_storm', reason)),
        // wrong CONNECT passwords lock out like wrong artifact-download secrets (RELIABILITY row 25)
        lockout: (address, id) => abuse.deviceLockout(address, id),
        passwordFailed: (address, id) => void track(abuse.deviceFailed(address, id)),
        // telemetry is committed before the device's PUBACK (RELIABILITY row 18)
        ackAfter: { matches: (topic) => parseTopic(topic)?.kind === 'telemetry', handle: messages.handle },
      });
    }
    // the broker knows every device Postgres has, as Postgres has it, before the control plane listens to them
    await brokerAccess.start();
    await brokerAccess.reconcile(await app.get(DeviceRepository).accessList());
    ingest.start();
    // once stopping, a message is refused, not acknowledged: an external broker sends it again later
    bus.onMessage((topic, payload) =>
      accepting ? track(messages.handle(topic, payload)) : Promise.reject(new Error('control plane stopping')),
    );
    await bus.start();
    workers = await startProcessors(app, infra, roles);
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  infra.metrics.watchIngest(ingest);
  infra.metrics.watchConnections(() => (broker ? broker.connectedClients : bus.connected ? 1 : 0));
  const rolloutRepo = app.get(RolloutRepository);
  infra.metrics.watchRollouts(() => rolloutRepo.countByStatus());
  const rollupRepo = app.get(TelemetryRollupRepository);
  infra.metrics.watchRollupWindows((which, cap) => rollupRepo.windowsUpTo(which, cap));

  app.use('/trpc', trpcBatchLimit());
  app.use(
    '/trpc',
    trpcHandler({
      router,
      createContext: async (req) => {
        let unavailable: AppError | null = null;
        const operator = await auth.authenticate(req.headers.authorization).catch((e: unknown) => {
          unavailable = databaseTrouble(e);
          return null;
        });
        return {
          operator,
          unavailable,
          databaseTrouble,
          denied: (op: Operator, what: string, reason: string) => auth.denied(op, what, reason),
          devicePlace: (id: string) => auth.devicePlace(id),
        };
      },
    }),
  );
  // written before the API answers, so whoever sees /readyz succeed can read the token
  const operatorToken = await auth.ensureBootstrapToken();
  try {
    await app.listen(config.PORT, config.HOST);
  } catch (e) {
    // the port is taken: release everything started so far, so the caller may try again or exit
    await stop().catch(() => undefined);
    throw e;
  }
  answerLivenessFirst(app.getHttpServer());
  if (tls && config.tls) {
    // a renewed certificate is served to new connections without a restart (README "TLS")
    const https = app.getHttpServer() as HttpsServer;
    reloader = new TlsReloader(
      config.tls,
      tls,
      [(pair) => https.setSecureContext(pair), ...(broker ? [(pair: { cert: string; key: string }) => broker.setCertificate(pair)] : [])],
      logger.child('tls'),
      config.TLS_RELOAD_CHECK_SECONDS * 1_000,
    );
    reloader.start();
  }
  const addr = app.getHttpServer().address() as AddressInfo;

  const drainSession = (o: { quietMs: number; timeoutMs: number }) =>
    bus instanceof MqttBus
      ? bus.drain(o)
      : Promise.reject(new Error('the embedded broker keeps no session to drain (MQTT_URL is not set)'));
  return { url: `${tls ? 'https' : 'http'}://${config.HOST}:${addr.port}`, operatorToken, app, ingest, drainSession, stop };
}

/**
 * The worker alone: BullMQ processors and job schedulers, no HTTP and no broker connection (the
 * desired states it decides reach devices through the desired-state queue, which the api runs).
 */
export async function startWorker(
  config: Config,
  databaseUrl: string,
  logger = new Logger('control-plane-worker', config.LOG_LEVEL),
): Promise<ControlPlaneWorker> {
  const infra = await openInfra(config, databaseUrl, logger, new DetachedBus(), new DetachedBrokerAccess(), 'worker');
  const app = await NestFactory.createApplicationContext(AppModule.forRoles(infra, ['worker']), { logger: new NestLogs(logger) });
  let workers: JobWorkers | null = null;
  let metricsServer: { port: number; close(): Promise<void> } | null = null;
  const stop = async (): Promise<void> => {
    await metricsServer?.close();
    await workers?.stop();
    await app.close();
    await infra.close();
  };
  try {
    workers = await startProcessors(app, infra, ['worker']);
    const rolloutRepo = app.get(RolloutRepository);
    infra.metrics.watchRollouts(() => rolloutRepo.countByStatus());
    const rollupRepo = app.get(TelemetryRollupRepository);
    infra.metrics.watchRollupWindows((which, cap) => rollupRepo.windowsUpTo(which, cap));
    // the worker has no API: its /metrics and /readyz are a bare HTTP server of its own
    const database = new HealthRepository(infra.prisma);
    const readiness = async () => {
      const [postgres, redis] = await Promise.all([probe(() => database.ping()), probe(() => infra.redis.ping())]);
      return { postgres, redis };
    };
    metricsServer = await serveWorkerHttp(infra.metrics, readiness, config.HOST, config.WORKER_METRICS_PORT, logger.child('metrics'));
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  return { app, metricsPort: metricsServer.port, stop };
}

const LIVENESS_BODY = JSON.stringify({ status: 'ok' });

/**
 * How long a stopping process waits for what it cannot finish itself: requests still being
 * answered, and queries still running. Past it, their connections are closed: a SIGTERM while a
 * request waits on a lock or an unanswering database ends the process rather than hanging it.
 */
export const SHUTDOWN_GRACE_MS = 5_000;

/** Closes the Nest application; requests still running after `graceMs` have their connections closed. */
async function closeWithin(app: NestExpressApplication, graceMs: number, logger: Logger): Promise<void> {
  const closing = app.close();
  if (!(await settlesWithin(closing, graceMs))) {
    logger.warn('requests still running at shutdown: their connections closed', { graceMs });
    app.getHttpServer().closeAllConnections();
  }
  await closing;
}

/**
 * `GET /healthz` (liveness: the process answers) is served by the HTTP server before Express and
 * Nest see the request: probes stay cheap however busy the API is, and a probe every second from
 * every load balancer costs next to nothing (pnpm bench:api: ~6k req/s through Express + Nest on
 * one core of the bench machine, several times that here). Everything else goes to Express as before.
 */
export function answerLivenessFirst(server: HttpServer | HttpsServer): void {
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if ((req.url === '/healthz' || req.url?.startsWith('/healthz?')) && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(LIVENESS_BODY),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : LIVENESS_BODY);
      return;
    }
    for (const h of handlers) h(req, res);
  });
}
