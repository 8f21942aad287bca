/** The fixed prompts of bench:concurrency, shared by tritgate's streams and llama.cpp's. */
/** Fixed prompts, one per stream (cycled past 16), all of similar length. */
export const PROMPTS: readonly string[] = [
  "The little robot walked into the kitchen and saw",
  "Once upon a time, in a village by the sea, there",
  "The weather report for tomorrow says that the rain",
  "She opened the old wooden box and found inside a",
  "The train left the station at noon, carrying two",
  "In the garden behind the school, the children found",
  "The recipe calls for three eggs, a cup of flour and",
  "Every morning the baker opens his shop and puts the",
  "The captain looked at the map and told the crew to",
  "A small dog followed the girl all the way home from",
  "The museum opened a new room full of paintings of",
  "After the storm, the fishermen went down to the beach",
  "The teacher asked the class to write a story about",
  "On the top shelf of the library there was a book on",
  "The city council met on Monday to talk about the new",
  "When the lights went out, everyone in the house was",
];

export function promptFor(stream: number): string {
  const base = PROMPTS[stream % PROMPTS.length] as string;
  return stream < PROMPTS.length ? base : `${base} (${stream})`;
}
