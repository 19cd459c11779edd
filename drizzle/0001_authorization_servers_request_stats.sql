CREATE TABLE "authorization_servers" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"introspection_url" text NOT NULL,
	"client_id" text NOT NULL,
	"client_secret" text NOT NULL,
	"token_type_hint" text,
	"timeout_ms" integer DEFAULT 2000 NOT NULL,
	"max_cache_seconds" integer DEFAULT 300 NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "request_stats" (
	"minute" timestamp with time zone NOT NULL,
	"api_id" text NOT NULL,
	"plan_id" text,
	"application_id" text,
	"requests" integer NOT NULL,
	"client_errors" integer NOT NULL,
	"server_errors" integer NOT NULL,
	"latency_buckets" integer[] NOT NULL,
	CONSTRAINT "request_stats_key" UNIQUE NULLS NOT DISTINCT("minute","api_id","plan_id","application_id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "authorization_servers_name_key" ON "authorization_servers" USING btree ("name");--> statement-breakpoint
CREATE INDEX "request_stats_api_minute_idx" ON "request_stats" USING btree ("api_id","minute");--> statement-breakpoint
CREATE INDEX "request_stats_application_minute_idx" ON "request_stats" USING btree ("application_id","minute");