// Full-precision decoder LLMs exported to ONNX (Hugging Face Optimum convention) on onnxruntime-node.

export {
  defaultThreads,
  loadOnnxEngine,
  OnnxDecoder,
  OnnxEngine,
  type OnnxEngineOptions,
  onnxSessionOptions,
} from "./engine.js";
export {
  type DecoderSignature,
  type IndexType,
  type KvType,
  type LayerNames,
  readDecoderSignature,
  type ValueMetadata,
} from "./signature.js";
