import type { ZodOpenApiPathsObject } from 'zod-openapi';

/** The routes of health.controller.ts, and liveness (answered before Express: see app.ts). */
export const healthPaths: ZodOpenApiPathsObject = {
  '/healthz': { get: { summary: 'Liveness', responses: { '200': { description: 'ok' } } } },
  '/readyz': {
    get: {
      summary: 'Readiness of Postgres, Redis, MQTT and the telemetry ingest (no window waiting longer than TELEMETRY_STALL_SECONDS)',
      responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
    },
  },
  '/metrics': {
    get: {
      summary: 'Prometheus metrics (prom-client): ingest, commit lag, queues and jobs, rollouts, MQTT connections, HTTP latency, process',
      responses: { '200': { description: 'metrics', content: { 'text/plain': {} } } },
    },
  },
  '/api/v1/openapi.json': {
    get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': {} } } } },
  },
};
