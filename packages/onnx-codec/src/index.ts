export {
  decodeModel,
  decodeModelProto,
  encodeAttribute,
  encodeGraph,
  encodeModel,
  encodeModelProto,
  encodeNode,
  encodeOpset,
  encodeTensor,
  encodeValueInfo,
} from './onnx-codec.js';
export * from './onnx-model.js';
export {
  attributeToProto,
  graphFromProto,
  graphToProto,
  modelFromProto,
  modelToProto,
  nodeToProto,
  opsetToProto,
  tensorFromProto,
  tensorToProto,
  valueInfoToProto,
} from './proto-mapping.js';
