import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { Redis } from 'ioredis';
import type { Db } from '../infra/prisma.js';
import { MQTT_BUS, PRISMA, REDIS } from '../infra/tokens.js';
import type { MessageBus } from '../mqtt/mqtt-bus.js';
import { openApiDocument } from './openapi.js';

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

@Controller()
export class HealthController {
  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(MQTT_BUS) private readonly bus: MessageBus,
  ) {}

  // Liveness, GET /healthz, is answered before Express: see answerLivenessFirst in app.ts.

  /** Readiness: Postgres, Redis and the MQTT broker all answer. */
  @Get('readyz')
  async readyz(@Res() res: Response): Promise<void> {
    const [postgres, redis] = await Promise.all([probe(() => this.db.$queryRawUnsafe('SELECT 1')), probe(() => this.redis.ping())]);
    const checks = { postgres, redis, mqtt: this.bus.connected };
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  }

  @Get('api/v1/openapi.json')
  openapi() {
    return openApiDocument();
  }
}
