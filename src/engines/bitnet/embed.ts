/**
 * A text embedding from a BitNet model's own token-embedding table: the mean of the rows of the
 * text's tokens, scaled to unit length, so the dot product of two embeddings is their cosine
 * similarity. It needs no forward pass (microseconds on the main thread for a question) and sees
 * only which tokens a text has, not their order or what the model makes of them: a bag of tokens,
 * for the response cache's semantic mode, not a sentence encoder.
 */
import { dequantize } from "../../../kernels/index.js";
import { readGGUF } from "../../formats/gguf/index.js";
import { tokenizerFromGGUF } from "../tokenizer/index.js";
import { readBitNetConfig } from "./config.js";
import { ggufVocab } from "./engine.js";
import { loadBitNetWeights } from "./weights.js";

export interface TextEmbedder {
  readonly dimensions: number;
  /** unit length; all zeros for a text without tokens */
  embed(text: string): Float32Array;
}

export async function loadTokenEmbedder(path: string): Promise<TextEmbedder> {
  const file = await readGGUF(path);
  const config = readBitNetConfig(file);
  const tokenizer = tokenizerFromGGUF(ggufVocab(file));
  // [vocab x embedding] as fp32, whatever the file packs it as (~4 MB for the nano models)
  const table = dequantize(loadBitNetWeights(file, config).tokenEmbedding);
  const dim = config.embedding;
  return {
    dimensions: dim,
    embed(text) {
      const out = new Float32Array(dim);
      const ids = tokenizer.encode(text);
      for (const id of ids) {
        const row = id * dim;
        for (let j = 0; j < dim; j++) out[j]! += table[row + j]!;
      }
      let norm = 0;
      for (let j = 0; j < dim; j++) norm += out[j]! * out[j]!;
      if (norm > 0) {
        const scale = 1 / Math.sqrt(norm);
        for (let j = 0; j < dim; j++) out[j]! *= scale;
      }
      return out;
    },
  };
}
