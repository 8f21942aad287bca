CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"hash" text NOT NULL,
	"prefix" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_hash_is_sha256" CHECK ("api_keys"."hash" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE TABLE "daily_usage" (
	"day" date NOT NULL,
	"tenant_id" text NOT NULL,
	"variant" text NOT NULL,
	"requests" integer NOT NULL,
	"errors" integer NOT NULL,
	"sla_misses" integer NOT NULL,
	"degraded" integer NOT NULL,
	"escalated" integer NOT NULL,
	"cache_hits" integer NOT NULL,
	"tokens_in" integer NOT NULL,
	"tokens_out" integer NOT NULL,
	"total_ms" double precision NOT NULL,
	"cpu_ms" double precision NOT NULL,
	"energy_j" double precision NOT NULL,
	"cost" double precision NOT NULL,
	"price" double precision NOT NULL,
	"counterfactual_cost" double precision NOT NULL,
	CONSTRAINT "daily_usage_pkey" PRIMARY KEY("day","tenant_id","variant")
);
--> statement-breakpoint
CREATE TABLE "evaluations" (
	"id" serial PRIMARY KEY NOT NULL,
	"variant_id" integer NOT NULL,
	"suite" text NOT NULL,
	"perplexity" double precision,
	"quality" double precision,
	"tokens" integer NOT NULL,
	"details" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "requests" (
	"request_id" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"endpoint" text NOT NULL,
	"tenant_id" text NOT NULL,
	"key_id" text NOT NULL,
	"tier" text NOT NULL,
	"model" text NOT NULL,
	"variant" text,
	"status" smallint NOT NULL,
	"stream" boolean NOT NULL,
	"tokens_in" integer NOT NULL,
	"tokens_out" integer NOT NULL,
	"queue_ms" double precision,
	"ttft_ms" double precision,
	"total_ms" double precision NOT NULL,
	"cpu_ms" double precision,
	"energy_j" double precision,
	"energy_source" text DEFAULT 'estimate' NOT NULL,
	"cost" double precision,
	"price" double precision,
	"counterfactual_cost" double precision,
	"cache_hit" boolean NOT NULL,
	"degraded" boolean NOT NULL,
	"escalated" boolean DEFAULT false NOT NULL,
	"error_code" text,
	CONSTRAINT "requests_pkey" PRIMARY KEY("request_id","created_at")
);
--> statement-breakpoint
CREATE TABLE "routing_decisions" (
	"request_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"decision_id" text NOT NULL,
	"strategy" text NOT NULL,
	"quality_need" double precision NOT NULL,
	"sla" jsonb NOT NULL,
	"load" jsonb NOT NULL,
	"candidates" jsonb NOT NULL,
	"chosen" text,
	"reason" text NOT NULL,
	"fallback_chain" jsonb NOT NULL,
	"degraded" boolean NOT NULL,
	CONSTRAINT "routing_decisions_pkey" PRIMARY KEY("request_id","created_at")
);
--> statement-breakpoint
CREATE TABLE "tenants" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"tier" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"disabled_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "tiers" (
	"name" text PRIMARY KEY NOT NULL,
	"quality_floor" double precision NOT NULL,
	"ttft_sla_ms" double precision NOT NULL,
	"total_sla_ms" double precision NOT NULL,
	"price_per_1k_input" double precision NOT NULL,
	"price_per_1k_output" double precision NOT NULL,
	"allowed_variants" jsonb NOT NULL,
	"on_overload" text NOT NULL,
	"max_queue_wait_ms" double precision NOT NULL,
	"priority" integer NOT NULL,
	"strategy" text NOT NULL,
	"cascade_threshold" double precision NOT NULL,
	"requests_per_minute" integer NOT NULL,
	"tokens_per_minute" integer NOT NULL,
	"monthly_token_budget" integer NOT NULL,
	"max_output_tokens" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "variants" (
	"id" serial PRIMARY KEY NOT NULL,
	"family" text NOT NULL,
	"name" text NOT NULL,
	"version" text NOT NULL,
	"engine" text NOT NULL,
	"path" text NOT NULL,
	"file_sha256" text NOT NULL,
	"status" text NOT NULL,
	"canary_weight" double precision DEFAULT 0 NOT NULL,
	"measured_quality" double precision,
	"card" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "variants_status_known" CHECK ("variants"."status" in ('active', 'canary', 'retired')),
	CONSTRAINT "variants_canary_weight_share" CHECK ("variants"."canary_weight" >= 0 and "variants"."canary_weight" <= 1),
	CONSTRAINT "variants_file_sha256_hex" CHECK ("variants"."file_sha256" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "evaluations" ADD CONSTRAINT "evaluations_variant_id_variants_id_fk" FOREIGN KEY ("variant_id") REFERENCES "public"."variants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenants" ADD CONSTRAINT "tenants_tier_tiers_name_fk" FOREIGN KEY ("tier") REFERENCES "public"."tiers"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_hash_idx" ON "api_keys" USING btree ("hash");--> statement-breakpoint
CREATE INDEX "api_keys_tenant_idx" ON "api_keys" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "evaluations_variant_idx" ON "evaluations" USING btree ("variant_id","created_at");--> statement-breakpoint
CREATE INDEX "requests_tenant_created_idx" ON "requests" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "variants_name_version_idx" ON "variants" USING btree ("name","version");--> statement-breakpoint
CREATE INDEX "variants_family_idx" ON "variants" USING btree ("family");