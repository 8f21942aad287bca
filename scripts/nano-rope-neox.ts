/**
 * One-off migration of the committed nano family to NeoX RoPE (run: `npx tsx scripts/nano-rope-neox.ts`).
 *
 * The family was trained while the trainer paired RoPE values as (2i, 2i+1); the engine now pairs
 * i with i + D/2, as llama.cpp runs every bitnet architecture. Reordering each head's Q/K rows is
 * an exact transform (pairsToNeoXRowSource), so instead of retraining:
 *   - the three GGUFs go through `tritgate convert --rope-pairs-to-neox` (packed rows move intact);
 *   - the fp32 ONNX twin is rebuilt: its initializers are read back into the trainer's flat
 *     parameters, exported as the family exports a consecutive-pair run (trainedRope "pairs") to an
 *     F32 GGUF, and converted to ONNX with the current (NeoX) exporter;
 *   - each card's sha256 follows its new file.
 * Only files whose sha256 is the consecutive-pair original are touched, so running it twice is a
 * no-op. Perplexities are then re-measured with `tritgate eval`, and `--readmes` rewrites each
 * variant's README.md from its re-measured card (models/nano/README.md has the sequence).
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import onnxProto from "onnx-proto";
import { convertRopePairsToNeoX } from "../src/convert/index.js";
import { convertToOnnx } from "../src/convert/to-onnx.js";
import {
  formatModelCard,
  type MeasuredModelCard,
  MODEL_CARD_FILE,
  measuredModelCardSchema,
  parseModelCard,
} from "../src/formats/card/index.js";
import { exportGguf, LAYER_TENSOR_GGUF } from "../src/train/export.js";
import { writeVariantReadmes } from "../src/train/family.js";
import { flatLayout } from "../src/train/params.js";
import type { NanoConfig } from "../src/train/reference/model.js";

const NANO = join(import.meta.dirname, "..", "models", "nano");

/** sha256 of the committed consecutive-pair files (their cards before the migration). */
const PAIRED = {
  "nano-b158/model.gguf": "da7dd395dc82319aec6d06546d1d21747edb1d4644051d1d18e24a4fe72c9f42",
  "nano-b158/model-i2_s.gguf": "d786ad478482837ea276954ca1fef6e508ff2f3ba5baa4df37ff979195a27e5e",
  "nano-b158-ptq/model.gguf": "9c10ae0eb99012eefc97908b8f224529c5f482c60bf68708e63091974f167b7d",
  "nano-fp32/model.onnx": "38fd5487ee9110d9801553f9e6c603ec1c866e0627ebbb0e0ce5bc6f2257cd4e",
} as const;

async function sha256(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

/** The part of a card's `produced` (which the card schema leaves open) that `tritgate family` writes and this script reads. */
interface Produced {
  recipe: { model: NanoConfig };
  trainedRope?: string;
  ropeRows?: string;
  commands: string[];
}

async function readCard(variant: string): Promise<MeasuredModelCard> {
  const path = join(NANO, variant, MODEL_CARD_FILE);
  return parseModelCard(await readFile(path, "utf8"), path, measuredModelCardSchema);
}

const COMMAND = "npx tsx scripts/nano-rope-neox.ts";

function recordMigration(produced: Record<string, unknown>): void {
  const p = produced as unknown as Produced;
  p.trainedRope = "pairs";
  p.ropeRows = "Q/K rows reordered from consecutive-pair to NeoX RoPE after training (exact; not retrained)";
  if (!p.commands.includes(COMMAND)) p.commands.push(COMMAND);
}

/** The card follows its migrated file: sha256, and how it was made. */
async function updateCard(variant: string): Promise<void> {
  const card = await readCard(variant);
  card.sha256 = await sha256(join(NANO, variant, card.file));
  recordMigration(card.produced);
  for (const a of card.alternatives ?? []) {
    a.sha256 = await sha256(join(NANO, variant, a.file));
    recordMigration(a.produced);
  }
  await writeFile(join(NANO, variant, MODEL_CARD_FILE), formatModelCard(card));
}

/** The ONNX twin's initializers back in the trainer's flat layout (linear weights are stored transposed). */
function paramsFromOnnx(bytes: Uint8Array, c: NanoConfig): Float32Array {
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  const initializers = new Map<string, Float32Array>();
  for (const t of model.graph?.initializer ?? []) {
    const raw = t.rawData;
    if (!t.name || !raw || raw.length === 0) continue;
    initializers.set(t.name, new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
  }
  const layout = flatLayout(c);
  const params = new Float32Array(layout.reduce((n, t) => n + t.length, 0));
  for (const t of layout) {
    const [, layer, field] = t.name.split(".") as [string, string | undefined, string | undefined];
    const name =
      t.name === "embedding"
        ? "token_embd.weight"
        : t.name === "finalNorm"
          ? "output_norm.weight"
          : `blk.${layer}.${LAYER_TENSOR_GGUF[field ?? ""]}.weight`;
    const values = initializers.get(name);
    if (!values || values.length !== t.length) throw new Error(`model.onnx: no ${t.length}-value initializer ${name}`);
    if (t.kind !== "linear") {
      params.set(values, t.offset);
      continue;
    }
    const cols = field === "wDown" ? c.feedForward : c.embedding;
    const rows = t.length / cols;
    for (let r = 0; r < rows; r++)
      for (let k = 0; k < cols; k++) params[t.offset + r * cols + k] = values[k * rows + r]!;
  }
  return params;
}

async function migrateGguf(file: keyof typeof PAIRED): Promise<boolean> {
  const path = join(NANO, file);
  if ((await sha256(path)) !== PAIRED[file]) return false;
  const temporary = `${path}.neox-${process.pid}`;
  await convertRopePairsToNeoX(path, temporary);
  await rename(temporary, path);
  return true;
}

async function migrateOnnx(): Promise<boolean> {
  const path = join(NANO, "nano-fp32/model.onnx");
  if ((await sha256(path)) !== PAIRED["nano-fp32/model.onnx"]) return false;
  const card = await readCard("nano-fp32");
  const c = (card.produced as unknown as Produced).recipe.model;
  const work = await mkdtemp(join(tmpdir(), "tritgate-nano-neox-"));
  try {
    const gguf = join(work, "model-f32.gguf");
    await exportGguf(paramsFromOnnx(await readFile(path), c), c, gguf, {
      linear: "F32",
      embedding: "F32",
      trainedRope: "pairs",
      tokenizerDir: join(NANO, "data"),
      name: "nano-fp32",
    });
    await convertToOnnx(gguf, path, { tokenizerFiles: false });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return true;
}

if (process.argv.includes("--readmes")) {
  await writeVariantReadmes(NANO, "nano");
  console.log("wrote the variants' README.md from their cards");
  process.exit(0);
}
const done: string[] = [];
for (const file of ["nano-b158/model.gguf", "nano-b158/model-i2_s.gguf", "nano-b158-ptq/model.gguf"] as const) {
  if (await migrateGguf(file)) done.push(file);
}
if (await migrateOnnx()) done.push("nano-fp32/model.onnx");
for (const variant of ["nano-b158", "nano-b158-ptq", "nano-fp32"]) await updateCard(variant);
console.log(done.length === 0 ? "nothing to do: no consecutive-pair originals left" : `migrated ${done.join(", ")}`);
