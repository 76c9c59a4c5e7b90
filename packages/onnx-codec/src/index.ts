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
export { graphFromProto, modelFromProto, tensorFromProto } from './from-proto.js';
export { attributeToProto, graphToProto, modelToProto, nodeToProto, opsetToProto, tensorToProto, valueInfoToProto } from './to-proto.js';
