import type { INestApplication } from '@nestjs/common';
import { EnrollResponseSchema, hardwarePreset } from '@edge-fleet/shared';
import {
  AssignmentSummarySchema,
  DevicePageSchema,
  DeviceSchema,
  DeviceTelemetrySchema,
  EnrollmentTokenCreatedSchema,
  ModelVersionListSchema,
  ModelVersionViewSchema,
  PolicyListSchema,
} from '@edge-fleet/shared/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { enrollDevice } from '../test-support/device-client.js';
import { jsonPost, startHarness, uploadMlp, type Harness } from '../test-support/harness.js';
import { apiPaths } from './openapi.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

/** Routes answered by the HTTP server before Express sees the request (app.ts `answerLivenessFirst`). */
const SERVED_BEFORE_EXPRESS = new Set(['GET /healthz']);

interface ExpressLayer {
  route?: { path: unknown; methods: Record<string, boolean> };
}

/** `METHOD /path/{param}` for every route Nest registered on Express, read from Express's own router. */
function registeredRoutes(app: INestApplication): string[] {
  const express = app.getHttpAdapter().getInstance() as { router: { stack: ExpressLayer[] } };
  return express.router.stack.flatMap((layer) => {
    if (!layer.route || typeof layer.route.path !== 'string') return [];
    const path = layer.route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    return Object.keys(layer.route.methods)
      .filter((m) => m !== '_all')
      .map((m) => `${m.toUpperCase()} ${path}`);
  });
}

function documentedRoutes(): string[] {
  return Object.entries(apiPaths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${path}`),
  );
}

describe('the OpenAPI document and the routes Nest serves', () => {
  it('documents every registered route', () => {
    const registered = registeredRoutes(h.cp.app);
    expect(registered.length).toBeGreaterThanOrEqual(20);
    const documented = new Set(documentedRoutes());
    expect(registered.filter((r) => !documented.has(r))).toEqual([]);
  });

  it('documents no route that does not exist', async () => {
    const registered = new Set(registeredRoutes(h.cp.app));
    const missing = documentedRoutes().filter((r) => !registered.has(r) && !SERVED_BEFORE_EXPRESS.has(r));
    expect(missing).toEqual([]);
    for (const r of SERVED_BEFORE_EXPRESS) {
      const [method, path] = r.split(' ') as [string, string];
      expect((await fetch(`${h.cp.url}${path}`, { method })).status, r).toBe(200);
    }
  });

  it('serves an OpenAPI 3.1 document generated from the zod schemas that validate requests', async () => {
    const res = await fetch(`${h.cp.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; requestBody?: unknown }>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(Object.keys(apiPaths).sort());
    // path and query parameters come from the shared schemas the controllers parse with
    expect(doc.paths['/api/v1/devices/{id}/telemetry']?.get?.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual([
      'path:id',
      'query:sinceMinutes',
      'query:limit',
    ]);
    expect(doc.paths['/api/v1/rollouts']?.post?.requestBody).toMatchObject({
      content: {
        'application/json': { schema: { type: 'object', required: expect.arrayContaining(['modelVersionId', 'waves']) as unknown } },
      },
    });
  });
});

describe('documented response schemas', () => {
  /** The answer of a GET, checked against the schema its route documents; the error names the field. */
  const answers = async (path: string, schema: z.ZodType, post?: { body: unknown; status: number; auth?: boolean }) => {
    const res = post ? await jsonPost(h, path, post.body, post.auth ?? true) : await h.api(path);
    expect(res.status, path).toBe(post?.status ?? 200);
    const parsed = schema.safeParse(await res.json());
    expect(parsed.success ? [] : parsed.error.issues, path).toEqual([]);
  };

  it('are what the API answers', async () => {
    const e = await enrollDevice(h, 'robotic_manipulation');
    const model = await uploadMlp(h, 'documented', '1.0.0', 7);
    await answers('/api/v1/devices?pageSize=10', DevicePageSchema);
    await answers(`/api/v1/devices/${e.deviceId}`, DeviceSchema);
    await answers(`/api/v1/devices/${e.deviceId}/telemetry`, DeviceTelemetrySchema);
    await answers('/api/v1/models', ModelVersionListSchema);
    await answers(`/api/v1/models/${model.id}`, ModelVersionViewSchema);
    await answers('/api/v1/policies', PolicyListSchema);
    const preview = { scenario: 'robotic_manipulation', modelVersionId: model.id };
    await answers('/api/v1/assignments/preview', AssignmentSummarySchema, { body: preview, status: 200 });
    await answers('/api/v1/enrollment-tokens', EnrollmentTokenCreatedSchema, { body: { scenario: 'robotic_manipulation' }, status: 201 });
    const { token } = (await (await jsonPost(h, '/api/v1/enrollment-tokens', { scenario: 'robotic_manipulation' })).json()) as {
      token: string;
    };
    const enroll = { token, hardwareProfile: hardwarePreset('edge-npu-trading') };
    await answers('/api/v1/devices/enroll', EnrollResponseSchema, { body: enroll, status: 201, auth: false });
  });
});
