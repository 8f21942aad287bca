/** Typed access to GGUF metadata, with errors that name the file and the key. */
import type { GGUFFile } from "./reader.js";
import { GGUFError } from "./reader.js";

function value(file: GGUFFile, key: string) {
  return file.metadata.get(key);
}

export function metaString(file: GGUFFile, key: string): string | undefined {
  const v = value(file, key);
  if (v === undefined) return undefined;
  if (v.type !== "string") throw new GGUFError(file.path, `metadata ${key} should be a string, is ${v.type}`);
  return v.value;
}

export function metaNumber(file: GGUFFile, key: string): number | undefined {
  const v = value(file, key);
  if (v === undefined) return undefined;
  if (v.type === "u64" || v.type === "i64") return Number(v.value);
  if (v.type === "array" || v.type === "string" || v.type === "bool") {
    throw new GGUFError(file.path, `metadata ${key} should be a number, is ${v.type}`);
  }
  return Number(v.value);
}

export function metaBool(file: GGUFFile, key: string): boolean | undefined {
  const v = value(file, key);
  if (v === undefined) return undefined;
  if (v.type !== "bool") throw new GGUFError(file.path, `metadata ${key} should be a bool, is ${v.type}`);
  return v.value;
}

export function metaStrings(file: GGUFFile, key: string): readonly string[] | undefined {
  const v = value(file, key);
  if (v === undefined) return undefined;
  if (v.type !== "array" || v.itemType !== "string") {
    throw new GGUFError(file.path, `metadata ${key} should be an array of strings`);
  }
  return v.value;
}

export function metaNumbers(file: GGUFFile, key: string): readonly number[] | undefined {
  const v = value(file, key);
  if (v === undefined) return undefined;
  if (v.type !== "array" || v.itemType === "string" || v.itemType === "bool") {
    throw new GGUFError(file.path, `metadata ${key} should be an array of numbers`);
  }
  return v.value.map((x) => Number(x));
}

export function requireNumber(file: GGUFFile, key: string): number {
  const v = metaNumber(file, key);
  if (v === undefined) throw new GGUFError(file.path, `is missing metadata ${key}`);
  return v;
}
