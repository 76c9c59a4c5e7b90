import { OipInferResponseSchema } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeModel } from '../test-support/models.js';
import { oipRequest } from '../test-support/oip.client.js';
import { loadServedModel, SCENARIO, type ServedModel, startService } from '../test-support/serve.fixture.js';
import type { LocalInferenceService } from './local-inference.service.js';

let service: LocalInferenceService;
let socketPath: string;
let hits = 0;
const loaded: ServedModel[] = [];

beforeAll(async () => {
  const started = await startService({ cacheEntries: 16 }, () => hits++);
  service = started.service;
  socketPath = started.socketPath;
});

afterAll(async () => {
  await service.stop();
  await Promise.all(loaded.map((m) => m.engine.dispose()));
});

async function serve(name: 'mlp' | 'recurrent'): Promise<void> {
  const file = await writeModel(name);
  const s = await loadServedModel(file.bytes, file.inputs, { name });
  loaded.push(s);
  service.setActive(s.engine, s.model, SCENARIO);
}

async function ask(body: object) {
  const res = await oipRequest({ socketPath }, 'POST', `/v2/models/${SCENARIO}/infer`, body);
  expect(res.status).toBe(200);
  return OipInferResponseSchema.parse(res.json());
}

describe('local inference API: result cache', () => {
  it('a repeated input is answered from the cache with the same outputs; another input is not; each hit is counted', async () => {
    await serve('mlp');
    const body = (v: number) => ({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: new Array<number>(64).fill(v) }] });
    const first = await ask(body(0.25));
    const second = await ask(body(0.25));
    const other = await ask(body(0.5));
    expect(first.parameters?.cache_hit).toBe(false);
    expect(second.parameters?.cache_hit).toBe(true);
    expect(second.outputs).toEqual(first.outputs);
    expect(other.parameters?.cache_hit).toBe(false);
    expect(hits).toBe(1);
  });

  it('is never used for a model with a state input', async () => {
    await serve('recurrent');
    const body = {
      inputs: [
        { name: 'x', shape: [1, 8], datatype: 'FP32', data: new Array<number>(8).fill(0.1) },
        { name: 'h_in', shape: [1, 16], datatype: 'FP32', data: new Array<number>(16).fill(0) },
      ],
    };
    await ask(body);
    expect((await ask(body)).parameters?.cache_hit).toBe(false);
  });

  it('a new model version never answers from the old one’s entries', async () => {
    await serve('mlp');
    const body = { inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: new Array<number>(64).fill(0.75) }] };
    await ask(body);
    expect((await ask(body)).parameters?.cache_hit).toBe(true);
    const file = await writeModel('mlp');
    const next = await loadServedModel(file.bytes, file.inputs, { name: 'mlp', version: '2.0.0' });
    loaded.push(next);
    service.setActive(next.engine, { ...next.model, sha256: 'f'.repeat(64) }, SCENARIO);
    const after = await ask(body);
    expect(after.parameters?.cache_hit).toBe(false);
    expect(after.model_version).toBe('2.0.0');
  });
});
