/**
 * card.json, the model card beside a variant's model file: what the file is, how it was made, and
 * what was measured on it. `tritgate family` writes it, `tritgate eval` records its measurements in
 * it, and the gateway reads its quality and rates. This schema is the one description all three use;
 * fields it does not name are kept as they are (a card may carry more than tritgate reads).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";

export const MODEL_CARD_FILE = "card.json";

const count = () => z.number().int().min(0);
const positive = () => z.number().positive();
const fraction = () => z.number().min(0).max(1);

/**
 * Perplexity on a held-out split, and agreement with the family's reference variant. (Keys are in the
 * order the writers write them: a parsed card is written back with the schema's key order.)
 */
const cardQualitySchema = z.looseObject({
  split: z.string(),
  /** positions predicted */
  tokens: count(),
  perplexity: positive(),
  /** the reference variant's name */
  reference: z.string().optional(),
  referencePerplexity: positive().optional(),
  /** ppl_reference / ppl: the router's quality score (it caps it at 1) */
  quality: positive().optional(),
  top1Agreement: fraction().optional(),
  top1Accuracy: fraction(),
});

/** One model file's card: the card itself, or an entry of its `alternatives` (another packing of the same weights). */
export const cardEntrySchema = z.looseObject({
  name: z.string().min(1),
  family: z.string().min(1),
  engine: z.enum(["bitnet", "onnx"]),
  /** e.g. "GGUF TQ2_0", "ONNX float32" */
  format: z.string(),
  /** the model file's name, beside the card */
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  parameters: count(),
  linearParameters: count(),
  bytesOnDisk: count(),
  linearBytes: count(),
  // measured (by `tritgate family` or `tritgate eval`) on `machine`
  quality: cardQualitySchema.optional(),
  prefillTokensPerSecond: positive().optional(),
  decodeTokensPerSecond: positive().optional(),
  /** resident set of the measuring process with the model loaded */
  rssBytes: count().optional(),
  machine: z.looseObject({ cpu: z.string(), threads: z.number().int().positive() }).optional(),
  /** ISO 8601 */
  measuredAt: z.string().optional(),
  /** how the file was made: the recipe, the run, the commands */
  produced: z.record(z.string(), z.unknown()).optional(),
});

export const modelCardSchema = cardEntrySchema.extend({
  alternatives: z.array(cardEntrySchema).optional(),
});

export type CardEntry = z.output<typeof cardEntrySchema>;
export type ModelCard = z.output<typeof modelCardSchema>;

/** An entry with every measurement and its provenance present: what `tritgate family` writes. */
export const measuredCardEntrySchema = cardEntrySchema
  .required({
    prefillTokensPerSecond: true,
    decodeTokensPerSecond: true,
    rssBytes: true,
    machine: true,
    measuredAt: true,
    produced: true,
  })
  .extend({ quality: cardQualitySchema.required() });

export const measuredModelCardSchema = measuredCardEntrySchema.extend({
  alternatives: z.array(measuredCardEntrySchema).optional(),
});

export type MeasuredCardEntry = z.output<typeof measuredCardEntrySchema>;
export type MeasuredModelCard = z.output<typeof measuredModelCardSchema>;

/** Where the card of `modelPath` is: card.json in the model's folder. */
export function modelCardPath(modelPath: string): string {
  return join(dirname(modelPath), MODEL_CARD_FILE);
}

/** `text` read as a card (by `schema`, default any card); throws naming `path` and the first fields that do not fit. */
export function parseModelCard(text: string, path: string): ModelCard;
export function parseModelCard<S extends z.ZodType>(text: string, path: string, schema: S): z.output<S>;
export function parseModelCard(text: string, path: string, schema: z.ZodType = modelCardSchema): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const fields = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join(".") || "(the card)"}: ${i.message}`)
      .join("; ");
    throw new Error(`${path}: not a model card (${fields})`);
  }
  return parsed.data;
}

/** The card at `path`, or undefined when there is none; throws naming the file when it is unreadable. */
export function readModelCardFile(path: string): ModelCard | undefined {
  if (!existsSync(path)) return undefined;
  return parseModelCard(readFileSync(path, "utf8"), path);
}

/** The card as it is written: two-space JSON and a final newline. */
export function formatModelCard(card: ModelCard): string {
  return `${JSON.stringify(card, null, 2)}\n`;
}
