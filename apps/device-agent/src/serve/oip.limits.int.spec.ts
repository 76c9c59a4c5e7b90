import { OipErrorSchema, OipInferResponseSchema } from '@edge-fleet/shared';
import { waitFor } from '@edge-fleet/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/logger.js';
import type { InferenceEngine } from '../engine/inference.engine.js';
import { buildSlowModel } from '../test-support/models.js';
import { binaryBody, oipRequest } from '../test-support/oip.client.js';
import { loadServedModel, SCENARIO, type ServedModel, startService } from '../test-support/serve.fixture.js';
import { OipHandler } from './oip.handler.js';
import { OipHttpServer } from './oip.http-server.js';
import { ServingSlot } from './serving.slot.js';

let slow: ServedModel;
const SIZE = 384;

beforeAll(async () => {
  const model = buildSlowModel(SIZE);
  slow = await loadServedModel(model.bytes, model.inputs, { name: 'slow' });
});

afterAll(async () => {
  await slow.engine.dispose();
});

function slowRequest(): { body: Buffer; headers: Record<string, string> } {
  const x = new Float32Array(SIZE * SIZE).fill(0.01);
  return binaryBody({ inputs: [{ name: 'x', shape: [SIZE, SIZE], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }] }, [
    x,
  ]);
}

describe('local inference API: bounded queue, deadline, bearer token (row 28)', () => {
  it('row 28: beyond the queue 429 with Retry-After; every accepted request is answered', async () => {
    // the deadline is not what this test is about: the tier's 1 s would cut the queued runs on a loaded machine
    const { service, socketPath } = await startService({ queueDepth: 2, deadlineMs: 60_000 });
    // a gate in front of the real engine holds the runs, so the queue is full when the next request
    // arrives whatever the machine's speed; the runs themselves are the real model's
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const gated: InferenceEngine = Object.create(slow.engine) as InferenceEngine;
    gated.infer = async (inputs) => {
      await gate;
      return slow.engine.infer(inputs);
    };
    service.setActive(gated, slow.model, SCENARIO);
    const { body, headers } = slowRequest();
    const send = () => oipRequest({ socketPath }, 'POST', '/v2/models/slow/infer', body, headers);
    // two runs in flight and two waiting fill it
    const accepted = Array.from({ length: 4 }, send);
    await waitFor(() => service.slot.queued === 2, 10_000);
    const refused = await Promise.all(Array.from({ length: 3 }, send));
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(OipErrorSchema.parse(r.json()).error).toMatch(/queue is full \(2 requests waiting\)/);
    }
    open();
    const ok = await Promise.all(accepted);
    expect(ok.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    for (const a of ok) expect(OipInferResponseSchema.parse(a.json()).outputs[0]?.shape).toEqual([SIZE, SIZE]);
    await service.stop();
  });

  it('a remediation rate cap binds applications’ requests: over it 429 with Retry-After naming the action; lifted, served again', async () => {
    const { service, socketPath } = await startService({ deadlineMs: 60_000 });
    service.setActive(slow.engine, slow.model, SCENARIO);
    const { body, headers } = slowRequest();
    const send = () => oipRequest({ socketPath }, 'POST', '/v2/models/slow/infer', body, headers);
    service.setCaps({ actionId: '0b8f3c1e-5d2a-4f6b-9c7d-1e2f3a4b5c6d', maxRateHz: 0.1 });
    expect((await send()).status).toBe(200);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(OipErrorSchema.parse(refused.json()).error).toMatch(/capped at 0.1 inferences\/s \(remediation 0b8f3c1e/);
    service.setCaps(null);
    expect((await send()).status).toBe(200);
    await service.stop();
  });

  it('a request past its deadline is answered 504 naming the deadline', async () => {
    const { service, socketPath } = await startService({ deadlineMs: 5 });
    service.setActive(slow.engine, slow.model, SCENARIO);
    const { body, headers } = slowRequest();
    const answers = await Promise.all([1, 2, 3].map(() => oipRequest({ socketPath }, 'POST', '/v2/models/slow/infer', body, headers)));
    for (const a of answers) {
      expect(a.status).toBe(504);
      expect(OipErrorSchema.parse(a.json()).error).toMatch(/deadline of 5 ms exceeded/);
    }
    await service.stop();
  });

  it('with a bearer token, TCP refuses a request without it (401) and serves one with it; the socket needs none', async () => {
    const token = 'tok-0123456789abcdef';
    const { service, socketPath, port } = await startService({ token });
    service.setActive(slow.engine, slow.model, SCENARIO);
    const none = await oipRequest({ port }, 'GET', '/v2/health/ready');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect((await oipRequest({ port, token: 'wrong-token-0123456' }, 'GET', '/v2/health/ready')).status).toBe(401);
    expect((await oipRequest({ port, token }, 'GET', '/v2/health/ready')).status).toBe(200);
    expect((await oipRequest({ socketPath }, 'GET', '/v2/health/ready')).status).toBe(200);
    await service.stop();
  });

  it('any address other than loopback is refused without a bearer token', async () => {
    const handler = new OipHandler({
      slot: new ServingSlot({ queueDepth: 1, maxInFlight: 1 }),
      serverName: 't',
      serverVersion: '0',
      deadlineMs: () => 1000,
    });
    const server = new OipHttpServer(
      { socketPath: null, host: '0.0.0.0', port: 0, token: null, maxBodyBytes: 1024, queueDepth: 1, deadlineMs: null },
      handler,
      silentLogger,
    );
    await expect(server.start()).rejects.toThrow(/serving inference on 0\.0\.0\.0 needs a bearer token/);
    await server.stop();
  });

  it('the slow model still answers correctly once the load is gone', async () => {
    const { service, socketPath } = await startService();
    service.setActive(slow.engine, slow.model, SCENARIO);
    const { body, headers } = slowRequest();
    const res = await oipRequest({ socketPath }, 'POST', '/v2/models/slow/infer', body, headers);
    expect(res.status).toBe(200);
    expect(OipInferResponseSchema.parse(res.json()).outputs[0]?.shape).toEqual([SIZE, SIZE]);
    await service.stop();
  });
});
