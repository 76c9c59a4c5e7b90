import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { Redis } from 'ioredis';
import { Metrics } from '../infra/metrics.js';
import { probe } from '../infra/probe.js';
import { MQTT_BUS, REDIS } from '../infra/tokens.js';
import type { MessageBus } from '../mqtt/mqtt-bus.js';
import { TelemetryIngestService } from '../telemetry/telemetry-ingest.service.js';
import { HealthRepository } from './health.repository.js';
import { openApiDocument, type OpenApiDocument } from './openapi.js';

@Controller()
export class HealthController {
  constructor(
    @Inject(HealthRepository) private readonly database: HealthRepository,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(MQTT_BUS) private readonly bus: MessageBus,
    @Inject(TelemetryIngestService) private readonly ingest: TelemetryIngestService,
    @Inject(Metrics) private readonly prom: Metrics,
  ) {}

  // Liveness, GET /healthz, is answered before Express: see answerLivenessFirst in app.ts.

  /**
   * Readiness: Postgres, Redis and the MQTT broker all answer, and the telemetry ingest commits (no
   * window has waited longer than TELEMETRY_STALL_SECONDS: Postgres answering SELECT 1 is not
   * enough, a locked table or a stuck batch stops ingest just the same).
   */
  @Get('readyz')
  async readyz(@Res() res: Response): Promise<void> {
    const [postgres, redis] = await Promise.all([probe(() => this.database.ping()), probe(() => this.redis.ping())]);
    const ingest = this.ingest.health();
    const checks = { postgres, redis, mqtt: this.bus.connected, ingest: ingest.committing };
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks, ingest });
  }

  /**
   * Prometheus text format (prom-client): ingest rates, commit lag and buffer depth, refused windows,
   * queue depths and job durations, rollouts by status, MQTT connections, HTTP latency, process figures.
   */
  @Get('metrics')
  async metrics(@Res() res: Response): Promise<void> {
    const { contentType, body } = await this.prom.text();
    res.type(contentType).send(body);
  }

  @Get('api/v1/openapi.json')
  openapi(): OpenApiDocument {
    return openApiDocument();
  }
}
