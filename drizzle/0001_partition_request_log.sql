-- Custom migration (written by hand, not generated): the request log is partitioned by day.
-- drizzle-kit has no way to declare PARTITION BY, and Postgres cannot turn an existing table into a
-- partitioned one, so the tables 0000 created from src/db/schema.ts are rebuilt here as partitioned
-- tables with the same columns (LIKE copies them, their defaults and NOT NULLs, so the columns stay
-- defined in the schema alone; drizzle-kit's later ALTER TABLE ... ADD COLUMN works on the parents).
-- The keys and indexes are re-made with the names drizzle-kit gave them so later diffs still match.
-- Partitions (requests_pYYYYMMDD, routing_decisions_pYYYYMMDD) are created ahead by the recorder, and
-- retention drops whole partitions: no DELETE, no bloat, no vacuum.
ALTER TABLE "requests" RENAME TO "requests_unpartitioned";--> statement-breakpoint
CREATE TABLE "requests" (LIKE "requests_unpartitioned" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED) PARTITION BY RANGE ("created_at");--> statement-breakpoint
DROP TABLE "requests_unpartitioned";--> statement-breakpoint
ALTER TABLE "requests" ADD CONSTRAINT "requests_pkey" PRIMARY KEY ("request_id","created_at");--> statement-breakpoint
CREATE INDEX "requests_tenant_created_idx" ON "requests" USING btree ("tenant_id","created_at");--> statement-breakpoint
ALTER TABLE "routing_decisions" RENAME TO "routing_decisions_unpartitioned";--> statement-breakpoint
CREATE TABLE "routing_decisions" (LIKE "routing_decisions_unpartitioned" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED) PARTITION BY RANGE ("created_at");--> statement-breakpoint
DROP TABLE "routing_decisions_unpartitioned";--> statement-breakpoint
ALTER TABLE "routing_decisions" ADD CONSTRAINT "routing_decisions_pkey" PRIMARY KEY ("request_id","created_at");
