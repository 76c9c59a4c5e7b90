/** Checks a decoded model against what the variant builder supports. */
import { OnnxQuantError } from '../errors.js';
import type { OnnxGraph, OnnxModel, OnnxTensor } from '@edge-fleet/onnx-codec';

/** Default-domain opsets the transforms accept (DequantizeLinear `axis` needs 13); older models are upgraded first. */
export const SUPPORTED_OPSETS = { min: 13, max: 21 } as const;

function tensorsOf(graph: OnnxGraph): OnnxTensor[] {
  const out = [...graph.initializers];
  for (const node of graph.nodes) {
    for (const a of node.attributes) {
      if (a.type === 'TENSOR') out.push(a.value);
      else if (a.type === 'TENSORS') out.push(...a.value);
      else if (a.type === 'GRAPH') out.push(...tensorsOf(a.value));
      else if (a.type === 'GRAPHS') out.push(...a.value.flatMap(tensorsOf));
    }
  }
  return out;
}

/** The default-domain opset version; 0 when the model imports none. */
export function defaultOpset(model: OnnxModel): number {
  return model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;
}

/**
 * Throws `OnnxQuantError` for models the builder must refuse: external data
 * (`data_location = EXTERNAL` or `external_data` entries). An opset the transforms do not
 * support is not refused: the FP32 model is still served and each variant says why it was not
 * built (see `transformableModel`).
 */
export function checkModel(model: OnnxModel): void {
  const external = tensorsOf(model.graph).find((t) => t.dataLocation === 1 || t.externalData.length > 0);
  if (external) {
    throw new OnnxQuantError(
      'external_data',
      `tensor "${external.name}" keeps its data in an external file; upload a single-file model (onnx.save(..., save_as_external_data=False))`,
    );
  }
}
