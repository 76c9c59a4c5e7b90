import { type OipDatatype, OipInferResponseSchema } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIdentityModel, ONNX_TYPE_CODES } from '../test-support/identity.models.js';
import { binaryBody, type OipTarget, oipRequest } from '../test-support/oip.client.js';
import { loadServedModel, SCENARIO, type ServedModel, startService } from '../test-support/serve.fixture.js';
import type { LocalInferenceService } from './local-inference.service.js';

let service: LocalInferenceService;
let target: OipTarget;
const loaded: ServedModel[] = [];

/** Six values per type ([2, 3]), each exactly representable, edges included. */
const VALUES: Record<OipDatatype, (number | boolean)[]> = {
  BOOL: [true, false, true, true, false, false],
  UINT8: [0, 1, 127, 128, 254, 255],
  UINT16: [0, 1, 256, 32_768, 65_534, 65_535],
  UINT32: [0, 1, 65_536, 2_147_483_648, 4_294_967_294, 4_294_967_295],
  UINT64: [0, 1, 2 ** 32, 2 ** 40, 2 ** 52, Number.MAX_SAFE_INTEGER],
  INT8: [-128, -1, 0, 1, 64, 127],
  INT16: [-32_768, -1, 0, 1, 300, 32_767],
  INT32: [-2_147_483_648, -1, 0, 1, 70_000, 2_147_483_647],
  INT64: [Number.MIN_SAFE_INTEGER, -(2 ** 40), -1, 0, 2 ** 40, Number.MAX_SAFE_INTEGER],
  FP16: [0, -2, 0.5, 65_504, 2 ** -24, -0.099975586],
  FP32: [0, -1.5, 3.25, 1e-30, -3.4e38, 0.1],
  FP64: [0, -1.5, Math.PI, 1e-300, -1.7e308, 0.1],
};

const TYPED: Partial<Record<OipDatatype, (v: (number | boolean)[]) => ArrayBufferView>> = {
  UINT64: (v) => BigUint64Array.from(v, (x) => BigInt(Number(x))),
  INT64: (v) => BigInt64Array.from(v, (x) => BigInt(Number(x))),
  FP32: (v) => Float32Array.from(v, Number),
  FP64: (v) => Float64Array.from(v, Number),
  INT8: (v) => Int8Array.from(v, Number),
  BOOL: (v) => Uint8Array.from(v, (x) => (x === true ? 1 : 0)),
};

beforeAll(async () => {
  const started = await startService();
  service = started.service;
  target = { port: started.port };
});

afterAll(async () => {
  await service.stop();
  await Promise.all(loaded.map((m) => m.engine.dispose()));
});

async function serveIdentity(datatype: OipDatatype): Promise<void> {
  // the spec only drives the load-time calibration, which fails harmlessly for types the workload cannot feed
  const s = await loadServedModel(buildIdentityModel(ONNX_TYPE_CODES[datatype]), [{ name: 'x', dtype: 'float32', shape: [1, 3] }], {
    name: `identity-${datatype.toLowerCase()}`,
  });
  loaded.push(s);
  service.setActive(s.engine, s.model, SCENARIO);
}

describe('local inference API: every ONNX numeric datatype through a real session (Identity model)', () => {
  it.each(Object.keys(VALUES) as OipDatatype[])('%s: JSON data comes back exactly as sent', async (datatype) => {
    await serveIdentity(datatype);
    const data = VALUES[datatype];
    const res = await oipRequest(target, 'POST', `/v2/models/${SCENARIO}/infer`, {
      inputs: [{ name: 'x', shape: [2, 3], datatype, data }],
    });
    expect(res.status).toBe(200);
    const out = OipInferResponseSchema.parse(res.json()).outputs[0];
    expect(out).toMatchObject({ name: 'y', datatype, shape: [2, 3] });
    if (datatype === 'FP32') expect(out?.data?.map(Number)).toEqual(Array.from(Float32Array.from(data, Number)));
    else if (datatype === 'FP16')
      expect(out?.data?.map((v) => Number(Number(v).toPrecision(8)))).toEqual([0, -2, 0.5, 65_504, 5.9604645e-8, -0.099975586]);
    else expect(out?.data).toEqual(data);
    if (TYPED[datatype] === undefined) return;
    const bytes = TYPED[datatype](data);
    const { body, headers } = binaryBody(
      {
        inputs: [{ name: 'x', shape: [2, 3], datatype, parameters: { binary_data_size: bytes.byteLength } }],
        outputs: [{ name: 'y', parameters: { binary_data: true } }],
      },
      [bytes],
    );
    const bin = await oipRequest(target, 'POST', `/v2/models/${SCENARIO}/infer`, body, headers);
    expect(bin.status).toBe(200);
    const headerLength = Number(bin.headers['inference-header-content-length']);
    expect(Buffer.compare(bin.body.subarray(headerLength), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))).toBe(0);
  });

  it('values outside an integer type are refused with the element named', async () => {
    await serveIdentity('UINT8');
    const res = await oipRequest(target, 'POST', `/v2/models/${SCENARIO}/infer`, {
      inputs: [{ name: 'x', shape: [1, 3], datatype: 'UINT8', data: [1, 256, 3] }],
    });
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ error: 'input x: element 1 (256) is not an integer within the range of UINT8' });
  });
});
