/** Checks that the caller's InputSpec list describes the model's actual inputs. */
import { InputSpecListSchema, type InputSpec, type TensorDtype } from '@edge-fleet/shared/schemas';
import { OnnxQuantError } from '../errors.js';
import { DataType, type OnnxModel } from '@edge-fleet/onnx-codec';

const ELEM_TYPE: Readonly<Record<TensorDtype, number>> = {
  float32: DataType.FLOAT,
  uint8: DataType.UINT8,
  int8: DataType.INT8,
  int32: DataType.INT32,
  int64: DataType.INT64,
  bool: DataType.BOOL,
};

function fail(message: string): never {
  throw new OnnxQuantError('invalid_input_spec', message);
}

/**
 * Parses `specs` with the shared schema and matches them against the graph inputs that are
 * not initializers: same names, element types, rank, and every fixed dimension.
 */
export function checkInputSpecs(model: OnnxModel, specs: unknown): InputSpec[] {
  const parsed = InputSpecListSchema.safeParse(specs);
  if (!parsed.success) fail(`input specs are invalid: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const inits = new Set(model.graph.initializers.map((t) => t.name));
  const graphInputs = model.graph.inputs.filter((i) => !inits.has(i.name));
  const missing = graphInputs.filter((i) => !parsed.data.some((s) => s.name === i.name)).map((i) => i.name);
  if (missing.length) fail(`no input spec for model input(s): ${missing.join(', ')}`);
  for (const spec of parsed.data) {
    const input = graphInputs.find((i) => i.name === spec.name);
    if (!input) fail(`input spec "${spec.name}" names no model input (model inputs: ${graphInputs.map((i) => i.name).join(', ')})`);
    const tensor = input.type?.tensor;
    if (!tensor) fail(`model input "${spec.name}" is not a tensor`);
    if (tensor.elemType !== ELEM_TYPE[spec.dtype]) {
      fail(`input "${spec.name}": spec says ${spec.dtype}, the model declares element type ${tensor.elemType}`);
    }
    const shape = tensor.shape;
    if (shape && shape.length !== spec.shape.length)
      fail(`input "${spec.name}": spec has rank ${spec.shape.length}, the model ${shape.length}`);
    shape?.forEach((d, i) => {
      if (typeof d === 'number' && d !== spec.shape[i])
        fail(`input "${spec.name}": dimension ${i} is ${d} in the model, ${spec.shape[i]} in the spec`);
    });
  }
  return parsed.data;
}
