/** An error about a file: the message names the file, then the problem ("model.gguf: truncated …"). */
export class FileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = new.target.name;
  }
}
