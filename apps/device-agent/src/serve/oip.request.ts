import { type OipDatatype, type OipInferRequest, OipInferRequestSchema } from '@edge-fleet/shared';
import type { ModelSignature, ServedTensor, TensorSignature } from '../engine/served-tensor.js';
import { BadRequest } from './serve.errors.js';
import { byteSize, elements, fromBinary, fromJson, isOipDatatype, oipDatatypeOf } from './tensor.codec.js';

/** A validated inference request: the session's feeds and what the answer should contain. */
export interface DecodedRequest {
  id: string | undefined;
  inputs: Record<string, ServedTensor>;
  /** Outputs to return, in order, and whether each goes as binary data; null = every output, as JSON unless asked. */
  outputs: { name: string; binary: boolean }[] | null;
  binaryByDefault: boolean;
}

/**
 * Splits the body (binary tensor extension: JSON header of `headerLength` bytes, then the binary
 * tensors in input order), parses and checks every input against the model's declared inputs.
 */
export function decodeInferRequest(body: Buffer, headerLength: number | null, signature: ModelSignature): DecodedRequest {
  if (headerLength !== null && headerLength > body.length)
    throw new BadRequest(`Inference-Header-Content-Length is ${headerLength} but the body has only ${body.length} bytes`);
  const json = headerLength === null ? body : body.subarray(0, headerLength);
  let raw: unknown;
  try {
    raw = JSON.parse(json.toString('utf8'));
  } catch (err) {
    throw new BadRequest(`malformed JSON in the request body: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = OipInferRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BadRequest(
      `invalid inference request: ${issue === undefined ? 'unknown' : `${issue.path.join('.') || 'body'}: ${issue.message}`}`,
    );
  }
  const request = parsed.data;
  const binary = headerLength === null ? Buffer.alloc(0) : body.subarray(headerLength);
  return {
    id: request.id,
    inputs: decodeInputs(request, binary, signature),
    outputs: selectOutputs(request, signature),
    binaryByDefault: request.parameters?.binary_data_output ?? false,
  };
}

function decodeInputs(request: OipInferRequest, binary: Buffer, signature: ModelSignature): Record<string, ServedTensor> {
  const declared = new Map(signature.inputs.map((s) => [s.name, s]));
  const inputs: Record<string, ServedTensor> = {};
  let offset = 0;
  for (const input of request.inputs) {
    const spec = declared.get(input.name);
    if (spec === undefined) throw new BadRequest(`unknown input "${input.name}"; the model's inputs are ${list(signature.inputs)}`);
    if (Object.hasOwn(inputs, input.name)) throw new BadRequest(`input "${input.name}" is given twice`);
    const datatype = checkDatatype(input.name, input.datatype, spec);
    checkShape(input.name, input.shape, spec);
    const size = input.parameters?.binary_data_size;
    if (size !== undefined) {
      if (offset + size > binary.length)
        throw new BadRequest(
          `input ${input.name}: binary_data_size ${size} runs past the ${binary.length} bytes of binary data after the JSON header`,
        );
      inputs[input.name] = fromBinary(input.name, datatype, input.shape, binary.subarray(offset, offset + size));
      offset += size;
    } else {
      if (input.data === undefined) throw new BadRequest(`input ${input.name}: neither data nor binary_data_size is given`);
      inputs[input.name] = fromJson(input.name, datatype, input.shape, input.data);
    }
  }
  if (offset !== binary.length)
    throw new BadRequest(`the body carries ${binary.length} bytes of binary data but the inputs' binary_data_size add up to ${offset}`);
  const missing = signature.inputs.filter((s) => !Object.hasOwn(inputs, s.name));
  if (missing.length > 0) throw new BadRequest(`missing input ${list(missing)}`);
  return inputs;
}

function checkDatatype(name: string, datatype: string, spec: TensorSignature): OipDatatype {
  if (!isOipDatatype(datatype)) throw new BadRequest(`input ${name}: datatype ${datatype} is not supported`);
  const wanted = oipDatatypeOf(spec.type);
  if (datatype !== wanted) throw new BadRequest(`input ${name}: datatype ${datatype} does not match the model's ${wanted ?? spec.type}`);
  return datatype;
}

function checkShape(name: string, shape: readonly number[], spec: TensorSignature): void {
  const fits = shape.length === spec.shape.length && shape.every((d, i) => spec.shape[i] === -1 || spec.shape[i] === d);
  if (!fits) throw new BadRequest(`input ${name}: shape [${shape.join(', ')}] does not match the model's [${spec.shape.join(', ')}]`);
  // a bound on what one request may ask the server to allocate, before any byte is decoded
  if (byteSize('FP64', elements(shape)) > 2 ** 31) throw new BadRequest(`input ${name}: shape [${shape.join(', ')}] is too large`);
}

function selectOutputs(request: OipInferRequest, signature: ModelSignature): DecodedRequest['outputs'] {
  if (request.outputs === undefined || request.outputs.length === 0) return null;
  const names = new Set(signature.outputs.map((o) => o.name));
  const byDefault = request.parameters?.binary_data_output ?? false;
  return request.outputs.map((o) => {
    if (!names.has(o.name)) throw new BadRequest(`unknown output "${o.name}"; the model's outputs are ${list(signature.outputs)}`);
    return { name: o.name, binary: o.parameters?.binary_data ?? byDefault };
  });
}

function list(specs: readonly TensorSignature[]): string {
  return specs.map((s) => `${s.name} (${oipDatatypeOf(s.type) ?? s.type} [${s.shape.join(', ')}])`).join(', ');
}
