/** Writes a file under a temporary name and renames it into place, so readers never see half a file. */
import { rename, rm, writeFile } from "node:fs/promises";

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const partial = `${path}.partial-${process.pid}`;
  try {
    await writeFile(partial, data);
    await rename(partial, path);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
}
