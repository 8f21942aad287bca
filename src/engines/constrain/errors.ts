/** A schema the constraint compiler refuses: `path` names the offending part (an OpenAI `param`). */
export class SchemaError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = "SchemaError";
  }
}
