import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import { filters, parseTopic } from '@edge-fleet/shared';
import { Redis } from 'ioredis';
import pg from 'pg';
import { AppModule } from './app.module.js';
import { AssignmentsService } from './assignments/assignments.service.js';
import { DesiredStateQueue } from './assignments/desired-state.queue.js';
import { OperatorAuthService } from './auth/operator-auth.service.js';
import type { Config } from './config.js';
import { FleetService } from './fleet/fleet.service.js';
import { HttpErrorFilter } from './infra/http-exception.filter.js';
import { Logger } from './infra/logger.js';
import { createPrisma } from './infra/prisma.js';
import { DeviceAuthService } from './devices/device-auth.service.js';
import { ModelsService } from './models/models.service.js';
import { limitUploadBody } from './models/upload-limit.middleware.js';
import { VariantBuildQueue } from './models/variant-build.queue.js';
import { VariantBuildService } from './models/variant-build.service.js';
import { RolloutQueue } from './rollouts/rollout.queue.js';
import { RolloutsService } from './rollouts/rollouts.service.js';
import { PoliciesService } from './policies/policies.service.js';
import { EmbeddedBroker } from './mqtt/embedded-broker.js';
import { DeviceMessagesHandler } from './mqtt/device-messages.handler.js';
import { PresenceService } from './mqtt/presence.service.js';
import { MqttBus, type MessageBus } from './mqtt/mqtt-bus.js';
import { TelemetryIngestService } from './telemetry/telemetry-ingest.service.js';
import { TelemetryQueries } from './telemetry/telemetry.queries.js';
import { SigningService } from './signing/signing.service.js';
import { buildRouter } from './trpc/router.js';

export interface ControlPlane {
  url: string;
  operatorToken: string;
  app: NestExpressApplication;
  ingest: TelemetryIngestService;
  stop(): Promise<void>;
}

/** Builds and starts the control plane on an already-migrated database. */
export async function startControlPlane(
  config: Config,
  databaseUrl: string,
  logger = new Logger('control-plane', config.LOG_LEVEL),
): Promise<ControlPlane> {
  const prisma = createPrisma(databaseUrl);
  // a connection attempt that gets no answer (a partition) fails after 5 s instead of hanging a request
  const pgPool = new pg.Pool({ connectionString: databaseUrl, max: 10, connectionTimeoutMillis: 5_000 });
  // an idle client dropped by the server (Postgres restarted or away) is an event, not an uncaught exception
  pgPool.on('error', (e: Error) => logger.warn('postgres pool: idle connection lost', { error: e.message }));
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: false });
  redis.on('error', (e: Error) => logger.warn('redis error', { error: e.message }));
  // The embedded broker is served in process: no loopback MQTT client between it and the ingest.
  let verifyDevice: (deviceId: string, secret: string) => Promise<boolean> = () => Promise.resolve(false);
  let ingestTelemetry: (topic: string, payload: Buffer) => Promise<void> = () => Promise.reject(new Error('not started'));
  let onPresence: (deviceId: string, state: 'online' | 'offline') => void = () => undefined;
  const broker = config.embeddedBroker
    ? new EmbeddedBroker({
        host: config.MQTT_EMBEDDED_HOST,
        port: config.MQTT_EMBEDDED_PORT,
        verifyDevice: (id, s) => verifyDevice(id, s),
        maxPacketBytes: config.MQTT_MAX_PACKET_KB * 1024,
        presence: (id, state) => onPresence(id, state),
        log: logger.child('broker'),
        // telemetry is committed before the device's PUBACK (RELIABILITY row 18)
        ackAfter: {
          matches: (topic) => parseTopic(topic)?.kind === 'telemetry',
          handle: (topic, payload) => ingestTelemetry(topic, payload),
        },
      })
    : null;
  const deviceFilters = [filters.telemetry, filters.reported, filters.status];
  const bus: MessageBus = broker
    ? broker.inProcessBus([filters.reported, filters.status], logger.child('mqtt-bus'))
    : new MqttBus({
        url: config.mqttUrl,
        clientId: `control-plane-${randomUUID()}`,
        username: config.MQTT_USERNAME,
        password: config.MQTT_PASSWORD,
        filters: deviceFilters.map((f) => filters.shared('edge-fleet', f)),
        log: logger.child('mqtt-bus'),
      });
  let publishLatest: (deviceId: string) => Promise<void> = () => Promise.reject(new Error('not started'));
  let publishLatestMany: (deviceIds: string[]) => Promise<void> = () => Promise.reject(new Error('not started'));
  let buildVariants: (id: string) => Promise<void> = () => Promise.reject(new Error('not started'));
  const variantQueue = new VariantBuildQueue({
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    build: (id) => buildVariants(id),
    log: logger.child('variant-queue'),
  });
  let advanceRollout: (job: { rolloutId: string; step: number }) => Promise<void> = () => Promise.reject(new Error('not started'));
  const rolloutQueue = new RolloutQueue({
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    advance: (j) => advanceRollout(j),
    log: logger.child('rollout-queue'),
  });
  const desiredQueue = new DesiredStateQueue({
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    publishLatest: (id) => publishLatest(id),
    publishLatestMany: (ids) => publishLatestMany(ids),
    log: logger.child('desired-queue'),
  });
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.forRoot({
      config,
      prisma,
      pgPool,
      redis,
      bus,
      logger,
      desiredQueue,
      variantQueue,
      rolloutQueue,
      signing: await SigningService.open(config.signingKeysDir),
    }),
    { logger: ['error', 'warn'] },
  );
  const assignments = app.get(AssignmentsService);
  publishLatest = (id) => assignments.republish(id);
  publishLatestMany = (ids) => assignments.republishMany(ids);
  const handleDeviceMessage = app.get(DeviceMessagesHandler).handle;
  ingestTelemetry = handleDeviceMessage;
  const rollouts = app.get(RolloutsService);
  advanceRollout = rollouts.advance;
  const variantBuilder = app.get(VariantBuildService);
  buildVariants = (id) => variantBuilder.build(id);
  app.useGlobalFilters(new HttpErrorFilter(logger.child('http')));
  app.disable('x-powered-by');
  app.useBodyParser('json', { limit: '1mb' });
  app.use('/api/v1/models', limitUploadBody(config.MAX_UPLOAD_MB * 1024 * 1024));
  app.useBodyParser('text', { limit: '256kb', type: ['application/yaml', 'text/yaml', 'text/plain'] });

  // handlers and presence writes still running at shutdown finish before the database connections close
  const inflight = new Set<Promise<void>>();
  let accepting = true;
  const presence = app.get(PresenceService);
  onPresence = (id, state) => {
    const p = presence.connection(id, state).finally(() => inflight.delete(p));
    inflight.add(p);
  };
  if (broker) {
    const deviceAuth = app.get(DeviceAuthService);
    verifyDevice = (id, s) => deviceAuth.verify(id, s);
    await presence.noDeviceConnectedYet();
    await broker.start();
  }
  const ingest = app.get(TelemetryIngestService);
  ingest.start();
  bus.onMessage((topic, payload) => {
    if (!accepting) return Promise.resolve();
    const p = handleDeviceMessage(topic, payload).finally(() => inflight.delete(p));
    inflight.add(p);
    return p;
  });
  await bus.start();
  presence.startStaleSweep();
  await desiredQueue.start();
  await variantQueue.start();
  await rolloutQueue.start();
  rollouts.startSweeping();
  const refreshManifests = () =>
    void assignments
      .refreshExpiringManifests()
      .catch((e: unknown) => logger.warn('manifest refresh failed', { error: e instanceof Error ? e.message : String(e) }));
  const manifestTimer = setInterval(refreshManifests, config.MANIFEST_REFRESH_INTERVAL_MS);
  manifestTimer.unref();

  const auth = app.get(OperatorAuthService);
  const router = buildRouter({
    fleet: app.get(FleetService),
    models: app.get(ModelsService),
    telemetry: app.get(TelemetryQueries),
    policies: app.get(PoliciesService),
    assignments,
    rollouts,
  });
  app.use(
    '/trpc',
    createExpressMiddleware({
      router,
      createContext: async ({ req }) => ({ operator: await auth.authenticate(req.headers.authorization).catch(() => null) }),
    }),
  );
  // written before the API answers, so whoever sees /readyz succeed can read the token
  const operatorToken = await auth.ensureBootstrapToken();
  const stop = async (): Promise<void> => {
    clearInterval(manifestTimer);
    rollouts.stopSweeping();
    presence.stopStaleSweep();
    await rolloutQueue.stop();
    await variantQueue.stop();
    await desiredQueue.stop();
    await bus.stop();
    await broker?.stop();
    accepting = false;
    await Promise.allSettled([...inflight]);
    await ingest.stop();
    await app.close();
    redis.disconnect();
    await pgPool.end();
    await prisma.$disconnect();
  };
  try {
    await app.listen(config.PORT, config.HOST);
  } catch (e) {
    // the port is taken: release everything started so far, so the caller may try again or exit
    await stop().catch(() => undefined);
    throw e;
  }
  answerLivenessFirst(app.getHttpServer());
  const addr = app.getHttpServer().address() as AddressInfo;

  return { url: `http://${config.HOST}:${addr.port}`, operatorToken, app, ingest, stop };
}

const LIVENESS_BODY = JSON.stringify({ status: 'ok' });

/**
 * `GET /healthz` (liveness: the process answers) is served by the HTTP server before Express and
 * Nest see the request: probes stay cheap however busy the API is, and a probe every second from
 * every load balancer costs next to nothing (pnpm bench:api: ~6k req/s through Express + Nest on
 * one core of the bench machine, several times that here). Everything else goes to Express as before.
 */
export function answerLivenessFirst(server: HttpServer): void {
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
