import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { Redis } from 'ioredis';
import type { Db } from '../infra/prisma.js';
import { MQTT_BUS, PRISMA, REDIS } from '../infra/tokens.js';
import type { MessageBus } from '../mqtt/mqtt-bus.js';
import { TelemetryIngestService } from '../telemetry/telemetry-ingest.service.js';
import { openApiDocument, type OpenApiDocument } from './openapi.js';

async function probe(fn: () => Promise<unknown>, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const ok = fn().then(
    () => true,
    () => false,
  );
  const result = await Promise.race([ok, timeout]);
  clearTimeout(timer);
  return result;
}

function gauge(name: string, help: string, value: number): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${value}`;
}

@Controller()
export class HealthController {
  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(MQTT_BUS) private readonly bus: MessageBus,
    @Inject(TelemetryIngestService) private readonly ingest: TelemetryIngestService,
  ) {}

  // Liveness, GET /healthz, is answered before Express: see answerLivenessFirst in app.ts.

  /**
   * Readiness: Postgres, Redis and the MQTT broker all answer, and the telemetry ingest commits (no
   * window has waited longer than TELEMETRY_STALL_SECONDS: Postgres answering SELECT 1 is not
   * enough, a locked table or a stuck batch stops ingest just the same).
   */
  @Get('readyz')
  async readyz(@Res() res: Response): Promise<void> {
    const [postgres, redis] = await Promise.all([probe(() => this.db.$queryRawUnsafe('SELECT 1')), probe(() => this.redis.ping())]);
    const ingest = this.ingest.health();
    const checks = { postgres, redis, mqtt: this.bus.connected, ingest: ingest.committing };
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks, ingest });
  }

  /** Prometheus text format: the ingest's state and counters. */
  @Get('metrics')
  metrics(@Res() res: Response): void {
    const h = this.ingest.health();
    const s = this.ingest.stats;
    const lines = [
      gauge('edge_fleet_ingest_committing', 'Whether telemetry ingest is committing (1) or stalled (0)', h.committing ? 1 : 0),
      gauge(
        'edge_fleet_ingest_oldest_buffered_seconds',
        'Age of the oldest telemetry window waiting for its commit',
        h.oldestBufferedSeconds,
      ),
      gauge('edge_fleet_ingest_buffered_windows', 'Telemetry windows waiting for their commit', h.buffered),
      gauge(
        'edge_fleet_ingest_consecutive_failed_flushes',
        'Flushes failed in a row because the database was unavailable',
        h.consecutiveFailedFlushes,
      ),
      '# HELP edge_fleet_ingest_windows_total Telemetry windows by outcome',
      '# TYPE edge_fleet_ingest_windows_total counter',
      ...(
        [
          ['inserted', s.inserted],
          ['duplicate', s.duplicates],
          ['rejected', s.rejected],
          ['poison', s.poison],
          ['over_quota', s.overQuota],
          ['refused_buffer_full', s.refusedFull],
        ] as const
      ).map(([outcome, n]) => `edge_fleet_ingest_windows_total{outcome="${outcome}"} ${n}`),
      '',
    ];
    res.type('text/plain; version=0.0.4').send(lines.join('\n'));
  }

  @Get('api/v1/openapi.json')
  openapi(): OpenApiDocument {
    return openApiDocument();
  }
}
