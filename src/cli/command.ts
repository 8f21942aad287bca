export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Returns the exit code. */
  run(args: readonly string[]): Promise<number>;
}
