export { ProtoWriter, WireType } from './protobuf-writer.js';
export {
  ELEM_TYPE,
  ELEM_SIZE,
  checkRawTensor,
  dtypeFromElemType,
  floatTensor,
  int64Tensor,
  nodeOf,
  valueInfoOf,
  type Dim,
  type NodeSpec,
  type ValueInfoSpec,
} from './onnx-types.js';
export {
  DEFAULT_IR_VERSION,
  DEFAULT_OPSETS,
  encodeAttribute,
  encodeModel,
  encodeNode,
  encodeOpset,
  encodeTensor,
  encodeValueInfo,
  modelOf,
  type ModelOptions,
} from './onnx-writer.js';
export { readModelSignature, type ModelSignature, type ValueSignature } from './onnx-reader.js';
export { GraphBuilder, attr, type OpOptions } from './graph-builder.js';
export { glorotUniform, mulberry32, uniform, type Random } from './prng.js';
export type { GeneratedModel } from './models/generated-model.js';
export { buildMlpClassifier, type MlpClassifierOptions } from './models/mlp-classifier.factory.js';
export { buildConvNet, type ConvNetOptions } from './models/conv-net.factory.js';
export { buildMultiInput, type MultiInputOptions } from './models/multi-input.factory.js';
export { buildRecurrent, type RecurrentOptions } from './models/recurrent.factory.js';
export { MODEL_CATALOG, writeModels, type WrittenModel } from './model-catalog.js';
export { REFERENCE_BENCHMARK, referenceBenchmarkModel } from './reference-benchmark.js';
