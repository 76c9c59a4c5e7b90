import { request } from 'node:http';
import { OipErrorSchema, OipInferResponseSchema } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeModel } from '../test-support/models.js';
import { binaryBody, type OipTarget, oipRequest } from '../test-support/oip.client.js';
import { loadServedModel, SCENARIO, type ServedModel, startService } from '../test-support/serve.fixture.js';
import type { LocalInferenceService } from './local-inference.service.js';

let service: LocalInferenceService;
let target: OipTarget;
let multi: ServedModel;
const MAX_BODY = 256 * 1024;

const good = {
  inputs: [
    { name: 'features', shape: [1, 16], datatype: 'FP32', data: new Array<number>(16).fill(0.5) },
    { name: 'token_ids', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] },
  ],
};

function withInput(i: number, over: Record<string, unknown>): object {
  return { inputs: good.inputs.map((inp, at) => (at === i ? { ...inp, ...over } : inp)) };
}

beforeAll(async () => {
  const file = await writeModel('multi');
  multi = await loadServedModel(file.bytes, file.inputs, { name: 'multi' });
  const started = await startService({ maxBodyBytes: MAX_BODY });
  service = started.service;
  target = { socketPath: started.socketPath };
  service.setActive(multi.engine, multi.model, SCENARIO);
});

afterAll(async () => {
  await service.stop();
  await multi.engine.dispose();
});

/** Sends a body in chunks without a Content-Length (chunked), as a streaming client would. */
function streamed(path: string, chunk: Buffer, chunks: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: target.socketPath, method: 'POST', path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    let sent = 0;
    const next = (): void => {
      if (sent++ >= chunks) {
        req.end();
        return;
      }
      if (req.write(chunk)) setImmediate(next);
      else req.once('drain', next);
    };
    next();
  });
}

describe('local inference API: bad input answered with the protocol error object naming the problem', () => {
  const cases: [string, string, string | object, RegExp, number?, Record<string, string>?][] = [
    ['malformed JSON', '/v2/models/multi/infer', '{"inputs": [', /malformed JSON/],
    ['no inputs array', '/v2/models/multi/infer', { id: 'x' }, /inputs/],
    ['unknown model', '/v2/models/resnet/infer', good, /unknown model "resnet"/, 404],
    ['unknown version', '/v2/models/multi/versions/9.9.9/infer', good, /no version "9\.9\.9"/, 404],
    ['unknown input name', '/v2/models/multi/infer', withInput(0, { name: 'feature' }), /unknown input "feature"/],
    ['missing input', '/v2/models/multi/infer', { inputs: [good.inputs[0]] }, /missing input token_ids/],
    ['input given twice', '/v2/models/multi/infer', { inputs: [good.inputs[0], good.inputs[0], good.inputs[1]] }, /given twice/],
    [
      'wrong datatype',
      '/v2/models/multi/infer',
      withInput(1, { datatype: 'INT32' }),
      /token_ids: datatype INT32 does not match the model's INT64/,
    ],
    ['unsupported datatype', '/v2/models/multi/infer', withInput(1, { datatype: 'BYTES' }), /datatype BYTES is not supported/],
    [
      'wrong shape',
      '/v2/models/multi/infer',
      withInput(0, { shape: [1, 15] }),
      /features: shape \[1, 15\] does not match the model's \[-1, 16\]/,
    ],
    ['wrong rank', '/v2/models/multi/infer', withInput(0, { shape: [16] }), /shape \[16\] does not match/],
    ['wrong element count', '/v2/models/multi/infer', withInput(0, { data: [1, 2, 3] }), /data has 3 elements, the shape needs 16/],
    ['non-number element', '/v2/models/multi/infer', withInput(1, { data: [1, 'two', 3] }), /token_ids: element 1 is the string "two"/],
    ['integer out of range', '/v2/models/multi/infer', withInput(1, { data: [1, 2.5, 3] }), /element 1 \(2\.5\) is not an integer/],
    ['no data', '/v2/models/multi/infer', withInput(1, { data: undefined }), /neither data nor binary_data_size/],
    ['unknown output', '/v2/models/multi/infer', { ...good, outputs: [{ name: 'logits' }] }, /unknown output "logits"/],
    ['unknown route', '/v2/modelz', good, /no route/, 404],
    ['wrong method', '/v2/health/live', good, /takes GET/, 405],
    [
      'header length past the body',
      '/v2/models/multi/infer',
      JSON.stringify(good),
      /Inference-Header-Content-Length is 9999/,
      400,
      { 'inference-header-content-length': '9999' },
    ],
  ];

  it.each(cases)('%s', async (_label, path, body, message, status = 400, headers = {}) => {
    const res = await oipRequest(target, 'POST', path, body, headers);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe('application/json');
    expect(OipErrorSchema.parse(res.json()).error).toMatch(message);
  });

  it('binary data whose sizes do not add up: a short tensor, and bytes left over after the last one', async () => {
    const features = new Float32Array(16);
    const ids = new BigInt64Array(3);
    const header = (idsSize: number) => ({
      inputs: [
        { ...good.inputs[0], data: undefined, parameters: { binary_data_size: 64 } },
        { ...good.inputs[1], data: undefined, parameters: { binary_data_size: idsSize } },
      ],
    });
    const short = binaryBody(header(16), [features, ids.subarray(0, 2)]);
    const a = await oipRequest(target, 'POST', '/v2/models/multi/infer', short.body, short.headers);
    expect(a.status).toBe(400);
    expect(OipErrorSchema.parse(a.json()).error).toMatch(
      /token_ids: binary_data_size 16 does not match shape \[1, 3\] of INT64 \(24 bytes\)/,
    );
    const extra = binaryBody(header(24), [features, ids, new Uint8Array(5)]);
    const b = await oipRequest(target, 'POST', '/v2/models/multi/infer', extra.body, extra.headers);
    expect(b.status).toBe(400);
    expect(OipErrorSchema.parse(b.json()).error).toMatch(/5 bytes of binary data|add up to 88/);
  });

  it('a body over the limit: 413 from its Content-Length, and 413 while streaming without one', async () => {
    const declared = await oipRequest(target, 'POST', '/v2/models/multi/infer', Buffer.alloc(MAX_BODY + 1, 32));
    expect(declared.status).toBe(413);
    expect(OipErrorSchema.parse(declared.json()).error).toMatch(/too large.*limit is 262144 bytes/);
    const stream = await streamed('/v2/models/multi/infer', Buffer.alloc(64 * 1024, 32), 64);
    expect(stream.status).toBe(413);
    expect(OipErrorSchema.parse(JSON.parse(stream.body)).error).toMatch(/more than 262144 bytes sent/);
  });

  it('after every bad request the server still answers a good one', async () => {
    const res = await oipRequest(target, 'POST', `/v2/models/${SCENARIO}/infer`, good);
    expect(res.status).toBe(200);
    expect(OipInferResponseSchema.parse(res.json()).outputs[0]?.shape).toEqual([1, 1]);
  });
});
