/** card.json: a variant's model card (what the file is, how it was made, what was measured on it). */
export {
  type CardEntry,
  cardEntrySchema,
  formatModelCard,
  type MeasuredCardEntry,
  type MeasuredModelCard,
  MODEL_CARD_FILE,
  type ModelCard,
  measuredCardEntrySchema,
  measuredModelCardSchema,
  modelCardPath,
  modelCardSchema,
  parseModelCard,
  readModelCardFile,
} from "./card.js";
