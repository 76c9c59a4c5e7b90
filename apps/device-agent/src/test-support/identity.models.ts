import { encodeNode, encodeOpset, ProtoWriter } from '@edge-fleet/onnx-builder';
import { DataType } from '@edge-fleet/onnx-quant';

/** ONNX TensorProto.DataType codes of every numeric type the inference API serves. */
export const ONNX_TYPE_CODES = {
  FP32: DataType.FLOAT,
  UINT8: DataType.UINT8,
  INT8: DataType.INT8,
  UINT16: DataType.UINT16,
  INT16: DataType.INT16,
  INT32: DataType.INT32,
  INT64: DataType.INT64,
  BOOL: DataType.BOOL,
  FP16: DataType.FLOAT16,
  FP64: DataType.DOUBLE,
  UINT32: DataType.UINT32,
  UINT64: DataType.UINT64,
} as const;

function valueInfo(name: string, elemType: number, shape: readonly (number | string)[]): Uint8Array {
  const dims = new ProtoWriter();
  for (const d of shape) dims.message(1, (dim) => (typeof d === 'number' ? dim.varint(1, d) : dim.string(2, d)));
  const tensorType = new ProtoWriter().varint(1, elemType).bytes(2, dims.finish());
  return new ProtoWriter().string(1, name).bytes(2, new ProtoWriter().bytes(1, tensorType.finish()).finish()).finish();
}

/**
 * `y = Identity(x)` with x of the given element type and shape [N, 3]: the answer must be the input,
 * bit for bit, which checks a datatype's whole way through the API (the builder's graph writer knows
 * only the workload's dtypes, hence the hand-written value infos).
 */
export function buildIdentityModel(elemType: number): Uint8Array {
  const graph = new ProtoWriter()
    .bytes(1, encodeNode({ opType: 'Identity', inputs: ['x'], outputs: ['y'], name: 'id' }))
    .string(2, 'identity')
    .bytes(11, valueInfo('x', elemType, ['N', 3]))
    .bytes(12, valueInfo('y', elemType, ['N', 3]));
  return new ProtoWriter()
    .varint(1, 8)
    .string(2, 'edge-fleet')
    .bytes(7, graph.finish())
    .bytes(8, encodeOpset({ domain: '', version: 17 }))
    .finish();
}
