/**
 * The one call a server needs: open the database (migrated) and start its recorder, and one `close`
 * that drains the recorder before closing the database (for SIGTERM).
 */
import { join } from "node:path";
import { type Database, openDatabase } from "./open.js";
import { DatabaseRecorder, type RecorderOptions } from "./recorder.js";

export interface RecordingOptions extends Omit<RecorderOptions, "database" | "journalDir"> {
  /** `DATABASE_URL` by default; unset or empty → PGlite in `<stateDir>/pglite`. */
  readonly url?: string | undefined;
  readonly stateDir: string;
  /** default `<stateDir>/journal` */
  readonly journalDir?: string;
}

export interface Recording {
  readonly database: Database;
  readonly recorder: DatabaseRecorder;
  /** Drains the recorder (to the database, else the journal), then closes the database. */
  close(): Promise<void>;
}

export async function startRecording(options: RecordingOptions): Promise<Recording> {
  const { url, stateDir, journalDir, ...recorderOptions } = options;
  const database = await openDatabase({ url, stateDir });
  let recorder: DatabaseRecorder;
  try {
    recorder = await DatabaseRecorder.start({
      ...recorderOptions,
      database,
      journalDir: journalDir ?? join(stateDir, "journal"),
    });
  } catch (e) {
    await database.close();
    throw e;
  }
  return {
    database,
    recorder,
    async close() {
      await recorder.close();
      await database.close();
    },
  };
}
