import { buildMlpClassifier, type GeneratedModel } from '@edge-fleet/onnx-builder';
import type { Scenario } from '@edge-fleet/shared';
import { z } from 'zod';

// variants other than FP32 may still be building (no sha256/size yet)
const ModelVersionSchema = z.object({
  id: z.uuid(),
  variants: z.array(z.object({ id: z.string(), precision: z.string(), sha256: z.string().nullable(), sizeBytes: z.number().nullable() })),
});
export type UploadedModel = z.infer<typeof ModelVersionSchema>;

async function failText(res: Response, what: string): Promise<never> {
  throw new Error(`${what} failed with HTTP ${res.status}: ${(await res.text()).slice(0, 500)}`);
}

/** Generates a small MLP classifier and uploads it through the real multipart route. */
export async function uploadMlp(url: string, token: string, name: string, seed = 7): Promise<UploadedModel> {
  return uploadModel(url, token, name, `1.0.${seed}`, buildMlpClassifier({ inputSize: 64, hidden: 128, classes: 10, seed }));
}

/** Uploads a generated model as `name` version `version` through the real multipart route. */
export async function uploadModel(url: string, token: string, name: string, version: string, m: GeneratedModel): Promise<UploadedModel> {
  const form = new FormData();
  form.append('file', new Blob([m.bytes]), `${name}.onnx`);
  form.append('name', name);
  form.append('version', version);
  form.append('inputs', JSON.stringify(m.inputs));
  const res = await fetch(`${url}/api/v1/models`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  if (!res.ok) return failText(res, 'model upload');
  return ModelVersionSchema.parse(await res.json());
}

/** PUT /api/v1/scenarios/:s/model; returns how many devices got a new assignment. */
export async function assignScenario(
  url: string,
  token: string,
  scenario: Scenario,
  modelVersionId: string,
  commit?: 'chunks' | 'whole',
): Promise<number> {
  const res = await fetch(`${url}/api/v1/scenarios/${scenario}/model`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ modelVersionId, ...(commit ? { commit } : {}) }),
  });
  if (!res.ok) return failText(res, `assigning a model to ${scenario}`);
  return z.object({ devices: z.number() }).parse(await res.json()).devices;
}
