/** The database layer's surface: open (and migrate), the recorder, partitions and the schema. */
export type { RecordEntry } from "./entry.js";
export { type MigrationStatus, migrationStatus, migrationsFolder } from "./migrate.js";
export { type Database, type Driver, driverFor, type OpenOptions, type Orm, openDatabase } from "./open.js";
export { dropExpiredPartitions, ensurePartitions, listPartitions, type Partition } from "./partitions.js";
export { DatabaseRecorder, type RecorderOptions, type RecorderStats } from "./recorder.js";
export { type Recording, type RecordingOptions, startRecording } from "./recording.js";
export {
  createReports,
  type DayRange,
  DEFAULT_DECISION_DAYS,
  DEFAULT_DECISIONS,
  MAX_DECISION_DAYS,
  MAX_DECISIONS,
  parseDayRange,
  type RecentDecision,
  type Reports,
  type UsageFigures,
  type UsageGroupBy,
  type UsageReport,
} from "./reports/index.js";
export * as schema from "./schema.js";
export * from "./tenancy/index.js";
export { type WriteMethod, type WriteResult, writeBatch } from "./write.js";
