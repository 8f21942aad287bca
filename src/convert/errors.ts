import { FileError } from "../util/file-error.js";

/** Conversion failures name the file (or directory) and the problem, like the format readers. */
export class ConvertError extends FileError {}
