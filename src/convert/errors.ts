/** Conversion failures name the file (or directory) and the problem, like the format readers. */
export class ConvertError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = "ConvertError";
  }
}
