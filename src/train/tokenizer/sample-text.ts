// A small built-in English text for the tokenizer tests (written for this project; no third-party text).

export const SAMPLE_TEXTS: readonly string[] = [
  `The gateway routes each request to the model that fits it best. When the queue is long, the smaller model answers
first; when the question is hard, the larger one takes over. Nobody waits longer than the service level allows.`,
  `In the morning the harbour was quiet. The boats rested against the pier, the gulls walked along the rails, and the
old ferryman counted the ropes he would mend before noon. "There is always another knot," he said, smiling.`,
  `Numbers matter too: 3 apples, 12 oranges, 2024 requests per second, 99.9% uptime, and a budget of $1,250.75 for the
quarter. Version 1.2.3 shipped on 2025-06-30 at 14:05 UTC.`,
  `Tokenizers split text into pieces. Common words become single tokens; rare words are spelled out from smaller
pieces, and any byte sequence at all can still be written, because every byte has a token of its own.`,
  `She asked, "Isn't it late?" He replied, "It's never too late to learn." They'd planned it; we're ready; you'll see,
I'm sure. Don't worry—it'll work.`,
  `Café, naïve, résumé, façade, Ångström and São Paulo keep their accents. Emoji like 🙂 and 🚀 take four bytes each.`,
  `def add(a, b):\n    return a + b\n\nfor i in range(10):\n    print(add(i, i * 2))\n`,
  `The river carried the snow of the mountains down to the sea. Along its banks the farmers planted wheat and barley,
and in the autumn the harvest was carried to the market in the town, where the traders weighed it and paid in silver.`,
  `Once there was a small robot that wanted to learn to read. Every night it opened a book, read one page, and wrote
down each new word it found. After a year, the robot knew ten thousand words and told stories to the children.`,
];

/** The sample texts repeated with small variations, so that merges have counts worth learning. */
export function sampleCorpus(): string[] {
  const out: string[] = [];
  for (let round = 0; round < 8; round++) {
    for (const t of SAMPLE_TEXTS) out.push(round % 2 === 0 ? t : t.replaceAll("the", "a").replaceAll(".", "!"));
  }
  return out;
}
