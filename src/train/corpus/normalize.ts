// Light, deterministic text clean-up applied to every corpus document before splitting and training.

// Transcript stage directions in the State of the Union texts: "(Applause.)", "[Laughter]", "(Applause, the
// audience rising.)", and the editor's "[missing text]". Only bracketed notes that start with one of these words
// are removed; the whitespace before the note goes with it.
const STAGE_DIRECTION = /[^\S\n]*[([](?:applause|laughter|cheers|boos|missing text)\b[^)\]\n]{0,60}[)\]]/gi;

/**
 * Unicode NFC; CRLF/CR → LF; control characters (other than tab/newline) and the BOM removed; runs of horizontal
 * whitespace (including no-break spaces) collapsed to one space; spaces trimmed at line ends; more than one blank
 * line collapsed to a single paragraph break; leading/trailing whitespace trimmed.
 */
export function normalizeText(text: string): string {
  return (
    text
      .normalize("NFC")
      .replace(/\r\n?/g, "\n")
      // C0/C1 controls except \t and \n, the BOM and zero-width characters
      .replace(/(?![\t\n])[\p{Cc}\ufeff\u200b\u2060]/gu, "")
      .replace(/[^\S\n]+/g, " ")
      .replace(/ ?\n ?/g, "\n")
      .replace(/\n{3,}/g, "\n\n")
      .trim()
  );
}

/** Removes transcript stage directions ("(Applause.)", "[Laughter]") and tidies the punctuation they leave behind. */
export function dropStageDirections(text: string): string {
  return (
    text
      .replace(STAGE_DIRECTION, "")
      // "President—(applause)—no" → "President—no"
      .replace(/—{2,}/g, "—")
  );
}
