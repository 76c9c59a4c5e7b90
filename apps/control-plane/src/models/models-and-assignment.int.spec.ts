import { createPublicKey, randomUUID, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpClassifier, buildMultiInput } from '@edge-fleet/onnx-builder';
import { decodeModel, encodeOnnxModel } from '@edge-fleet/onnx-quant';
import { ManifestPayloadSchema, signingKeyCertMessage, topics, type DesiredStatePayload, type InputSpec } from '@edge-fleet/shared';
import type { MqttClient } from 'mqtt';
import { connectDevice, enrollDevice } from '../test-support/device-client.js';
import { startHarness, type Harness } from '../test-support/harness.js';
import { watchOverlappingQueries } from '../test-support/overlapping-queries.js';
import { openSignedDesired } from '../test-support/signed-desired.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

interface Version {
  id: string;
  name: string;
  version: string;
  variants: { precision: string; sha256: string; sizeBytes: number }[];
}

async function upload(bytes: Uint8Array, name: string, version: string, inputs: InputSpec[] | string): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([Buffer.from(bytes)]), `${name}.onnx`);
  form.set('name', name);
  form.set('version', version);
  form.set('inputs', typeof inputs === 'string' ? inputs : JSON.stringify(inputs));
  return h.api('/api/v1/models', { method: 'POST', body: form });
}
const errorOf = async (r: Response) => ((await r.json()) as { error: { message: string } }).error.message;
const modelCount = async () => ((await (await h.api('/api/v1/models')).json()) as { items: unknown[] }).items.length;

/** The next desired state on the device's topic, verified as the agent does (throws on anything unsigned). */
function nextDesired(c: MqttClient, e: { deviceId: string; rootPublicKey: string }): Promise<DesiredStatePayload> {
  return new Promise((resolve) => {
    const on = (topic: string, payload: Buffer) => {
      if (topic !== topics.desired(e.deviceId)) return;
      const d = openSignedDesired(payload, e.rootPublicKey);
      c.off('message', on);
      resolve(d);
    };
    c.on('message', on);
  });
}

describe('model registry', () => {
  it('registers an FP32 model with several inputs (int64, dynamic dims) after loading it in onnxruntime', async () => {
    const m = buildMultiInput({ seed: 3 });
    const res = await upload(m.bytes, 'ranker', '1.0.0', m.inputs);
    expect(res.status).toBe(201);
    const v = (await res.json()) as Version;
    expect(v.variants).toEqual([expect.objectContaining({ precision: 'fp32', sizeBytes: m.bytes.length })]);
  });

  it("registers a version without handing its transaction's connection a query while it runs another, and answers the whole version", async () => {
    const m = buildMlpClassifier({ seed: 5 });
    const watch = watchOverlappingQueries();
    let res: Response;
    try {
      res = await upload(m.bytes, 'one-query-at-a-time', '1', m.inputs);
    } finally {
      expect(watch.stop()).toEqual([]);
    }
    expect(res.status, await res.clone().text()).toBe(201);
    const v = (await res.json()) as Version;
    expect(v).toMatchObject({ name: 'one-query-at-a-time', version: '1' });
    expect(v.variants).toEqual([expect.objectContaining({ precision: 'fp32', sizeBytes: m.bytes.length })]);
  });

  it('refuses a file that is not ONNX, and stores nothing', async () => {
    const before = await modelCount();
    const res = await upload(new TextEncoder().encode('definitely not a protobuf'), 'junk', '1', [
      { name: 'input', dtype: 'float32', shape: [1, 4] },
    ]);
    expect(res.status).toBe(422);
    expect(await errorOf(res)).toMatch(/not a loadable ONNX model/);
    expect(await modelCount()).toBe(before);
  });

  it('refuses a model whose weights live in external data files, and stores nothing', async () => {
    const before = await modelCount();
    const m = buildMlpClassifier({ seed: 8 });
    const model = decodeModel(m.bytes);
    const w = model.graph.initializers[0];
    if (!w) throw new Error('fixture has no initializer');
    delete w.rawData;
    w.dataLocation = 1;
    w.externalData = [{ key: 'location', value: '../../etc/passwd' }];
    const res = await upload(encodeOnnxModel(model), 'external', '1', m.inputs);
    expect(res.status).toBe(422);
    expect(await errorOf(res)).toMatch(/external data files/);
    expect(await modelCount()).toBe(before);
  });

  it('refuses an input spec that contradicts the model, naming the input', async () => {
    const m = buildMlpClassifier({ seed: 1 });
    const wrongName = await upload(m.bytes, 'mlp', '0.1', [{ name: 'pixels', dtype: 'float32', shape: [1, 64] }]);
    expect(wrongName.status).toBe(422);
    expect(await errorOf(wrongName)).toMatch(/"pixels" is not an input of the model/);
    const wrongDim = await upload(m.bytes, 'mlp', '0.1', [{ name: 'input', dtype: 'float32', shape: [1, 65] }]);
    expect(await errorOf(wrongDim)).toMatch(/dimension 1 is fixed at 64/);
    const notJson = await upload(m.bytes, 'mlp', '0.1', '[{');
    expect(notJson.status).toBe(400);
    expect(await errorOf(notJson)).toMatch(/inputs/);
    const dynamicLeft = await upload(m.bytes, 'mlp', '0.1', [{ name: 'input', dtype: 'float32', shape: [0, 64] }]);
    expect(dynamicLeft.status).toBe(400);
  });

  it('refuses calibration data that does not fit the input spec, naming the input, and stores nothing', async () => {
    const m = buildMlpClassifier({ seed: 4 });
    const before = await modelCount();
    const send = async (calibration: string) => {
      const form = new FormData();
      form.set('file', new Blob([Buffer.from(m.bytes)]), 'mlp.onnx');
      form.set('calibration', new Blob([calibration]), 'calibration.json');
      form.set('name', 'calibrated');
      form.set('version', '1');
      form.set('inputs', JSON.stringify(m.inputs));
      return h.api('/api/v1/models', { method: 'POST', body: form });
    };
    const short = await send(JSON.stringify({ input: [[1, 2, 3]] }));
    expect(short.status).toBe(422);
    expect(await errorOf(short)).toMatch(/calibration data does not fit the input spec: .*input/);
    const unknown = await send(JSON.stringify({ pixels: [[1]] }));
    expect(await errorOf(unknown)).toMatch(/unknown input\(s\): pixels/);
    expect((await send('{nope')).status).toBe(400);
    expect(await modelCount()).toBe(before);
    const good = await send(
      JSON.stringify({ input: [Array.from({ length: 64 }, (_, i) => i / 64), Array.from({ length: 64 }, () => 0.5)] }),
    );
    expect(good.status).toBe(201);
    expect(((await good.json()) as { calibration: string }).calibration).toBe('uploaded');
  });
});

describe('scenario assignment', () => {
  it("publishes each device's full desired state retained, serves the artifact to it, and re-publishes on reconnect", async () => {
    const m = buildMlpClassifier({ seed: 7 });
    const v = (await (await upload(m.bytes, 'classifier', '2.0.0', m.inputs)).json()) as Version;
    expect(await errorOf(await upload(m.bytes, 'classifier', '2.0.0', m.inputs))).toMatch(/already has a version 2\.0\.0/);
    const e = await enrollDevice(h, 'customer_support_agent', 'edge-gpu-kiosk');
    const c = await connectDevice(h, e);
    await c.subscribeAsync(topics.desired(e.deviceId), { qos: 1 });
    const got = nextDesired(c, e);
    const res = await h.api('/api/v1/scenarios/customer_support_agent/model', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ modelVersionId: v.id }),
    });
    expect(res.status).toBe(200);
    const summary = (await res.json()) as { assigned: number; decisions: { reason: string }[] };
    expect(summary.assigned).toBe(1);
    expect(summary.decisions[0]?.reason).toMatch(/^fp32 in SRAM: p99 .* ≤ 50 ms \(unmeasured device: reference p50 .*show no p99/);
    const d = await got;
    // issue 10 item 4: signed as a whole, bound to the device, with the device's high-water mark and an expiry
    expect(d).toMatchObject({
      deviceId: e.deviceId,
      assignmentVersion: 1,
      highWaterMark: 1,
      scenario: 'customer_support_agent',
      model: { name: 'classifier', version: '2.0.0', precision: 'fp32', sha256: v.variants[0]?.sha256 },
    });
    expect(Date.parse(d.expiresAt)).toBeGreaterThan(Date.now() + 86_400_000);
    // the manifest is signed by a key the root (handed over at enrollment) certified, and names these bytes for this device
    const manifest = d.model?.manifest;
    if (!manifest) throw new Error('desired model without a manifest');
    const key = (b64: string) => createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' });
    const cert = Buffer.from(signingKeyCertMessage(manifest.signingKey));
    expect(verify(null, cert, key(e.rootPublicKey), Buffer.from(manifest.signingKey.rootSignature, 'base64'))).toBe(true);
    const payload = Buffer.from(manifest.payload, 'base64');
    expect(verify(null, payload, key(manifest.signingKey.publicKey), Buffer.from(manifest.signature, 'base64'))).toBe(true);
    expect(ManifestPayloadSchema.parse(JSON.parse(payload.toString()))).toMatchObject({
      deviceId: e.deviceId,
      sha256: v.variants[0]?.sha256,
      sizeBytes: m.bytes.length,
      version: 1,
    });
    await c.endAsync();

    const basic = `Basic ${Buffer.from(`${e.deviceId}:${e.deviceSecret}`).toString('base64')}`;
    const artifactUrl = d.model?.artifactUrl ?? '';
    const full = await fetch(artifactUrl, { headers: { authorization: basic } });
    expect(full.status).toBe(200);
    expect(Buffer.from(await full.arrayBuffer()).equals(Buffer.from(m.bytes))).toBe(true);
    const part = await fetch(artifactUrl, { headers: { authorization: basic, range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect((await part.arrayBuffer()).byteLength).toBe(10);
    const wrong = `Basic ${Buffer.from(`${e.deviceId}:${'y'.repeat(43)}`).toString('base64')}`;
    expect((await fetch(artifactUrl, { headers: { authorization: wrong } })).status).toBe(401);

    // a fresh session (no memory of the earlier delivery) gets the retained copy
    const again = await connectDevice(h, e);
    const retained = nextDesired(again, e);
    await again.subscribeAsync(topics.desired(e.deviceId), { qos: 1 });
    expect((await retained).assignmentVersion).toBe(1);
    await again.endAsync();
  });

  it('gives a device enrolled later its scenario model when it comes online', async () => {
    const e = await enrollDevice(h, 'customer_support_agent', 'edge-gpu-kiosk');
    const c = await connectDevice(h, e);
    await c.subscribeAsync(topics.desired(e.deviceId), { qos: 1 });
    const got = nextDesired(c, e);
    await c.publishAsync(topics.status(e.deviceId), JSON.stringify({ state: 'online', bootId: randomUUID() }), { qos: 1, retain: true });
    const d = await got;
    expect(d.model?.name).toBe('classifier');
    expect(d.assignmentVersion).toBe(1);
    await c.endAsync();
  });

  it('refuses an unknown model version or scenario, and changes nothing', async () => {
    const unknown = await h.api('/api/v1/scenarios/customer_support_agent/model', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ modelVersionId: randomUUID() }),
    });
    expect(unknown.status).toBe(404);
    const badScenario = await h.api('/api/v1/scenarios/bitcoin_mining/model', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ modelVersionId: randomUUID() }),
    });
    expect(badScenario.status).toBe(400);
    const models = (await (await h.api('/api/v1/models')).json()) as { items: { name: string; scenarios: string[] }[] };
    expect(models.items.find((x) => x.name === 'classifier')?.scenarios).toEqual(['customer_support_agent']);
  });
});
