/** Decoding model bytes for the quantizer: the shared codec, with its failures as a typed error. */
import { decodeModel as decodeOnnx, type OnnxModel } from '@edge-fleet/onnx-codec';
import { OnnxQuantError } from '../errors.js';

/**
 * Decodes ONNX model bytes. Throws `OnnxQuantError('invalid_onnx')` when the bytes are not a
 * protobuf `ModelProto` with a graph; validity checks beyond parsing are in `checkModel`.
 */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  try {
    return decodeOnnx(bytes);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new OnnxQuantError('invalid_onnx', `not a valid ONNX model: ${why}`, { cause: err });
  }
}
