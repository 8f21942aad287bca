/**
 * The safetensors files of a Hugging Face checkpoint directory: one model.safetensors, or the
 * shards model.safetensors.index.json lists. Tensors are looked up by name across shards and
 * read one at a time.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { openSafetensors, type SafetensorsFile, type SafetensorsTensorInfo } from "../formats/safetensors/index.js";
import { ConvertError } from "./errors.js";
import { readJson } from "./hf-config.js";

export interface Checkpoint {
  readonly dir: string;
  readonly files: readonly SafetensorsFile[];
  readonly names: readonly string[];
  has(name: string): boolean;
  info(name: string): SafetensorsTensorInfo & { readonly file: string };
  readFloat32(name: string): Float32Array;
  /** Total bytes of tensor data across the shards. */
  readonly bytes: number;
  close(): void;
}

function shardNames(dir: string): string[] {
  const indexPath = join(dir, "model.safetensors.index.json");
  if (existsSync(indexPath)) {
    const index = readJson(indexPath);
    const map = typeof index === "object" && index !== null ? (index as Record<string, unknown>).weight_map : undefined;
    if (typeof map !== "object" || map === null) throw new ConvertError(indexPath, "has no weight_map");
    const files = new Set<string>();
    for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
      if (typeof file !== "string") throw new ConvertError(indexPath, `weight_map entry ${name} is not a file name`);
      files.add(file);
    }
    if (files.size === 0) throw new ConvertError(indexPath, "weight_map is empty");
    return [...files].sort();
  }
  if (existsSync(join(dir, "model.safetensors"))) return ["model.safetensors"];
  let listing: string[];
  try {
    listing = readdirSync(dir);
  } catch (e) {
    throw new ConvertError(dir, `cannot read the checkpoint directory: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const found = listing.filter((f) => f.endsWith(".safetensors")).sort();
  if (found.length === 0) {
    throw new ConvertError(dir, "has no model.safetensors, model.safetensors.index.json or other .safetensors file");
  }
  return found;
}

export function openCheckpoint(dir: string): Checkpoint {
  const files: SafetensorsFile[] = [];
  const where = new Map<string, SafetensorsFile>();
  try {
    for (const shard of shardNames(dir)) {
      const file = openSafetensors(join(dir, shard));
      files.push(file);
      for (const t of file.tensors) {
        const other = where.get(t.name);
        if (other !== undefined) throw new ConvertError(file.path, `tensor ${t.name} is also in ${other.path}`);
        where.set(t.name, file);
      }
    }
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
  const locate = (name: string): SafetensorsFile => {
    const file = where.get(name);
    if (file === undefined) throw new ConvertError(dir, `the checkpoint has no tensor ${name}`);
    return file;
  };
  return {
    dir,
    files,
    names: [...where.keys()],
    has: (name) => where.has(name),
    info(name) {
      const file = locate(name);
      return { ...file.info(name), file: file.path };
    },
    readFloat32: (name) => locate(name).readFloat32(name),
    bytes: files.reduce((sum, f) => sum + f.tensors.reduce((s, t) => s + (t.end - t.begin), 0), 0),
    close() {
      for (const f of files) f.close();
    },
  };
}
