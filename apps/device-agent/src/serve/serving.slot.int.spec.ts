import type { Scenario } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSlowModel } from '../test-support/models.js';
import { loadServedModel, type ServedModel } from '../test-support/serve.fixture.js';
import { ServingSlot } from './serving.slot.js';

const scenario: Scenario = 'robotic_manipulation';
const SIZE = 128;
let a: ServedModel;
let b: ServedModel;

beforeAll(async () => {
  const model = buildSlowModel(SIZE, 24);
  a = await loadServedModel(model.bytes, model.inputs, { name: 'slow', version: '1' });
  b = await loadServedModel(model.bytes, model.inputs, { name: 'slow', version: '2' });
});

afterAll(async () => {
  await Promise.all([a.engine.dispose(), b.engine.dispose()]);
});

describe('ServingSlot swap with real engines', () => {
  it('row 28: requests queued before an activation run on the new session while the old one finishes and is released', async () => {
    const slot = new ServingSlot({ queueDepth: 64, maxInFlight: 2 });
    slot.setActive({ engine: a.engine, model: a.model, scenario });
    // a tensor per request: the engine takes ownership of input buffers
    const x = () => ({ type: 'float32' as const, dims: [SIZE, SIZE], data: new Float32Array(SIZE * SIZE).fill(0.01) });
    const pending = Array.from({ length: 20 }, () => slot.submit({ x: x() }, 30_000));
    expect(slot.queued).toBe(18);
    // as the step executor does: swap, then release the old engine (its dispose waits for its runs)
    slot.setActive({ engine: b.engine, model: b.model, scenario });
    await a.engine.dispose();
    const served = await Promise.all(pending);
    expect(served.map((s) => s.result.ok)).toEqual(new Array<boolean>(20).fill(true));
    const versions = served.map((s) => s.by.model.version);
    expect(versions.slice(0, 2)).toEqual(['1', '1']);
    expect(versions.slice(2)).toEqual(new Array<string>(18).fill('2'));
  });

  it('a worker engine moves request buffers instead of copying them; a buffer already moved is refused, never hangs', async () => {
    expect(b.engine.placement).toBe('worker');
    const x = { type: 'float32' as const, dims: [SIZE, SIZE], data: new Float32Array(SIZE * SIZE).fill(0.01) };
    const first = await b.engine.infer({ x });
    expect(first.ok).toBe(true);
    expect(x.data.byteLength).toBe(0);
    const again = await b.engine.infer({ x });
    expect(again).toMatchObject({ ok: false, error: expect.stringMatching(/does not fill its dims/) as unknown });
  });
});
