import { stat } from 'node:fs/promises';
import { OipErrorSchema, OipInferResponseSchema, OipModelMetadataSchema, OipServerMetadataSchema } from '@edge-fleet/shared';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ModelName, writeModel } from '../test-support/models.js';
import { binaryBody, type OipTarget, oipRequest } from '../test-support/oip.client.js';
import { loadServedModel, SCENARIO, type ServedModel, startService, WORKER_ONLY } from '../test-support/serve.fixture.js';
import type { LocalInferenceService } from './local-inference.service.js';

let service: LocalInferenceService;
let socket: OipTarget;
let tcp: OipTarget;
let socketPath: string;
const served = new Map<string, ServedModel>();

async function serve(name: ModelName | 'mlp-worker'): Promise<ServedModel> {
  const known = served.get(name);
  if (known !== undefined) {
    service.setActive(known.engine, known.model, SCENARIO);
    return known;
  }
  const file = await writeModel(name === 'mlp-worker' ? 'mlp' : name);
  const s = await loadServedModel(file.bytes, file.inputs, { name, ...(name === 'mlp-worker' ? { budget: WORKER_ONLY } : {}) });
  served.set(name, s);
  service.setActive(s.engine, s.model, SCENARIO);
  return s;
}

/** The same inputs through a bare onnxruntime session in this process: what the API must answer. */
async function direct(path: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(path);
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));
}

function floats(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(seed * 13 + i) * 0.9);
}

function expectClose(actual: readonly (number | boolean)[] | undefined, expected: readonly number[]): void {
  expect(actual?.length).toBe(expected.length);
  (actual ?? []).forEach((v, i) => expect(Number(v)).toBeCloseTo(expected[i] ?? Number.NaN, 5));
}

beforeAll(async () => {
  const started = await startService();
  service = started.service;
  socketPath = started.socketPath;
  socket = { socketPath };
  tcp = { port: started.port };
});

afterAll(async () => {
  await service.stop();
  await Promise.all([...served.values()].map((s) => s.engine.dispose()));
});

describe('local inference API: Open Inference Protocol conformance (real onnxruntime sessions)', () => {
  it('health and server metadata: live always, ready only once a model serves; extensions name binary_tensor_data', async () => {
    expect((await oipRequest(socket, 'GET', '/v2/health/live')).status).toBe(200);
    const notReady = await oipRequest(socket, 'GET', '/v2/health/ready');
    expect(notReady.status).toBe(400);
    const noModel = await oipRequest(socket, 'POST', '/v2/models/mlp/infer', { inputs: [] });
    expect(noModel.status).toBe(503);
    expect(OipErrorSchema.parse(noModel.json()).error).toMatch(/no model is loaded/);
    await serve('mlp');
    expect((await oipRequest(tcp, 'GET', '/v2/health/ready')).status).toBe(200);
    const meta = await oipRequest(tcp, 'GET', '/v2');
    expect(meta.status).toBe(200);
    expect(OipServerMetadataSchema.parse(meta.json()).extensions).toContain('binary_tensor_data');
  });

  it('the Unix socket has mode 0660', async () => {
    expect((await stat(socketPath)).mode & 0o777).toBe(0o660);
  });

  it('model metadata by model name and by scenario, with version: -1 for dynamic dims, platform onnx_onnxv1, the precision and placement named', async () => {
    const s = await serve('multi');
    for (const path of ['/v2/models/multi', `/v2/models/${SCENARIO}`, '/v2/models/multi/versions/1.0.0']) {
      const res = await oipRequest(socket, 'GET', path);
      expect(res.status).toBe(200);
      const meta = OipModelMetadataSchema.parse(res.json());
      expect(meta.platform).toBe('onnx_onnxv1');
      expect(meta.versions).toEqual(['1.0.0']);
      expect(meta.inputs).toEqual([
        { name: 'features', datatype: 'FP32', shape: [-1, 16] },
        { name: 'token_ids', datatype: 'INT64', shape: [-1, -1] },
      ]);
      expect(meta.outputs).toEqual([{ name: 'score', datatype: 'FP32', shape: [-1, 1] }]);
      expect(meta.parameters).toMatchObject({ precision: 'fp32', variant_id: s.model.variantId, sha256: s.model.sha256 });
      // where the model runs, and the measured figures that decided it (an extra parameter: the shape stays the protocol's)
      expect(meta.parameters?.placement).toMatch(/^(inline|worker)$/);
      expect(meta.parameters?.placement_basis).toMatch(/^(inline|worker): .*timed runs|load/);
    }
    expect((await oipRequest(socket, 'GET', '/v2/models/multi/ready')).status).toBe(200);
    expect((await oipRequest(socket, 'GET', '/v2/models/multi/versions/1.0.0/ready')).status).toBe(200);
  });

  it('infers with INT64 input and dynamic dims (batch 2, seq 5), echoes the id, matches a bare session', async () => {
    const s = await serve('multi');
    const features = floats(32, 1);
    const tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
    const res = await oipRequest(socket, 'POST', '/v2/models/multi/versions/1.0.0/infer', {
      id: 'req-42',
      inputs: [
        { name: 'features', shape: [2, 16], datatype: 'FP32', data: features },
        { name: 'token_ids', shape: [2, 5], datatype: 'INT64', data: [tokens.slice(0, 5), tokens.slice(5)] },
      ],
    });
    expect(res.status).toBe(200);
    const body = OipInferResponseSchema.parse(res.json());
    expect(body).toMatchObject({ id: 'req-42', model_name: 'multi', model_version: '1.0.0' });
    const want = await direct(s.path, {
      features: new ort.Tensor('float32', Float32Array.from(features), [2, 16]),
      token_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [2, 5]),
    });
    expect(body.outputs[0]).toMatchObject({ name: 'score', datatype: 'FP32', shape: [2, 1] });
    expectClose(body.outputs[0]?.data, want.score ?? []);
  });

  it('a state input is the caller’s: feeding h_out back as h_in gives the second step of a bare session', async () => {
    const s = await serve('recurrent');
    const x = floats(8, 2);
    const step = async (h: number[]) =>
      OipInferResponseSchema.parse(
        (
          await oipRequest(tcp, 'POST', '/v2/models/recurrent/infer', {
            inputs: [
              { name: 'x', shape: [1, 8], datatype: 'FP32', data: x },
              { name: 'h_in', shape: [1, 16], datatype: 'FP32', data: h },
            ],
            outputs: [{ name: 'h_out' }],
          })
        ).json(),
      );
    const first = await step(new Array<number>(16).fill(0));
    expect(first.outputs.map((o) => o.name)).toEqual(['h_out']);
    const h1 = (first.outputs[0]?.data ?? []).map(Number);
    const second = await step(h1);
    const want = await direct(s.path, {
      x: new ort.Tensor('float32', Float32Array.from(x), [1, 8]),
      h_in: new ort.Tensor('float32', Float32Array.from(h1), [1, 16]),
    });
    expectClose(second.outputs[0]?.data, want.h_out ?? []);
  });

  it.each(['mlp', 'mlp-worker'] as const)('binary tensor extension in and out (%s placement): bytes equal a bare session', async (name) => {
    const s = await serve(name);
    if (name === 'mlp-worker') expect(s.engine.placement).toBe('worker');
    const input = Float32Array.from(floats(128, 3));
    const { body, headers } = binaryBody(
      {
        inputs: [{ name: 'input', shape: [2, 64], datatype: 'FP32', parameters: { binary_data_size: input.byteLength } }],
        parameters: { binary_data_output: true },
      },
      [input],
    );
    const res = await oipRequest(socket, 'POST', `/v2/models/${name}/infer`, body, headers);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const headerLength = Number(res.headers['inference-header-content-length']);
    const json = OipInferResponseSchema.parse(JSON.parse(res.body.subarray(0, headerLength).toString('utf8')));
    const out = json.outputs[0];
    expect(out).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 10], parameters: { binary_data_size: 80 } });
    expect(out?.data).toBeUndefined();
    const bytes = res.body.subarray(headerLength);
    expect(bytes.length).toBe(80);
    const got = Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 80)));
    const want = await direct(s.path, { input: new ort.Tensor('float32', input, [2, 64]) });
    expectClose(got, want.probabilities ?? []);
  });

  it('a 1×3×32×32 image as binary and JSON gives the same answer', async () => {
    await serve('conv');
    const image = Float32Array.from(floats(3 * 32 * 32, 4), (v) => Math.abs(v));
    const bin = binaryBody(
      { inputs: [{ name: 'image', shape: [1, 3, 32, 32], datatype: 'FP32', parameters: { binary_data_size: image.byteLength } }] },
      [image],
    );
    const a = await oipRequest(tcp, 'POST', '/v2/models/conv/infer', bin.body, bin.headers);
    const b = await oipRequest(tcp, 'POST', '/v2/models/conv/infer', {
      inputs: [{ name: 'image', shape: [1, 3, 32, 32], datatype: 'FP32', data: Array.from(image) }],
    });
    expect(a.status).toBe(200);
    expect(OipInferResponseSchema.parse(a.json()).outputs).toEqual(OipInferResponseSchema.parse(b.json()).outputs);
  });
});
