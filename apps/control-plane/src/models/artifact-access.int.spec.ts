import type { EnrollResponse, Scenario } from '@edge-fleet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrollDevice } from '../test-support/device-client.js';
import { startHarness, uploadMlp, type Harness } from '../test-support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/** Uploads a model and returns the sha256 and size of its FP32 artifact. */
async function artifactOf(name: string, seed: number): Promise<{ modelVersionId: string; sha256: string; size: number }> {
  const v = await uploadMlp(h, name, '1.0.0', seed);
  const got = (await (await h.api(`/api/v1/models/${v.id}`)).json()) as { variants: { id: string; sha256: string; sizeBytes: number }[] };
  const fp32 = got.variants.find((x) => x.id === v.variant);
  if (!fp32) throw new Error(`model ${name} has no FP32 variant`);
  return { modelVersionId: v.id, sha256: fp32.sha256, size: fp32.sizeBytes };
}

async function assign(scenario: Scenario, modelVersionId: string): Promise<void> {
  const res = await h.api(`/api/v1/scenarios/${scenario}/model`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ modelVersionId }),
  });
  expect(res.status).toBe(200);
}

const asDevice = (e: EnrollResponse, sha256: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${h.cp.url}/api/v1/artifacts/${sha256}`, {
    headers: { authorization: `Basic ${Buffer.from(`${e.deviceId}:${e.deviceSecret}`).toString('base64')}`, ...headers },
  });

describe('artifact downloads: issue 10 item 6 (a device downloads only what its own desired states named)', () => {
  it("issue 10 item 6: a device gets its current and previous model, 403 for another device's or an older one; operators get any", async () => {
    const a = await enrollDevice(h, 'customer_support_agent', 'edge-gpu-kiosk');
    const b = await enrollDevice(h, 'data_analysis_agent', 'cloud-cpu-node');
    const [x, y, z, w] = [await artifactOf('x', 31), await artifactOf('y', 32), await artifactOf('z', 33), await artifactOf('w', 34)];
    await assign('customer_support_agent', x.modelVersionId);
    await assign('data_analysis_agent', y.modelVersionId);

    expect((await asDevice(a, x.sha256)).status).toBe(200);
    expect((await asDevice(b, y.sha256)).status).toBe(200);
    const foreign = await asDevice(a, y.sha256);
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'forbidden',
      message: expect.stringContaining(`device ${a.deviceId}`) as unknown,
    });
    expect((await asDevice(b, x.sha256)).status).toBe(403);
    // never assigned to anyone: 403 to a device too (it learns nothing about what exists)
    expect((await asDevice(a, z.sha256)).status).toBe(403);
    expect((await asDevice(a, 'f'.repeat(64))).status).toBe(403);

    // a new model: the previous one stays downloadable (a local rollback may need it); two back does not
    await assign('customer_support_agent', z.modelVersionId);
    expect((await asDevice(a, z.sha256)).status).toBe(200);
    expect((await asDevice(a, x.sha256)).status).toBe(200);
    await assign('customer_support_agent', w.modelVersionId);
    expect((await asDevice(a, w.sha256)).status).toBe(200);
    expect((await asDevice(a, z.sha256)).status).toBe(200);
    expect((await asDevice(a, x.sha256)).status).toBe(403);

    // operators read any artifact; nobody reads one without credentials
    for (const s of [x, y, z, w]) expect((await h.api(`/api/v1/artifacts/${s.sha256}`)).status).toBe(200);
    expect((await h.api(`/api/v1/artifacts/${'f'.repeat(64)}`)).status).toBe(404);
    expect((await fetch(`${h.cp.url}/api/v1/artifacts/${x.sha256}`)).status).toBe(401);
  });

  it('issue 10 item 8: a Range past the end answers 416 with Content-Range bytes */size; a valid one still 206', async () => {
    const e = await enrollDevice(h, 'robotic_manipulation', 'robot-npu-arm');
    const m = await artifactOf('ranged', 41);
    await assign('robotic_manipulation', m.modelVersionId);
    const past = await asDevice(e, m.sha256, { range: 'bytes=99999999-' });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${m.size}`);
    expect(((await past.json()) as { error: { code: string } }).error.code).toBe('range_not_satisfiable');
    const part = await asDevice(e, m.sha256, { range: 'bytes=10-19' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${m.size}`);
  });
});
