CREATE TABLE "variant_transitions" (
	"id" serial PRIMARY KEY NOT NULL,
	"variant" text NOT NULL,
	"kind" text NOT NULL,
	"version" text NOT NULL,
	"stable_version" text,
	"automatic" boolean NOT NULL,
	"reason" text NOT NULL,
	"canary_weight" double precision NOT NULL,
	"figures" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "requests" ADD COLUMN "variant_version" text;--> statement-breakpoint
CREATE INDEX "variant_transitions_variant_idx" ON "variant_transitions" USING btree ("variant","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "variants_one_active_idx" ON "variants" USING btree ("name") WHERE "variants"."status" = 'active';--> statement-breakpoint
CREATE UNIQUE INDEX "variants_one_canary_idx" ON "variants" USING btree ("name") WHERE "variants"."status" = 'canary';