export {
  type Attributes,
  type AttributeValue,
  type BuilderOptions,
  type Dim,
  type ElemType,
  elemTypeId,
  type GraphValue,
  type NodeOptions,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  OnnxGraphBuilder,
} from "./builder.js";
